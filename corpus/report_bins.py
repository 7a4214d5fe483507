"""``OUT/report_data.json``: its name and its bins, shared by the writer
(``transforms/report_samples.py``, in curate) and the reader (``corpus/report.py``).

Bins: lengths ``floor(10 * log10(chars))`` (10 per decade; -1 for an empty text), measured values
``floor(20 * log10(value))`` (values <= 0 are not plotted), knowledge ``floor(20 * score)`` clamped
to 0..19. ``bin_edges`` turns bin numbers back into edges.
"""
from __future__ import annotations

import math
from typing import Iterable

REPORT_DATA = "report_data.json"
BINS_PER_DECADE = {"length": 10, "measured": 20}
KNOWLEDGE_BINS = 20


def log_bin(value: float, kind: str) -> int:
    return math.floor(BINS_PER_DECADE[kind] * math.log10(value)) if value > 0 else -1


def bin_edges(bins: Iterable[int], kind: str) -> tuple[list[int], list[float]]:
    """Sorted bin numbers and their ``len + 1`` edges for a contiguous range covering ``bins``
    (the empty-text bin -1 of lengths starts at 0)."""
    lo, hi = min(bins), max(bins)
    numbers = list(range(lo, hi + 1))
    if kind == "knowledge":
        return numbers, [i / KNOWLEDGE_BINS for i in range(lo, hi + 2)]
    per_decade = BINS_PER_DECADE[kind]
    return numbers, [0.0 if i == -1 and kind == "length" else 10 ** (i / per_decade) for i in range(lo, hi + 2)]
