"""Curation's Parquet outputs: the row schemas, and a streaming writer that cuts row groups by bytes.

``ParquetStreamWriter`` takes rows one at a time and writes a row group whenever the rows buffered
reach ``row_group_bytes`` (or ``row_group_rows``), so a worker holds one row group, never a file;
the file appears under its name only when closed (``corpus.storage.create_atomic``: a killed or
retried worker never leaves a torn file). The bytes depend only on the rows and their order.
Curate (``transforms/curate.py``) writes each input shard's rows in read order and cuts the
published ``part-*.parquet`` files from whole row groups by size (``transforms/publish.py``).
"""
from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpus import storage
from corpus.document import Document, ReadError, Rejection

# Meta keys the readers set that get their own column; any other meta key lands in ``meta``.
_META_COLUMNS = {"location": "location", "path": "path", "license": "license", "lang": "given_lang"}
_READER_ONLY_META = {"line"}  # read order, already encoded in ``location``

CURATED_SCHEMA = pa.schema([
    ("id", pa.string()), ("text", pa.string()), ("bucket", pa.string()), ("lang", pa.string()),
    ("lang_score", pa.float64()), ("source", pa.string()), ("knowledge", pa.float64()),
    ("pii", pa.int64()), ("kind", pa.string()), ("input", pa.string()), ("location", pa.string()),
    ("path", pa.string()), ("license", pa.string()), ("given_lang", pa.string()),
    ("meta", pa.map_(pa.string(), pa.string())),
    # Placeholders written by the PII step, in code points of ``text`` (see corpus.document).
    ("pii_spans", pa.list_(pa.struct([("start", pa.int32()), ("length", pa.int32()), ("type", pa.string())]))),
    ("source_id", pa.string()), ("cluster_size", pa.int32()),
])
REJECTED_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("bucket", pa.string()), ("reason", pa.string()),
    ("detail", pa.string()), ("text", pa.string()), ("kind", pa.string()), ("input", pa.string()),
    ("location", pa.string()), ("source_id", pa.string()),
    ("chars", pa.int64()),  # characters of the text as rejected, stored or not (Rejection.chars)
])
ERRORS_SCHEMA = pa.schema([
    ("input", pa.string()), ("location", pa.string()), ("error", pa.string()), ("excerpt", pa.string()),
    ("records", pa.int64()),  # input records the error stands for (a row group's rows; usually 1)
])


def curated_row(doc: Document) -> dict[str, Any]:
    row = {"id": doc.id, "text": doc.text, "bucket": doc.bucket, "lang": doc.lang,
           "lang_score": float(doc.lang_score), "source": doc.source, "knowledge": float(doc.knowledge),
           "pii": int(doc.pii), "kind": doc.kind, "input": doc.input, "source_id": doc.source_id,
           "cluster_size": int(doc.cluster_size)}
    for key, column in _META_COLUMNS.items():
        row[column] = doc.meta.get(key, "")
    extra = {k: str(v) for k, v in doc.meta.items() if k not in _META_COLUMNS and k not in _READER_ONLY_META}
    row["meta"] = sorted(extra.items())
    row["pii_spans"] = [{"start": start, "length": length, "type": pii_type} for start, length, pii_type in doc.pii_spans]
    return row


def rejected_row(rejection: Rejection) -> dict[str, Any]:
    doc = rejection.doc
    return {"id": doc.id, "source": doc.source, "bucket": doc.bucket, "reason": rejection.reason,
            "detail": rejection.detail, "text": doc.text if rejection.keep_text else None, "kind": doc.kind,
            "input": doc.input, "location": doc.meta.get("location", ""), "source_id": doc.source_id,
            "chars": rejection.chars}


def error_row(error: ReadError) -> dict[str, Any]:
    return {"input": error.input, "location": error.location, "error": error.error, "excerpt": error.excerpt,
            "records": error.records}


def shard_name(shard: int, num_shards: int) -> str:
    return f"part-{shard:05d}-of-{num_shards:05d}.parquet"


ROW_GROUP_BYTES = 16 * 1024 * 1024
# Rows decoded at a time when a Parquet file is read: Arrow decodes a batch's text at once, so a
# reader holds this many documents (4,096 web documents were ~80 MB of Arrow memory; 256, ~5 MB).
DECODE_BATCH_ROWS = 256
ROW_GROUP_ROWS = 10_000
ROW_OVERHEAD_BYTES = 200  # the non-text columns of a row, roughly, for the row-group cut


def row_bytes(row: dict[str, Any]) -> int:
    """The size a row counts for when row groups are cut: its text (UTF-8 length bound) + overhead."""
    text = row.get("text") or ""
    return len(text) * (1 if text.isascii() else 3) + ROW_OVERHEAD_BYTES


class ParquetStreamWriter:
    """Writes rows to ``path`` one row group at a time (see the module docstring)."""

    def __init__(self, path: str, schema: pa.Schema, row_group_bytes: int = ROW_GROUP_BYTES,
                 row_group_rows: int = ROW_GROUP_ROWS):
        self.path, self.schema = path, schema
        self._row_group_bytes, self._row_group_rows = row_group_bytes, row_group_rows
        self._stack = ExitStack()
        sink = self._stack.enter_context(storage.create_atomic(path))
        self._writer = pq.ParquetWriter(sink, schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self._buffered = 0
        self.rows_written = 0

    def write(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        self._buffered += row_bytes(row)
        if self._buffered >= self._row_group_bytes or len(self._rows) >= self._row_group_rows:
            self._flush()

    def write_table(self, table: pa.Table) -> None:
        """Appends a whole table as one row group (the publish step copies row groups)."""
        self._flush()
        self._writer.write_table(table.cast(self.schema), row_group_size=max(table.num_rows, 1))
        self.rows_written += table.num_rows

    def _flush(self) -> None:
        if self._rows:
            table = pa.Table.from_pylist(self._rows, schema=self.schema)
            self._writer.write_table(table, row_group_size=len(self._rows))
            self.rows_written += len(self._rows)
            self._rows, self._buffered = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._stack.close()  # renames the temporary file to ``path``

    def abort(self) -> None:
        """Drop the file (a failed bundle): the temporary file is deleted, ``path`` never appears."""
        self._rows = []
        try:
            self._writer.close()
        finally:
            self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
