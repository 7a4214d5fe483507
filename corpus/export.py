"""``python -m corpus.export``: a built corpus in the formats other trainers read.

    python -m corpus.export --format megatron|olmo|hf --corpus OUT/corpus --output DIR

The corpus's shards hold training rows (``corpus.shards``): each row is a sequence of segments (a
document, or a chunk of a long one, ending with ``<|endoftext|>``) and possibly a padding tail
(``PAD_BUCKET``). Every format keeps the build's order, mixture, repeats and phases (one output
per context phase, e.g. ``phase1_4k``), and the document boundaries:

* ``megatron`` - Megatron-LM / NeMo indexed dataset, ``DIR/<phase>.bin`` + ``DIR/<phase>.idx``
  (the ``MMIDIDX`` format of ``megatron.core.datasets.indexed_dataset``, int32 tokens since the
  vocabulary exceeds uint16), one sequence and one document per segment; padding is dropped,
  since Megatron's GPTDataset packs sequences into samples itself.
* ``olmo`` - OLMo-core numpy token files, ``DIR/<phase>/part-NNNNN.npy``: the rows exactly as the
  bundled trainer sees them, flat uint32 (``np.memmap`` layout, no header), so
  ``NumpyFSLDataset(sequence_length=seq_len)`` yields our rows; ``part-NNNNN.label_mask.npy`` (bool,
  False on padding and ``<|fim_pad|>``) and ``part-NNNNN.csv.gz`` (``start,end,id,bucket`` per
  segment: the authoritative document boundaries OLMo-core reads instead of inferring them from EOS).
* ``hf`` - a ``datasets.DatasetDict`` saved with ``save_to_disk`` (one split per phase, one row per
  training row): ``input_ids``, ``labels`` (``-100`` where the bundled trainer masks the loss),
  ``position_ids`` restarting at every segment (the packed-sequence convention of HF's
  ``DataCollatorWithFlattening``), and the segment columns.

Every format gets ``DIR/export.json`` (the source manifest's sha256 and provenance, the tokenizer,
per phase the rows, segments and tokens written, and every output file's sha256) and, for megatron
and hf, ``<phase>.segments.parquet`` / the segment columns with each segment's document id, bucket
and FIM mode. ``DIR/_COMPLETE.json`` (``corpus.completion``) is written last.

Streaming and bounded memory: shards are read one at a time (each is checked against the
manifest's sha256 while it is read; an object-store shard is fetched whole, shards are bounded by
the build's ``max_shard_bytes``), outputs are written as they go, and the per-sequence index of a
Megatron file is spilled to a local temporary file, not held in memory. ``--corpus`` and
``--output`` may be object-store URLs (``corpus.storage``); the hf format is written to a local
temporary directory and then uploaded (``datasets`` writes only through fsspec).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import struct
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from corpus import storage
from corpus.completion import write_marker
from corpus.document import BUCKETS
from corpus.hashing import sha256_file
from corpus.manifest import MANIFEST_NAME, Manifest, ManifestError, PhaseManifest
from corpus.shards import FIM_MODES, PAD_BUCKET, ShardRow, loss_mask, shard_schema
from corpus.storage import DigestingWriter
from corpus.tokenizer.specials import ENDOFTEXT, FIM_PAD

FORMATS = ("megatron", "olmo", "hf")
EXPORT_FORMAT = "korpus.export/1"
IGNORE_INDEX = -100  # HF's label for "no loss"
# Megatron's index: header, version 1, dtype code (4 = int32), then counts and arrays (little endian).
MEGATRON_HEADER = b"MMIDIDX\x00\x00"
MEGATRON_INT32 = 4
_SPILL_CHUNK = 1 << 20  # index entries converted per step when writing a Megatron .idx


class ExportError(ValueError):
    """The corpus cannot be exported (missing or damaged shard, unwritable output)."""


@dataclass(frozen=True)
class Segment:
    """One segment of a row: ``row.tokens[start:end]``."""

    start: int
    end: int
    doc_id: str
    bucket: int
    fim: int


def segments(row: ShardRow) -> list[Segment]:
    """The row's document segments in order, padding excluded."""
    starts = [int(s) for s in row.seg_starts]
    ends = starts[1:] + [len(row.tokens)]
    return [Segment(a, b, row.seg_doc_ids[k], int(row.seg_buckets[k]), int(row.seg_fim[k]))
            for k, (a, b) in enumerate(zip(starts, ends)) if int(row.seg_buckets[k]) != PAD_BUCKET]


def position_ids(row: ShardRow) -> np.ndarray:
    """Positions restarting at 0 at every segment (each document is computed as if alone)."""
    starts = [int(s) for s in row.seg_starts]
    lengths = np.diff(starts + [len(row.tokens)])
    return np.arange(len(row.tokens), dtype=np.int32) - np.repeat(np.asarray(starts, dtype=np.int32), lengths)


