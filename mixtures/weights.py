"""A document's weight inside its bucket: knowledge weight x source weight x cluster-size weight.

The weight only divides a bucket's copies among its documents (``mixtures/balance.py``: expected
copies are proportional to it, up to ``balance.max_doc_copies``); how much of the corpus a bucket
is, is set by ``balance.ratios``. So a source weight of 2 gives that source's documents twice the
copies of the bucket's other documents, and the bucket keeps its share.

- **knowledge**: ``transforms.knowledge.upsampling_weight`` with the mapping curate recorded.
- **source** (``balance.source_weights``): the first entry whose ``bucket`` ("" = any) is the
  document's and whose regex ``pattern`` matches its ``source`` (``re.search``, as the knowledge
  priors match); no match = 1. The index of that entry is the document's *source group*, whose
  planned and achieved shares the manifest reports.
- **cluster size** (``balance.cluster_weights``): MinHash keeps one document per near-duplicate
  cluster and records the cluster's size on it (curated column ``cluster_size``; absent = 1). The
  table maps the smallest cluster size of a row to a weight, as FineWeb-2 "re-hydrates" its
  deduplicated data; ``fineweb2`` is FineWeb-2's table (off by default).

Weights are carried in fixed point (``WEIGHT_ONE``), so the global sums of the balance plan are
integers and do not depend on merge order.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Literal

from corpus.config import ConfigError
from corpus.document import BUCKETS
from mixtures.records import TokenizedDoc
from transforms.knowledge import UpsamplingConfig, upsampling_weight

WEIGHT_ONE = 1 << 16
OTHER = -1  # the source group of documents no ``source_weights`` entry matches

# FineWeb-2's re-hydration weights by MinHash cluster size (Penedo et al. 2025, arXiv:2506.20920, "FineWeb2: One
# Pipeline to Scale Them All"; README of github.com/huggingface/fineweb-2, "Deduplication"):
# no duplicate 1x; clusters of 2 or 3 documents N x; 4 -> 3x; 5..99 -> 5x; 100..999 -> 8x;
# >= 1000 -> 1x ("the assumption here is that very large clusters are lower quality"). Keys are the
# smallest cluster size of each row, exactly the ``upsampling_weights`` dict of their example.
FINEWEB2_CLUSTER_WEIGHTS: dict[int, float] = {1: 1.0, 2: 2.0, 3: 3.0, 5: 5.0, 100: 8.0, 1000: 1.0}
CLUSTER_PRESETS: dict[str, dict[int, float]] = {"fineweb2": FINEWEB2_CLUSTER_WEIGHTS}
ClusterWeights = Literal["fineweb2"] | dict[int, float]


@dataclass
class SourceWeight:
    """Documents of ``bucket`` ("" = every bucket) whose ``source`` matches ``pattern`` (a regex,
    ``re.search``) get ``weight`` times the copies of their bucket's unmatched documents."""

    pattern: str = ""
    weight: float = 1.0
    bucket: str = ""


def cluster_table(setting: ClusterWeights) -> dict[int, float]:
    """The cluster-size table a setting names: a preset's, or the mapping itself ({} = off)."""
    return dict(CLUSTER_PRESETS[setting]) if isinstance(setting, str) else dict(setting)


def validate_weights(source_weights: list[SourceWeight], cluster_weights: ClusterWeights) -> None:
    """Config checks; errors name the key (``balance.source_weights[1].weight``)."""
    for index, entry in enumerate(source_weights):
        key = f"balance.source_weights[{index}]"
        if not entry.weight > 0:
            raise ConfigError(f"{key}.weight: must be > 0, got {entry.weight}")
        if entry.bucket and entry.bucket not in BUCKETS:
            raise ConfigError(f"{key}.bucket: must be one of {BUCKETS} or \"\" (every bucket), got {entry.bucket!r}")
        try:
            re.compile(entry.pattern)
        except re.error as exc:
            raise ConfigError(f"{key}.pattern: not a valid regex: {exc}") from exc
    for size, weight in cluster_table(cluster_weights).items():
        if size < 1 or not weight > 0:
            raise ConfigError(f"balance.cluster_weights: sizes must be >= 1 and weights > 0, got {size}: {weight}")


class DocWeigher:
    """``doc -> (source group, weight in fixed point)``; the same on every worker."""

    def __init__(self, upsampling: UpsamplingConfig, source_weights: list[SourceWeight],
                 cluster_weights: ClusterWeights):
        validate_weights(source_weights, cluster_weights)
        self._upsampling = upsampling
        self._rules = [(e.bucket, re.compile(e.pattern), e.weight) for e in source_weights]
        table = sorted(cluster_table(cluster_weights).items())
        self._sizes, self._cluster = [s for s, _ in table], [w for _, w in table]

    def group(self, doc: TokenizedDoc) -> tuple[int, float]:
        """The first matching ``source_weights`` entry's index and weight (``OTHER``, 1 if none)."""
        for index, (bucket, pattern, weight) in enumerate(self._rules):
            if (not bucket or bucket == doc.bucket) and pattern.search(doc.source):
                return index, weight
        return OTHER, 1.0

    def cluster_weight(self, cluster_size: int) -> float:
        """The weight of the table row with the largest smallest-size <= ``cluster_size`` (1 below the first)."""
        row = bisect.bisect_right(self._sizes, cluster_size) - 1
        return self._cluster[row] if row >= 0 else 1.0

    def __call__(self, doc: TokenizedDoc) -> tuple[int, int]:
        group, source = self.group(doc)
        weight = upsampling_weight(doc.knowledge, self._upsampling) * source * self.cluster_weight(doc.cluster_size)
        return group, max(1, int(round(weight * WEIGHT_ONE)))  # >= 1: a positive weight never rounds to no copies
