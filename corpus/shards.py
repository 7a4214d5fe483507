"""Packed training shards: the Arrow IPC writer and the memory-mapped reader the trainer uses.

File format (DESIGN.md contract), one row per training sequence of exactly ``seq_len`` tokens:

    tokens       fixed_size_list<uint32>[seq_len]
    seg_starts   list<int32>    offset in the row where each segment (piece) starts; the first is 0
    seg_buckets  list<uint8>    0 korean, 1 multilingual, 2 code (corpus.document.BUCKET_IDS)
    seg_doc_ids  list<string>   the source document id of each segment
    seg_fim      list<uint8>    0 none, 1 PSM, 2 SPM

A segment is one document (or FIM chunk) followed by its ``<|endoftext|>``; a segment cut by a row
boundary continues at offset 0 of the next row of the same pack group, so ``seg_starts[0] == 0``
always and the trainer can build a block-diagonal attention mask from ``seg_starts`` alone.

Stable API (the trainer depends on it; see also ``corpus.manifest``):

    write_shard(path, rows, seq_len) -> ShardFile          # rows: iterable of PackedRow
    reader = StageReader(corpus_dir, "stage1_4k")          # verifies the manifest (sha256, rows)
    len(reader), reader.seq_len, reader.stage              # global rows across the stage's files
    reader.tokens(i)        -> np.ndarray[uint32] (seq_len,)   zero-copy view into the mapped file
    reader.row(i)           -> ShardRow (tokens + segment arrays)
    reader.tokens_batch(ix) -> np.ndarray[uint32] (len(ix), seq_len)  one copy, for a batch

Rows are addressed by a global index: the stage's files in manifest order, rows in file order.
Files are opened with ``pyarrow.memory_map`` + ``ipc.open_file`` on first use, so random access
touches only the pages of the rows read; nothing reads a whole file into memory.

Where files live: ``write_shard``, ``sha256_file`` and ``corpus.manifest`` take a local path or a
URL of any Beam filesystem (``corpus.storage``), so that ``beam_pipeline.py build`` can write OUT
on an object store. ``StageReader`` memory-maps, so it reads local copies only.
"""
from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from corpus.storage import DigestingWriter, create_atomic, open_read, relative

FIM_NONE, FIM_PSM, FIM_SPM = 0, 1, 2
FIM_MODES: dict[int, str] = {FIM_NONE: "none", FIM_PSM: "psm", FIM_SPM: "spm"}
# seg_buckets value of a row's padding tail (filled with <|fim_pad|>, masked from the loss).
PAD_BUCKET = 255

# Rows per Arrow record batch: small enough that a writer holds little, large enough that
# per-batch metadata stays negligible. Readers never depend on it.
ROWS_PER_BATCH = 256


def shard_schema(seq_len: int) -> pa.Schema:
    return pa.schema([
        pa.field("tokens", pa.list_(pa.uint32(), seq_len), nullable=False),
        pa.field("seg_starts", pa.list_(pa.int32()), nullable=False),
        pa.field("seg_buckets", pa.list_(pa.uint8()), nullable=False),
        pa.field("seg_doc_ids", pa.list_(pa.string()), nullable=False),
        pa.field("seg_fim", pa.list_(pa.uint8()), nullable=False),
    ])


@dataclass(frozen=True)
class PackedRow:
    """One training sequence as the writer takes it (``tokens`` has exactly ``seq_len`` ids)."""

    tokens: np.ndarray
    seg_starts: tuple[int, ...]
    seg_buckets: tuple[int, ...]
    seg_doc_ids: tuple[str, ...]
    seg_fim: tuple[int, ...]


@dataclass(frozen=True)
class ShardRow:
    """One training sequence as the reader returns it; ``tokens`` may be a view of the mapped file."""

    tokens: np.ndarray
    seg_starts: np.ndarray
    seg_buckets: np.ndarray
    seg_doc_ids: list[str]
    seg_fim: np.ndarray


@dataclass(frozen=True)
class ShardFile:
    """What the manifest records about one written file (``path`` relative to the corpus dir)."""

    path: str
    sha256: str
    rows: int
    bytes: int