def _verified_shard(root: str | Path, entry, seq_len: int) -> pa.ipc.RecordBatchFileReader:
    """The shard's Arrow reader, after checking its bytes against the manifest's sha256."""
    path = storage.join(root, entry.path)
    if not storage.exists(path):
        raise ExportError(f"missing shard {path}")
    if storage.is_url(path):
        with storage.open_read(path) as source:
            data = source.read()
        digest, buffer = hashlib.sha256(data).hexdigest(), pa.BufferReader(data)
    else:
        digest, buffer = sha256_file(path), pa.memory_map(str(path), "r")
    if digest != entry.sha256:
        raise ExportError(f"{path}: sha256 {digest[:12]}... does not match the manifest's {entry.sha256[:12]}...")
    reader = ipc.open_file(buffer)
    if reader.schema != shard_schema(seq_len):
        raise ExportError(f"{path}: not a shard of seq_len {seq_len}")
    return reader


def iter_shard_rows(reader: pa.ipc.RecordBatchFileReader, seq_len: int) -> Iterator[ShardRow]:
    for k in range(reader.num_record_batches):
        batch = reader.get_batch(k)
        tokens = batch.column(0).flatten().to_numpy(zero_copy_only=False).reshape(-1, seq_len)
        starts, buckets, doc_ids, fim = (batch.column(i).to_pylist() for i in range(1, 5))
        for i in range(batch.num_rows):
            yield ShardRow(tokens=tokens[i], seg_starts=np.asarray(starts[i], dtype=np.int32),
                           seg_buckets=np.asarray(buckets[i], dtype=np.uint8), seg_doc_ids=doc_ids[i],
                           seg_fim=np.asarray(fim[i], dtype=np.uint8))


def iter_phase(manifest: Manifest, phase: PhaseManifest) -> Iterator[tuple[int, Iterator[ShardRow]]]:
    """(file index, rows) per shard file of the phase, in manifest order (the training order)."""
    for index, entry in enumerate(phase.files):
        yield index, iter_shard_rows(_verified_shard(manifest.root, entry, phase.seq_len), phase.seq_len)


@dataclass
class PhaseStats:
    seq_len: int
    rows: int = 0
    segments: int = 0
    tokens: int = 0  # document tokens written (padding excluded)
    tokens_per_bucket: dict[str, int] = field(default_factory=lambda: {b: 0 for b in BUCKETS})

    def add(self, segment: Segment) -> None:
        self.segments += 1
        self.tokens += segment.end - segment.start
        self.tokens_per_bucket[BUCKETS[segment.bucket]] += segment.end - segment.start


class Output:
    """Files of one export: written through ``corpus.storage``, each hashed as it is written."""

    def __init__(self, root: str | Path):
        self.root = str(root)
        self.files: dict[str, dict[str, Any]] = {}

    @contextmanager
    def create(self, name: str) -> Iterator[DigestingWriter]:
        """A new file ``name`` under the root, atomically; its sha256 and size are recorded once it
        is complete."""
        with storage.create_atomic(storage.join(self.root, name)) as raw:
            sink = DigestingWriter(raw)
            yield sink
        self.files[name] = {"sha256": sink.digest.hexdigest(), "bytes": sink.size}

    def upload(self, local: Path, name: str) -> None:
        with open(local, "rb") as source, self.create(name) as sink:
            shutil.copyfileobj(source, sink, 1 << 22)


class _SegmentTable:
    """``<phase>.segments.parquet``: document id, bucket and FIM mode of every exported segment,
    written in row groups as they come."""

    _ROWS = 1 << 16
    SCHEMA = pa.schema([("doc_id", pa.string()), ("bucket", pa.string()), ("fim", pa.string()),
                        ("tokens", pa.int32())])

    def __init__(self, sink):
        self._writer = pq.ParquetWriter(sink, self.SCHEMA)
        self._pending: list[Segment] = []

    def add(self, segment: Segment) -> None:
        self._pending.append(segment)
        if len(self._pending) >= self._ROWS:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            s = self._pending
            self._writer.write_table(pa.table({
                "doc_id": [x.doc_id for x in s], "bucket": [BUCKETS[x.bucket] for x in s],
                "fim": [FIM_MODES[x.fim] for x in s], "tokens": [x.end - x.start for x in s]}, schema=self.SCHEMA))
            self._pending = []

    def close(self) -> None:
        self.flush()
        self._writer.close()


