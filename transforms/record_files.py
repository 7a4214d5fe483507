"""Reading small side files in the launching process: labelled training examples for the knowledge
classifier and evaluation sets for decontamination.

These files are read once, before the pipeline runs, so a malformed line is a clear error naming
``path:line`` (a silently skipped eval item would be a silent contamination). Paths go through
Beam's ``FileSystems``, so ``gs://``/``s3://`` globs work like local ones. Lines are read by the
curate readers' own line reader (``corpus.records``): split at ``\n`` only (a record holding a raw
U+2028, U+0085, form feed or vertical tab is one record), JSON bounded in depth and integer digits,
and ``.gz``/``.zst``/``.bz2``/``.xz`` decompressed by suffix (``corpus.compression``) with a stream
that lacks its end an error naming the file, wherever it was cut (an eval set silently shortened
would decontaminate less than it claims).

Formats (by extension, or forced with ``fmt``):
- ``jsonl`` (``.jsonl``, ``.ndjson``, also compressed): one JSON object per line;
- ``json`` (``.json``): one document, a list of records or one object (e.g. KorQuAD's SQuAD layout);
- ``parquet`` (``.parquet``): one record per row;
- ``tsv`` (``.tsv``): a header line names the columns (e.g. NSMC's ``id document label``);
- ``text`` (anything else): one record ``{"text": line}`` per non-empty line (a ``\r`` before
  the ``\n`` is the line end, not text).
"""
from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO, Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from corpus.compression import STREAM_ERRORS, open_file, strip_compression
from corpus.records import DamagedStream, JsonLimits, Line, RecordError, decode_utf8, parse_json, parse_object, read_lines
from corpus.storage import match

FORMATS = ("auto", "jsonl", "json", "parquet", "tsv", "text")
MAX_LINE_BYTES = 64 * 1024 * 1024  # the curate readers' default record bound
LIMITS = JsonLimits()


class RecordFileError(ValueError):
    """A side file is missing, empty or malformed; the message names the file (and line)."""


def expand_globs(patterns: list[str]) -> list[str]:
    """Sorted, de-duplicated paths matching ``patterns``; a pattern matching nothing is an error."""
    paths: set[str] = set()
    for pattern in patterns:
        matched = match(pattern)
        if not matched:
            raise RecordFileError(f"{pattern}: no file matches")
        paths.update(matched)
    return sorted(paths)


def detect_format(path: str) -> str:
    name = strip_compression(path.lower())
    for ext, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"),
                     (".parquet", "parquet"), (".tsv", "tsv")):
        if name.endswith(ext):
            return fmt
    return "text"


def iter_records(path: str, fmt: str = "auto") -> Iterator[dict[str, Any]]:
    """The records of one file, in file order."""
    if fmt not in FORMATS:
        raise RecordFileError(f"{path}: unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    fmt = detect_format(path) if fmt == "auto" else fmt
    try:
        raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    except OSError as exc:
        raise RecordFileError(f"{path}: cannot read: {exc}") from exc
    if fmt == "parquet":
        with raw:
            yield from _parquet_records(path, raw)
        return
    with open_file(path, "rb", raw) as stream:
        if fmt == "json":
            yield from _json_records(path, _read_all(path, stream))
            return
        lines = _lines(path, stream)
        if fmt == "jsonl":
            yield from _jsonl_records(path, lines)
        elif fmt == "tsv":
            yield from _tsv_records(path, lines)
        else:
            yield from ({"text": text} for _, text in _text_lines(path, lines) if text.strip())


def _read_all(path: str, stream: BinaryIO) -> bytes:
    try:
        return stream.read()
    except STREAM_ERRORS as exc:
        raise RecordFileError(f"{path}: corrupt compressed stream: {type(exc).__name__}: {exc}") from exc


def _lines(path: str, stream: BinaryIO) -> Iterator[Line]:
    try:
        for line in read_lines(stream, path, MAX_LINE_BYTES):
            if line.too_large:
                raise RecordFileError(f"{path}:{line.number}: line longer than {MAX_LINE_BYTES:,} bytes")
            yield line
    except DamagedStream as damage:
        raise RecordFileError(f"{path}:{damage.line}: {damage.reason}") from damage


def _text_lines(path: str, lines: Iterator[Line]) -> Iterator[tuple[int, str]]:
    """(line number, text without its line end)."""
    for line in lines:
        try:
            text = decode_utf8(line.raw, "line")
        except RecordError as exc:
            raise RecordFileError(f"{path}:{line.number}: {exc}") from exc
        yield line.number, text.removesuffix("\n").removesuffix("\r")


def _parquet_records(path: str, raw: Any) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(raw.read()), page_checksum_verification=True)
        for group in range(parquet.metadata.num_row_groups):
            for batch in parquet.iter_batches(row_groups=[group]):
                yield from batch.to_pylist()
    except Exception as exc:  # not Parquet, a corrupt page, invalid UTF-8 in a string column
        raise RecordFileError(f"{path}: unreadable Parquet: {type(exc).__name__}: {exc}") from exc


def _jsonl_records(path: str, lines: Iterator[Line]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.blank:
            continue
        try:
            yield parse_object(line.raw, LIMITS, "line")
        except RecordError as exc:
            raise RecordFileError(f"{path}:{line.number}: {exc}") from exc


def _json_records(path: str, data: bytes) -> Iterator[dict[str, Any]]:
    try:
        document = parse_json(decode_utf8(data, "file"), LIMITS)
    except RecordError as exc:
        raise RecordFileError(f"{path}: {exc}") from exc
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise RecordFileError(f"{path}: item {index} is {type(record).__name__}, expected an object")
        yield record


def _tsv_records(path: str, lines: Iterator[Line]) -> Iterator[dict[str, Any]]:
    numbered = _text_lines(path, lines)
    numbers: list[int] = []

    def texts() -> Iterator[str]:
        for number, text in numbered:
            numbers.append(number)
            yield text

    try:
        yield from csv.DictReader(texts(), delimiter="\t", quoting=csv.QUOTE_NONE)
    except csv.Error as exc:
        raise RecordFileError(f"{path}:{numbers[-1] if numbers else 1}: malformed TSV: {exc}") from exc


def field_values(record: Any, field_path: str) -> Iterator[str]:
    """The strings at a dotted ``field_path``; lists on the way are walked element by element, so
    ``data.paragraphs.context`` reaches every context of a SQuAD/KorQuAD file. Missing keys and
    non-string leaves yield nothing."""
    head, _, rest = field_path.partition(".")
    if isinstance(record, list):
        for item in record:
            yield from field_values(item, field_path)
        return
    if not isinstance(record, dict) or head not in record:
        return
    value = record[head]
    if rest:
        yield from field_values(value, rest)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (v for v in value if isinstance(v, str))