class ShardError(ValueError):
    """A row or file violates the shard contract."""


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open_read(path) as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _batch(rows: Sequence[PackedRow], schema: pa.Schema, seq_len: int) -> pa.RecordBatch:
    for row in rows:
        if row.tokens.shape != (seq_len,):
            raise ShardError(f"row has {row.tokens.shape} tokens, expected ({seq_len},)")
        n = len(row.seg_starts)
        if n == 0 or row.seg_starts[0] != 0 or not (
            n == len(row.seg_buckets) == len(row.seg_doc_ids) == len(row.seg_fim)
        ):
            raise ShardError(f"row segments are inconsistent (doc ids {row.seg_doc_ids[:3]})")
    flat = pa.array(np.concatenate([r.tokens for r in rows]).astype(np.uint32, copy=False), pa.uint32())
    columns = [
        pa.FixedSizeListArray.from_arrays(flat, seq_len),
        pa.array([r.seg_starts for r in rows], schema.field("seg_starts").type),
        pa.array([r.seg_buckets for r in rows], schema.field("seg_buckets").type),
        pa.array([r.seg_doc_ids for r in rows], schema.field("seg_doc_ids").type),
        pa.array([r.seg_fim for r in rows], schema.field("seg_fim").type),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def write_shard(path: str | Path, rows: Iterable[PackedRow], seq_len: int, relative_to: str | Path | None = None) -> ShardFile:
    """Write ``rows`` (in the given order) to an Arrow IPC file at ``path`` (local or URL),
    atomically (``create_atomic``). Returns its manifest entry, sha256 and size taken from the bytes
    written; ``path`` in it is relative to ``relative_to`` if given."""
    schema = shard_schema(seq_len)
    count = 0
    with create_atomic(path) as raw:
        sink = DigestingWriter(raw)
        with ipc.new_file(sink, schema) as writer:
            pending: list[PackedRow] = []
            for row in rows:
                pending.append(row)
                if len(pending) == ROWS_PER_BATCH:
                    writer.write_batch(_batch(pending, schema, seq_len))
                    count += len(pending)
                    pending = []
            if pending:
                writer.write_batch(_batch(pending, schema, seq_len))
                count += len(pending)
    name = relative(path, relative_to) if relative_to is not None else str(path)
    return ShardFile(path=name, sha256=sink.digest.hexdigest(), rows=count, bytes=sink.size)


class _MappedFile:
    """One shard file, memory-mapped; per-batch numpy views are built on first access."""

    def __init__(self, path: Path, seq_len: int):
        self._source = pa.memory_map(str(path), "r")
        self._reader = ipc.open_file(self._source)
        if self._reader.schema != shard_schema(seq_len):
            raise ShardError(f"{path}: schema {self._reader.schema} does not match seq_len {seq_len}")
        self._seq_len = seq_len
        self._batch_starts: list[int] = []
        total = 0
        for k in range(self._reader.num_record_batches):
            self._batch_starts.append(total)
            total += self._reader.get_batch(k).num_rows
        self.rows = total
        self._views: dict[int, tuple[pa.RecordBatch, np.ndarray]] = {}

    def _locate(self, row: int) -> tuple[pa.RecordBatch, np.ndarray, int]:
        k = bisect.bisect_right(self._batch_starts, row) - 1
        cached = self._views.get(k)
        if cached is None:
            batch = self._reader.get_batch(k)
            tokens = batch.column(0).flatten().to_numpy(zero_copy_only=True).reshape(-1, self._seq_len)
            cached = self._views[k] = (batch, tokens)
        return cached[0], cached[1], row - self._batch_starts[k]

    def tokens(self, row: int) -> np.ndarray:
        _, tokens, i = self._locate(row)
        return tokens[i]

    def row(self, row: int) -> ShardRow:
        batch, tokens, i = self._locate(row)
        return ShardRow(
            tokens=tokens[i],
            seg_starts=batch.column(1)[i].values.to_numpy(zero_copy_only=False),
            seg_buckets=batch.column(2)[i].values.to_numpy(zero_copy_only=False),
            seg_doc_ids=batch.column(3)[i].values.to_pylist(),
            seg_fim=batch.column(4)[i].values.to_numpy(zero_copy_only=False),
        )


class StageReader:
    """Random access by global row index to one stage of a built corpus (see module docstring).

    ``verify=True`` checks every file's sha256 and row count against ``manifest.json`` before the
    first read (one sequential pass over the stage); ``verify=False`` checks only row counts."""

    def __init__(self, corpus_dir: str | Path, stage: str, verify: bool = True,
                 fetch: Callable[[str], Path] | None = None):
        """``fetch`` maps a file's manifest path to a local path it makes present first (the trainer's
        cache of an object-store corpus, ``trainer/corpus_cache.py``); default ``corpus_dir / path``."""
        from corpus.manifest import Manifest

        self.corpus_dir = Path(corpus_dir)
        manifest = Manifest.load(self.corpus_dir)
        info = manifest.stage(stage)
        if verify:
            manifest.verify(stages=[stage])
        self.stage = stage
        self.seq_len: int = info.seq_len
        self._names = [f.path for f in info.files]
        self._fetch = fetch or (lambda name: self.corpus_dir / name)
        self._starts: list[int] = []
        total = 0
        for f in info.files:
            self._starts.append(total)
            total += f.rows
        self._rows = total
        self._expected_rows = [f.rows for f in info.files]
        self._files: dict[int, _MappedFile] = {}

    def __len__(self) -> int:
        return self._rows

    def _file(self, index: int) -> tuple[_MappedFile, int]:
        if not 0 <= index < self._rows:
            raise IndexError(f"row {index} out of range for stage {self.stage} with {self._rows} rows")
        f = bisect.bisect_right(self._starts, index) - 1
        mapped = self._files.get(f)
        if mapped is None:
            path = self._fetch(self._names[f])
            mapped = _MappedFile(path, self.seq_len)
            if mapped.rows != self._expected_rows[f]:
                raise ShardError(f"{path}: {mapped.rows} rows, manifest says {self._expected_rows[f]}")
            self._files[f] = mapped
        return mapped, index - self._starts[f]

    def tokens(self, index: int) -> np.ndarray:
        mapped, i = self._file(index)
        return mapped.tokens(i)

    def row(self, index: int) -> ShardRow:
        mapped, i = self._file(index)
        return mapped.row(i)

    __getitem__ = row

    def tokens_batch(self, indices: Sequence[int]) -> np.ndarray:
        out = np.empty((len(indices), self.seq_len), dtype=np.uint32)
        for j, index in enumerate(indices):
            out[j] = self.tokens(int(index))
        return out
