"""PII scrubbing: Presidio pattern recognizers plus Korean recognizers, offline.

    from pii import scrub
    result = scrub("연락처 010-1234-5678", lang="ko", bucket="korean")
    result.text      # '연락처 <|pii:phone|>'
    result.findings  # (Finding(type='phone', start=4, end=17, ...),)  offsets into the input
    result.spans     # (PiiSpan(start=4, length=13, type='phone'),)      offsets into result.text

The scrubber (and Presidio behind it) is imported on first use, so ``pii.placeholders`` stays a
light import for the tokenizer.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pii.scrubber import Finding, PiiSpan, Scrubber, ScrubResult, scrub

__all__ = ["Finding", "PiiSpan", "ScrubResult", "Scrubber", "scrub"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("pii.scrubber"), name)
    raise AttributeError(f"module 'pii' has no attribute {name!r}")