def export_megatron(manifest: Manifest, output: Output, workdir: Path) -> dict[str, PhaseStats]:
    phases = {}
    for phase in manifest.phases:
        stats = phases[phase.name] = PhaseStats(phase.seq_len)
        lengths_path = workdir / f"{phase.name}.lengths"
        with output.create(f"{phase.name}.bin") as binary, open(lengths_path, "wb") as lengths, \
                output.create(f"{phase.name}.segments.parquet") as table_sink:
            table = _SegmentTable(table_sink)
            for _, rows in iter_phase(manifest, phase):
                for row in rows:
                    stats.rows += 1
                    for segment in segments(row):
                        binary.write(row.tokens[segment.start:segment.end].astype("<i4").tobytes())
                        lengths.write(struct.pack("<i", segment.end - segment.start))
                        table.add(segment)
                        stats.add(segment)
            table.close()
        with output.create(f"{phase.name}.idx") as index:
            _write_megatron_index(index, lengths_path, stats.segments)
        lengths_path.unlink()
    return phases


def _write_megatron_index(sink, lengths_path: Path, count: int) -> None:
    """Header, counts, int32 lengths, int64 byte pointers, int64 document indices (0..count: every
    sequence is one document), streamed from the spilled lengths in chunks."""
    sink.write(MEGATRON_HEADER + struct.pack("<Q", 1) + struct.pack("<B", MEGATRON_INT32))
    sink.write(struct.pack("<Q", count) + struct.pack("<Q", count + 1))
    with open(lengths_path, "rb") as fh:
        shutil.copyfileobj(fh, sink, 1 << 22)
    pointer = 0
    for chunk in _read_int32_chunks(lengths_path):
        ends = pointer + np.cumsum(chunk.astype(np.int64) * 4)
        sink.write((ends - chunk.astype(np.int64) * 4).astype("<i8").tobytes())
        pointer = int(ends[-1])
    for lo in range(0, count + 1, _SPILL_CHUNK):
        sink.write(np.arange(lo, min(count + 1, lo + _SPILL_CHUNK), dtype="<i8").tobytes())


def _read_int32_chunks(path: Path) -> Iterator[np.ndarray]:
    with open(path, "rb") as fh:
        while data := fh.read(4 * _SPILL_CHUNK):
            yield np.frombuffer(data, dtype="<i4")


def export_olmo(manifest: Manifest, output: Output, workdir: Path) -> dict[str, PhaseStats]:
    fim_pad = manifest.tokenizer.special_tokens[FIM_PAD]
    phases = {}
    for phase in manifest.phases:
        stats = phases[phase.name] = PhaseStats(phase.seq_len)
        for index, rows in iter_phase(manifest, phase):
            part = f"{phase.name}/part-{index:05d}"
            with output.create(f"{part}.npy") as tokens, output.create(f"{part}.label_mask.npy") as mask, \
                    output.create(f"{part}.csv.gz") as meta_sink:
                with gzip.GzipFile(fileobj=meta_sink, mode="wb", mtime=0) as meta:
                    offset = 0
                    for row in rows:
                        stats.rows += 1
                        tokens.write(row.tokens.astype("<u4").tobytes())
                        mask.write(loss_mask(row, fim_pad).tobytes())
                        for segment in segments(row):
                            stats.add(segment)
                            meta.write(f"{offset + segment.start},{offset + segment.end},{_csv(segment.doc_id)},"
                                       f"{BUCKETS[segment.bucket]}\n".encode("utf-8"))
                        offset += phase.seq_len
    return phases


def _csv(value: str) -> str:
    """A CSV field OLMo-core's reader (``line.split(",")`` on the first two fields) and any CSV
    reader parse the same way."""
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


