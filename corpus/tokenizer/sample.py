"""The training sample: curated text of the three buckets in equal shares of characters.

HyperCLOVA X trains on Korean, multilingual and code data in equal thirds, so the vocabulary must
serve all three: each bucket contributes the same number of characters, ``min(cap, smallest
bucket)``. A document is ranked by a seeded hash of its stable id (BLAKE2b, not Python's salted
``hash``); a bucket's sample is the documents of smallest rank whose characters first reach the
budget. The sample is spread over every shard, independent of file order, shard layout and worker
count, identical on every run with the same seed, and overshoots the budget by less than one
document.

One streaming pass over the curated Parquet (local or any Beam filesystem URL: ``gs://``,
``s3://``; ``corpus.storage``), one record batch at a time. Per bucket a bounded reservoir keeps
the smallest-rank documents whose characters reach the cap: a document whose rank lies above the
reservoir's largest once it is full is dropped without its text becoming a Python string, and an
admitted one evicts the largest-rank documents it makes redundant. Admitted texts go to a spool
file on local disk (compacted when half of it is evicted text), so memory holds only
(rank, characters, offset) per sampled document, whatever the size of the corpus: the spool needs
local disk of about twice the sample. Characters of the other documents are counted by Arrow
(``utf8_length``), not in Python. The cap applies before the smallest bucket is known, so each
reservoir holds up to the cap; ``texts()`` then takes every bucket's prefix up to the common budget.

At corpus scale the pass reads every byte of the text column once; ``max_shards`` reads only the
first shards of each bucket: curate hash-partitions documents into shards by a hash of their id
(``corpus.parquet.shard_of``), so any set of shards is a uniform sample of the bucket.
"""
from __future__ import annotations

import heapq
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus import storage
from corpus.document import BUCKETS
from corpus.hashing import hash64
from corpus.parquet import DECODE_BATCH_ROWS

# Characters per bucket in the production sample: ~1.7 GB of UTF-8 over the three buckets (Korean
# is ~3 bytes a character), the order of magnitude byte-level BPE vocabularies of ~100k are trained
# on (vocabulary statistics saturate long before the corpus size; a larger sample mostly costs
# trainer memory and pre-tokenization time).
DEFAULT_CHARS_PER_BUCKET = 300_000_000
# A spool is rewritten once evicted text is more than half of it (and at least this much).
_COMPACT_MIN_BYTES = 64 << 20


@dataclass
class BucketSample:
    files: int = 0
    available_docs: int = 0
    available_chars: int = 0
    docs: int = 0
    chars: int = 0


class Reservoir:
    """The documents of smallest rank whose characters reach ``cap`` (all of them when the
    documents offered have fewer), their texts spooled to ``spool``. ``add`` is called once per
    document; memory is one small tuple per held document, at most ``cap`` plus one document's
    characters held."""

    def __init__(self, cap: int, spool: Path):
        self.cap = cap
        self._path = spool
        self._file = open(spool, "w+b")
        self._heap: list[tuple[int, int, int, int]] = []  # (-rank, chars, offset, bytes): largest rank on top
        self.chars = 0
        self._live_bytes = self._dead_bytes = 0

    def admits(self, rank: int) -> bool:
        """Whether a document of this rank would be kept (call before materializing its text)."""
        return self.chars < self.cap or rank < -self._heap[0][0]

    def add(self, rank: int, text: str) -> None:
        if not self.admits(rank):
            return
        data = text.encode("utf-8")
        offset = self._file.seek(0, os.SEEK_END)
        self._file.write(data)
        heapq.heappush(self._heap, (-rank, len(text), offset, len(data)))
        self.chars += len(text)
        self._live_bytes += len(data)
        while self.chars - self._heap[0][1] >= self.cap:  # the largest-rank document is redundant
            _, chars, _, size = heapq.heappop(self._heap)
            self.chars -= chars
            self._live_bytes -= size
            self._dead_bytes += size
        if self._dead_bytes > max(self._live_bytes, _COMPACT_MIN_BYTES):
            self._compact()

    def _compact(self) -> None:
        fresh = open(self._path.with_suffix(".compact"), "w+b")
        entries = []
        for neg_rank, chars, offset, size in self._heap:
            self._file.seek(offset)
            entries.append((neg_rank, chars, fresh.tell(), size))
            fresh.write(self._file.read(size))
        self._file.close()
        os.replace(fresh.name, self._path)
        self._file, self._heap = fresh, entries  # same order: still a heap
        self._dead_bytes = 0

    def __len__(self) -> int:
        return len(self._heap)

    def in_rank_order(self) -> Iterator[tuple[int, str]]:
        """(characters, text) of every held document, smallest rank first."""
        self._file.flush()
        with open(self._path, "rb") as reader:
            for _, chars, offset, size in sorted(self._heap, key=lambda e: (-e[0], e[2])):
                reader.seek(offset)
                yield chars, reader.read(size).decode("utf-8")

    def close(self) -> None:
        self._file.close()


