"""Packed training shards: the Arrow IPC writer and the memory-mapped reader the trainer uses.

File format (DESIGN.md contract), one row per training sequence of exactly ``seq_len`` tokens:

    tokens       fixed_size_list<uint32>[seq_len]
    seg_starts   list<int32>    offset in the row where each segment (piece) starts; the first is 0
    seg_buckets  list<uint8>    0 korean, 1 multilingual, 2 code (corpus.document.BUCKET_IDS), 255 padding
    seg_doc_ids  list<string>   the source document id of each segment
    seg_fim      list<uint8>    0 none, 1 PSM, 2 SPM

A segment is one document (or FIM chunk) followed by its ``<|endoftext|>``, whole inside its row
(best-fit packing, ``mixtures/pack.py``). Only a document longer than a row is cut: at row length,
every piece but the last filling a row of its own without ``<|endoftext|>``, all pieces under the
document's id. A row that is not full ends with one padding segment: ``seg_doc_ids`` "",
``seg_buckets`` ``PAD_BUCKET`` (255), ``seg_fim`` 0, every token ``<|fim_pad|>``; the trainer masks
it from the loss. ``seg_starts[0] == 0`` always, so the trainer can build a block-diagonal
attention mask from ``seg_starts`` alone.

Stable API (the trainer depends on it; see also ``corpus.manifest``):

    write_shard(path, rows, seq_len) -> ShardFile          # rows: iterable of PackedRow
    reader = PhaseReader(corpus_dir, "phase1_4k")          # verifies the manifest (sha256, rows)
    len(reader), reader.seq_len, reader.phase              # global rows across the phase's files
    reader.tokens(i)        -> np.ndarray[uint32] (seq_len,)   zero-copy view into the mapped file
    reader.row(i)           -> ShardRow (tokens + segment arrays)
    reader.tokens_batch(ix) -> np.ndarray[uint32] (len(ix), seq_len)  one copy, for a batch

Rows are addressed by a global index: the phase's files in manifest order, rows in file order.
Files are opened with ``pyarrow.memory_map`` + ``ipc.open_file`` on first use, so random access
touches only the pages of the rows read; nothing reads a whole file into memory.

Where files live: ``write_shard``, ``corpus.hashing.sha256_file`` and ``corpus.manifest`` take a local path or a
URL of any Beam filesystem (``corpus.storage``), so that ``beam_pipeline.py build`` can write OUT
on an object store. ``PhaseReader`` memory-maps, so it reads local copies only.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from corpus.manifest import Manifest, ShardFile
from corpus.storage import DigestingWriter, create_atomic, relative

FIM_NONE, FIM_PSM, FIM_SPM = 0, 1, 2
FIM_MODES: dict[int, str] = {FIM_NONE: "none", FIM_PSM: "psm", FIM_SPM: "spm"}
# seg_buckets value of a row's trailing padding segment (its tokens are all <|fim_pad|>); outside
# corpus.document.BUCKET_IDS, so no bucket statistic can count it as text.
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


class ShardError(ValueError):
    """A row or file violates the shard contract."""


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


def loss_mask(row: ShardRow, fim_pad_id: int | None) -> np.ndarray:
    """True where a token is a loss target: not in the row's padding segment, not ``<|fim_pad|>``
    (None: no such token). The one rule the bundled trainer and every export use."""
    mask = np.ones(len(row.tokens), dtype=bool) if fim_pad_id is None else row.tokens != fim_pad_id
    starts = [int(s) for s in row.seg_starts] + [len(row.tokens)]
    for k, bucket in enumerate(row.seg_buckets):
        if int(bucket) == PAD_BUCKET:
            mask[starts[k]:starts[k + 1]] = False
    return mask


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


class PhaseReader:
    """Random access by global row index to one phase of a built corpus (see module docstring).

    ``verify=True`` checks every file's sha256 and row count against ``manifest.json`` before the
    first read (one sequential pass over the phase); ``verify=False`` checks only row counts."""

    def __init__(self, corpus_dir: str | Path, phase: str, verify: bool = True,
                 fetch: Callable[[str], Path] | None = None):
        """``fetch`` maps a file's manifest path to a local path it makes present first (the trainer's
        cache of an object-store corpus, ``trainer/corpus_cache.py``); default ``corpus_dir / path``."""
        self.corpus_dir = Path(corpus_dir)
        manifest = Manifest.load(self.corpus_dir)
        info = manifest.phase(phase)
        if verify:
            manifest.verify(phases=[phase])
        self.phase = phase
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
            raise IndexError(f"row {index} out of range for phase {self.phase} with {self._rows} rows")
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
