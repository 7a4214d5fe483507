"""The training sample: curated text of the three buckets in equal shares of characters.

HyperCLOVA X trains on Korean, multilingual and code data in equal thirds, so the vocabulary must
serve all three: each bucket contributes the same number of characters, ``min(cap, smallest
bucket)``. A document is chosen by a hash of its stable id (BLAKE2b, not Python's salted
``hash``): the first pass adds each document's characters to one of 65,536 bins by the hash's top
16 bits, the second takes every document whose bin lies below the first bin at which the running
sum reaches the budget. The sample is spread over every shard, independent of file order and
worker count, identical on every run, and overshoots the budget by less than one bin.

Both passes stream the curated Parquet (``id`` and ``text`` columns) one record batch at a time.
At corpus scale, ``max_shards`` reads only the first shards of each bucket: curate hash-partitions
documents into shards by a hash of their id (``corpus.parquet.shard_of``), so any set of shards is
a uniform sample of the bucket and the two passes read that much less.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from corpus.document import BUCKETS
from corpus.hashing import hash64

# Characters per bucket in the production sample: ~1 GB of text over three buckets, the order of
# magnitude byte-level BPE vocabularies of ~100k are trained on (vocabulary statistics saturate
# long before the corpus size; a larger sample mostly costs trainer memory).
DEFAULT_CHARS_PER_BUCKET = 300_000_000
_BIN_BITS = 16
_BATCH_ROWS = 4096


@dataclass
class BucketSample:
    files: int = 0
    available_chars: int = 0
    docs: int = 0
    chars: int = 0


@dataclass
class BalancedSample:
    """Which documents to train on; ``texts()`` streams them (bucket order, then file order)."""

    curated: Path
    chars_per_bucket: int = DEFAULT_CHARS_PER_BUCKET
    max_shards: int | None = None  # per bucket; None: all
    buckets: dict[str, BucketSample] = field(default_factory=dict)
    budget: int = field(init=False, default=0)  # characters taken from each bucket
    _cutoffs: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_shards is not None and self.max_shards < 1:
            raise ValueError(f"max_shards must be >= 1, got {self.max_shards}")
        bins = {bucket: self._histogram(bucket) for bucket in BUCKETS}
        present = [s.available_chars for s in self.buckets.values() if s.available_chars]
        if not present:
            raise ValueError(f"{self.curated}: no curated text in any of {', '.join(BUCKETS)}/*.parquet")
        self.budget = min(self.chars_per_bucket, min(present))
        for bucket, counts in bins.items():
            total = 0
            for index, chars in enumerate(counts):
                total += chars
                if total >= self.budget:
                    break
            self._cutoffs[bucket] = index + 1  # bins [0, cutoff) are taken

    def _histogram(self, bucket: str) -> list[int]:
        counts = [0] * (1 << _BIN_BITS)
        files = self._files(bucket)
        stats = self.buckets[bucket] = BucketSample(files=len(files))
        for doc_id, text in _rows(files):
            counts[_bin(doc_id)] += len(text)
            stats.available_chars += len(text)
        return counts

    def texts(self) -> Iterator[str]:
        for bucket, stats in self.buckets.items():
            stats.docs = stats.chars = 0
            if not stats.available_chars:
                continue
            cutoff = self._cutoffs[bucket]
            for doc_id, text in _rows(self._files(bucket)):
                if _bin(doc_id) < cutoff:
                    stats.docs += 1
                    stats.chars += len(text)
                    yield text

    def report(self) -> dict[str, object]:
        """What was sampled, for the tokenizer's config (call after ``texts()`` was consumed)."""
        return {"chars_per_bucket_cap": self.chars_per_bucket, "budget_chars_per_bucket": self.budget,
                "max_shards": self.max_shards, "buckets": {b: vars(s) for b, s in self.buckets.items()}}

    def _files(self, bucket: str) -> list[Path]:
        return sorted((self.curated / bucket).glob("*.parquet"))[: self.max_shards]


def _rows(files: list[Path]) -> Iterator[tuple[str, str]]:
    """(id, text) of every row with text."""
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS, columns=["id", "text"]):
            for doc_id, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
                if text:
                    yield doc_id, text


def _bin(doc_id: str) -> int:
    return hash64(doc_id) >> (64 - _BIN_BITS)
