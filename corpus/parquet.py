"""Curation's Parquet outputs: the row schemas, and a deterministic sharded writer (Beam).

``WriteParquetShards`` hash-partitions rows by a key (BLAKE2b of the id, not Python's salted
``hash``) into a fixed number of shards, sorts each shard's rows, and writes
``part-SSSSS-of-NNNNN.parquet`` through a temporary name and a rename, so a reader never sees a
half-written shard. The bytes depend only on the rows and ``num_shards``: same input + config →
identical files on any runner and worker count. A worker holds one shard in memory: at scale,
choose ``num_shards`` so that a shard is a few hundred MB (e.g. 2,000 shards for 1 TB of text).
Every shard file is written, an empty one with zero rows.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Iterable, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from corpus.document import Document, ReadError, Rejection
from corpus.storage import is_url

# Meta keys the readers set that get their own column; any other meta key lands in ``meta``.
_META_COLUMNS = {"location": "location", "path": "path", "license": "license", "lang": "given_lang"}
_READER_ONLY_META = {"line"}  # read order, already encoded in ``location``

CURATED_SCHEMA = pa.schema([
    ("id", pa.string()), ("text", pa.string()), ("bucket", pa.string()), ("lang", pa.string()),
    ("lang_score", pa.float64()), ("source", pa.string()), ("knowledge", pa.float64()),
    ("pii", pa.int64()), ("kind", pa.string()), ("input", pa.string()), ("location", pa.string()),
    ("path", pa.string()), ("license", pa.string()), ("given_lang", pa.string()),
    ("meta", pa.map_(pa.string(), pa.string())),
    # Placeholders written by the PII stage, in code points of ``text`` (see corpus.document).
    ("pii_spans", pa.list_(pa.struct([("start", pa.int32()), ("length", pa.int32()), ("type", pa.string())]))),
])
REJECTED_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("bucket", pa.string()), ("reason", pa.string()),
    ("detail", pa.string()), ("text", pa.string()), ("kind", pa.string()), ("input", pa.string()),
    ("location", pa.string()),
])
ERRORS_SCHEMA = pa.schema([
    ("input", pa.string()), ("location", pa.string()), ("error", pa.string()), ("excerpt", pa.string()),
    ("records", pa.int64()),  # input records the error stands for (a row group's rows; usually 1)
])


def curated_row(doc: Document) -> dict[str, Any]:
    row = {"id": doc.id, "text": doc.text, "bucket": doc.bucket, "lang": doc.lang,
           "lang_score": float(doc.lang_score), "source": doc.source, "knowledge": float(doc.knowledge),
           "pii": int(doc.pii), "kind": doc.kind, "input": doc.input}
    for key, column in _META_COLUMNS.items():
        row[column] = doc.meta.get(key, "")
    extra = {k: str(v) for k, v in doc.meta.items() if k not in _META_COLUMNS and k not in _READER_ONLY_META}
    row["meta"] = sorted(extra.items())
    row["pii_spans"] = [{"start": start, "length": length, "type": pii_type} for start, length, pii_type in doc.pii_spans]
    return row


def rejected_row(rejection: Rejection) -> dict[str, Any]:
    doc = rejection.doc
    return {"id": doc.id, "source": doc.source, "bucket": doc.bucket, "reason": rejection.reason,
            "detail": rejection.detail, "text": doc.text, "kind": doc.kind, "input": doc.input,
            "location": doc.meta.get("location", "")}


def error_row(error: ReadError) -> dict[str, Any]:
    return {"input": error.input, "location": error.location, "error": error.error, "excerpt": error.excerpt,
            "records": error.records}


def shard_of(key: str, num_shards: int) -> int:
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % num_shards


def shard_name(shard: int, num_shards: int) -> str:
    return f"part-{shard:05d}-of-{num_shards:05d}.parquet"


class _WriteShardFn(beam.DoFn):
    def __init__(self, directory: str, schema: pa.Schema, num_shards: int, sort_fields: Sequence[str]):
        self.directory, self.schema, self.num_shards = directory, schema, num_shards
        self.sort_fields = tuple(sort_fields)
        self._rows = Metrics.counter("parquet", "rows_written")
        self._files = Metrics.counter("parquet", "files_written")

    def process(self, element: tuple[int, Iterable[dict]]) -> Iterable[str]:
        shard, rows = element
        rows = sorted((r for r in rows if r is not None), key=lambda r: tuple(r[f] for f in self.sort_fields))
        table = pa.Table.from_pylist(rows, schema=self.schema)
        final = FileSystems.join(self.directory, shard_name(shard, self.num_shards))
        temp = FileSystems.join(self.directory, "." + shard_name(shard, self.num_shards) + ".tmp")
        if not is_url(self.directory):
            os.makedirs(self.directory, exist_ok=True)
        with FileSystems.create(temp) as handle:
            pq.write_table(table, handle, compression="zstd", row_group_size=10_000)
        FileSystems.rename([temp], [final])
        self._rows.inc(len(rows))
        self._files.inc()
        yield final


class WriteParquetShards(beam.PTransform):
    """PCollection[dict row] -> PCollection[str path written]; see the module docstring.
    ``sort_fields`` order rows inside a shard; they must make the order total (e.g. id)."""

    def __init__(self, directory: str, schema: pa.Schema, num_shards: int, shard_field: str = "id",
                 sort_fields: Sequence[str] = ("id",)):
        super().__init__()
        if num_shards < 1:
            raise ValueError("num_shards must be >= 1")
        self.directory, self.schema, self.num_shards = directory, schema, num_shards
        self.shard_field, self.sort_fields = shard_field, tuple(sort_fields)

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        field, n = self.shard_field, self.num_shards
        keyed = rows | "Shard" >> beam.Map(lambda r: (shard_of(r[field], n), r))
        # One placeholder per shard: every shard file exists (possibly with zero rows), so a
        # consumer sees the same N files whatever the data, and stale shards cannot linger.
        placeholders = rows.pipeline | "EveryShard" >> beam.Create([(shard, None) for shard in range(n)])
        return ((keyed, placeholders)
                | "WithEveryShard" >> beam.Flatten()
                | "GroupShard" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(_WriteShardFn(self.directory, self.schema, n, self.sort_fields)))
