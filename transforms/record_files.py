"""Reading small side files in the launching process: labelled training examples for the knowledge
classifier and evaluation sets for decontamination.

These files are read once, before the pipeline runs, so a malformed line is a clear error naming
``path:line`` (a silently skipped eval item would be a silent contamination). Paths go through
Beam's ``FileSystems``, so ``gs://``/``s3://`` globs work like local ones and ``.gz``/``.zst`` are
decompressed by extension.

Formats (by extension, or forced with ``fmt``):
- ``jsonl`` (``.jsonl``, ``.ndjson``, also compressed): one JSON object per line;
- ``json`` (``.json``): one document, a list of records or one object (e.g. KorQuAD's SQuAD layout);
- ``parquet`` (``.parquet``): one record per row;
- ``tsv`` (``.tsv``): a header line names the columns (e.g. NSMC's ``id document label``);
- ``text`` (anything else): one record ``{"text": line}`` per non-empty line.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterator

from apache_beam.io.filesystems import FileSystems

from corpus.storage import match

FORMATS = ("auto", "jsonl", "json", "parquet", "tsv", "text")
_COMPRESSION_SUFFIXES = (".gz", ".zst", ".bz2", ".deflate", ".xz")


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


def strip_compression(name: str) -> str:
    """``name`` without a trailing compression suffix (``qa.jsonl.gz`` -> ``qa.jsonl``)."""
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return name


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
        with FileSystems.open(path) as raw:
            if fmt == "parquet":
                yield from _parquet_records(raw)
                return
            data = raw.read()
    except OSError as exc:
        raise RecordFileError(f"{path}: cannot read: {exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordFileError(f"{path}: not valid UTF-8 at byte {exc.start}") from exc
    if fmt == "jsonl":
        yield from _jsonl_records(path, text)
    elif fmt == "json":
        yield from _json_records(path, text)
    elif fmt == "tsv":
        yield from csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        yield from ({"text": line} for line in text.splitlines() if line.strip())


def _parquet_records(raw: Any) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(io.BytesIO(raw.read()))
    for batch in parquet.iter_batches():
        yield from batch.to_pylist()


def _jsonl_records(path: str, text: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordFileError(f"{path}:{number}: not valid JSON: {exc.msg}") from exc
        if not isinstance(record, dict):
            raise RecordFileError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        yield record


def _json_records(path: str, text: str) -> Iterator[dict[str, Any]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordFileError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise RecordFileError(f"{path}: item {index} is {type(record).__name__}, expected an object")
        yield record


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