def export_hf(manifest: Manifest, output: Output, workdir: Path) -> dict[str, PhaseStats]:
    import datasets

    fim_pad = manifest.tokenizer.special_tokens[FIM_PAD]
    phases: dict[str, PhaseStats] = {}

    def generate(phase: PhaseManifest):
        stats = phases[phase.name] = PhaseStats(phase.seq_len)
        for _, rows in iter_phase(manifest, phase):
            for row in rows:
                stats.rows += 1
                for segment in segments(row):
                    stats.add(segment)
                labels = row.tokens.astype(np.int64)
                labels[~loss_mask(row, fim_pad)] = IGNORE_INDEX
                yield {"input_ids": row.tokens, "labels": labels, "position_ids": position_ids(row),
                       "seg_starts": row.seg_starts, "seg_buckets": row.seg_buckets,
                       "seg_doc_ids": row.seg_doc_ids, "seg_fim": row.seg_fim}

    features = datasets.Features({
        "input_ids": datasets.Sequence(datasets.Value("uint32")), "labels": datasets.Sequence(datasets.Value("int64")),
        "position_ids": datasets.Sequence(datasets.Value("int32")), "seg_starts": datasets.Sequence(datasets.Value("int32")),
        "seg_buckets": datasets.Sequence(datasets.Value("uint8")), "seg_doc_ids": datasets.Sequence(datasets.Value("string")),
        "seg_fim": datasets.Sequence(datasets.Value("uint8"))})
    datasets.disable_progress_bars()
    splits = {}
    for phase in manifest.phases:
        try:
            # A 32k row is ~0.8 MB in these columns: small writer batches keep memory bounded.
            splits[phase.name] = datasets.Dataset.from_generator(
                generate, gen_kwargs={"phase": phase}, features=features, cache_dir=str(workdir / "cache"),
                writer_batch_size=max(1, (64 << 20) // (phase.seq_len * 24)), keep_in_memory=False)
        except datasets.exceptions.DatasetGenerationError as exc:
            if isinstance(exc.__cause__, ExportError):  # a damaged shard: say which, not "generation failed"
                raise exc.__cause__ from None
            raise
    local_copy = workdir / "hf"
    datasets.DatasetDict(splits).save_to_disk(str(local_copy))
    for path in sorted(p for p in local_copy.rglob("*") if p.is_file()):
        output.upload(path, str(path.relative_to(local_copy)))
    return phases


EXPORTERS = {"megatron": export_megatron, "olmo": export_olmo, "hf": export_hf}


def trainer_config(fmt: str, manifest: Manifest, output: str, phases: dict[str, PhaseStats]) -> dict[str, Any]:
    """What the trainer on the other side is told (written into export.json and shown in docs/export.md)."""
    tokens = manifest.tokenizer.special_tokens
    if fmt == "megatron":
        return {"data_path": {name: storage.join(output, name) for name in phases}, "tokenizer_vocab_size":
                manifest.tokenizer.vocab_size, "eod_token_id": tokens[ENDOFTEXT], "seq_length":
                {name: p.seq_len for name, p in phases.items()}, "note": "sequences already end with <|endoftext|>"}
    if fmt == "olmo":
        return {"dtype": "uint32", "eos_token_id": tokens[ENDOFTEXT], "pad_token_id": tokens[FIM_PAD],
                "vocab_size": manifest.tokenizer.vocab_size,
                "phases": {name: {"sequence_length": p.seq_len,
                                  "paths": storage.join(output, name, "part-*.npy"),
                                  "label_mask_paths": storage.join(output, name, "part-*.label_mask.npy")}
                           for name, p in phases.items()}}
    return {"load": f"datasets.load_from_disk({output!r})", "splits": list(phases),
            "columns": "input_ids, labels (-100 = no loss), position_ids (restart per document), seg_*"}


def export(fmt: str, corpus: str | Path, out: str | Path) -> dict[str, Any]:
    """Export the corpus at ``corpus`` to ``out`` in ``fmt``; returns the export.json dict."""
    if fmt not in EXPORTERS:
        raise ExportError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    manifest = Manifest.load(corpus)
    with storage.open_read(storage.join(manifest.root, MANIFEST_NAME)) as fh:
        manifest_sha256 = hashlib.sha256(fh.read()).hexdigest()
    output = Output(out)
    with tempfile.TemporaryDirectory(prefix="korpus-export-") as tmp:
        phases = EXPORTERS[fmt](manifest, output, Path(tmp))
    record = {
        "format": EXPORT_FORMAT, "export_format": fmt,
        "source": {"corpus": str(corpus), "manifest_sha256": manifest_sha256,
                   "tokenizer": {"sha256": manifest.tokenizer.sha256, "vocab_size": manifest.tokenizer.vocab_size,
                                 "special_tokens": manifest.tokenizer.special_tokens},
                   "provenance": manifest.provenance, "balance": manifest.balance},
        "phases": {name: {"seq_len": p.seq_len, "rows": p.rows, "segments": p.segments, "tokens": p.tokens,
                          "tokens_per_bucket": p.tokens_per_bucket} for name, p in phases.items()},
        "files": dict(sorted(output.files.items())),
        "trainer_config": trainer_config(fmt, manifest, str(out), phases),
    }
    with storage.create_atomic(storage.join(out, "export.json")) as sink:
        sink.write(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    write_marker(out, "export", {"format": fmt, "files": len(output.files),
                                 "tokens": {name: p.tokens for name, p in phases.items()}})
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpus.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--corpus", required=True, help="the build's output directory (manifest.json), local or URL")
    parser.add_argument("--output", required=True, help="directory to write, local or URL")
    args = parser.parse_args(argv)
    try:
        record = export(args.format, args.corpus, args.output)
    except (ExportError, ManifestError, OSError) as exc:
        print(f"export: error: {exc}", file=sys.stderr)
        return 2
    for name, phase in record["phases"].items():
        print(f"export {args.format}: {name}: {phase['rows']:,} rows, {phase['segments']:,} documents, "
              f"{phase['tokens']:,} tokens")
    print(f"export {args.format}: {len(record['files'])} files in {args.output} (export.json records their sha256)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