@dataclass
class BalancedSample:
    """Which documents to train on; ``texts()`` streams them (bucket order, then rank order).
    ``curated`` is a local directory or a URL of a Beam filesystem. Use as a context manager
    (or call ``close``) to delete the spool files."""

    curated: str | Path
    chars_per_bucket: int = DEFAULT_CHARS_PER_BUCKET
    max_shards: int | None = None  # per bucket; None: all
    seed: int = 0
    buckets: dict[str, BucketSample] = field(default_factory=dict)
    budget: int = field(init=False, default=0)  # characters taken from each bucket
    _reservoirs: dict[str, Reservoir] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_shards is not None and self.max_shards < 1:
            raise ValueError(f"max_shards must be >= 1, got {self.max_shards}")
        if self.chars_per_bucket < 1:
            raise ValueError(f"chars_per_bucket must be >= 1, got {self.chars_per_bucket}")
        self._spool = tempfile.TemporaryDirectory(prefix="korpus-tokenizer-sample-")
        for bucket in BUCKETS:
            self._reservoirs[bucket] = self._fill(bucket)
        present = [s.available_chars for s in self.buckets.values() if s.available_chars]
        if not present:
            raise ValueError(f"{self.curated}: no curated text in any of {', '.join(BUCKETS)}/*.parquet")
        self.budget = min(self.chars_per_bucket, min(present))

    def _fill(self, bucket: str) -> Reservoir:
        files = self._files(bucket)
        stats = self.buckets[bucket] = BucketSample(files=len(files))
        reservoir = Reservoir(self.chars_per_bucket, Path(self._spool.name) / f"{bucket}.spool")
        seed = self.seed.to_bytes(8, "big")
        for path in files:
            with storage.open_read(path) as handle:
                for batch in pq.ParquetFile(handle).iter_batches(batch_size=DECODE_BATCH_ROWS, columns=["id", "text"]):
                    texts = batch.column("text")
                    lengths = pc.fill_null(pc.utf8_length(texts), 0)
                    stats.available_chars += pc.sum(lengths).as_py() or 0
                    stats.available_docs += len(texts) - (pc.sum(pc.equal(lengths, 0)).as_py() or 0)
                    for row, (doc_id, chars) in enumerate(zip(batch.column("id").to_pylist(), lengths.to_pylist())):
                        if chars and reservoir.admits(rank := _rank(seed, doc_id)):
                            reservoir.add(rank, texts[row].as_py())
        return reservoir

    def texts(self) -> Iterator[str]:
        for bucket, stats in self.buckets.items():
            stats.docs = stats.chars = 0
            for chars, text in self._reservoirs[bucket].in_rank_order():
                if stats.chars >= self.budget:
                    break
                stats.docs += 1
                stats.chars += chars
                yield text

    def report(self) -> dict[str, object]:
        """What was sampled, for the tokenizer's config (call after ``texts()`` was consumed)."""
        return {"chars_per_bucket_cap": self.chars_per_bucket, "budget_chars_per_bucket": self.budget,
                "max_shards": self.max_shards, "seed": self.seed,
                "buckets": {b: vars(s) for b, s in self.buckets.items()}}

    def _files(self, bucket: str) -> list[str]:
        directory = storage.join(self.curated, bucket)
        names = [n for n in storage.list_files(directory)
                 if "/" not in n and n.endswith(".parquet") and not n.startswith((".", "_"))]
        return [storage.join(directory, n) for n in names][: self.max_shards]

    def close(self) -> None:
        for reservoir in self._reservoirs.values():
            reservoir.close()
        self._spool.cleanup()

    def __enter__(self) -> "BalancedSample":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rank(seed: bytes, doc_id: str) -> int:
    """A document's place in the sample order: BLAKE2b of the seed's 8 bytes then the id."""
    return hash64(seed + doc_id.encode("utf-8"))
