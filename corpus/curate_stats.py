"""Curate's ``OUT/stats.json`` as the steps after curate (the build, the report) read it."""
from __future__ import annotations

from typing import Any


def step_stats(stats: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per curate step (``normalize``, ``pii``, ``knowledge``, ...) the stats it emitted: the ``steps``
    section, which stats.json files written before the rename call ``stages``."""
    stats = stats or {}
    return stats.get("steps", stats.get("stages", {}))
