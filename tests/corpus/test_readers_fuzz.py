"""Fuzzing the readers (hypothesis, a few seconds): arbitrary bytes, arbitrary JSON and damaged
Parquet never raise out of the reader, and every file's records add up: read = kept + errors
(the reader rejects nothing; duplicate ids are UniqueIds' job)."""
from __future__ import annotations

import gzip
import io
import json
import os
import tempfile

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus.document import TEXT_KIND, ReadError
from corpus.readers import ERRORS, READ, InputFile, InputShard, ReaderConfig, ReadFileFn, file_format

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONFIG = ReaderConfig(max_record_bytes=4096)
WORKDIR = tempfile.mkdtemp(prefix="korpus-fuzz-")


def _read_bytes(name: str, data: bytes) -> tuple[int, int, int]:
    """(records the reader counted, documents, records its errors stand for); asserts nothing escaped."""
    path = os.path.join(WORKDIR, name)
    with open(path, "wb") as fh:
        fh.write(data)
    fmt = file_format(path)
    item = InputFile(path, TEXT_KIND, path, fmt, os.path.basename(path) if fmt == "file" else "")
    read, docs, errors = None, 0, 0
    for out in ReadFileFn(CONFIG).process(InputShard(0, (item,))):  # an exception here fails the test
        if isinstance(out, beam.pvalue.TaggedOutput):
            if out.tag == READ:
                read = out.value[1]
            elif out.tag == ERRORS:
                assert isinstance(out.value, ReadError)
                json.dumps([out.value.location, out.value.error, out.value.excerpt]).encode("utf-8")
                errors += out.value.records
        else:
            out.text.encode("utf-8")  # every document is valid Unicode
            docs += 1
    assert read == docs + errors, (name, read, docs, errors)
    return read, docs, errors


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from(["x.jsonl", "x.jsonl.gz", "x.jsonl.zst", "x.txt", "x.parquet"]))
def test_arbitrary_bytes_in_any_format(data, name):
    _read_bytes(name, data)


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([gzip.compress, zstandard.ZstdCompressor().compress]),
       st.integers(min_value=0, max_value=4000))
def test_compressed_valid_lines_cut_anywhere(tail, compress, cut):
    lines = b'{"text": "first"}\n' + tail
    data = compress(lines)
    name = "x.jsonl.gz" if data[:2] == b"\x1f\x8b" else "x.jsonl.zst"
    _read_bytes(name, data[: min(cut, len(data))])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20)
RECORDS = st.dictionaries(st.sampled_from(["text", "id", "source", "lang", "path", "license", "other"]),
                          JSON_VALUES, max_size=6)


@settings(FUZZ, max_examples=40)  # generating nested JSON costs more than reading it
@given(st.lists(RECORDS | JSON_VALUES, max_size=6), st.integers(min_value=0, max_value=300))
def test_arbitrary_json_records_and_deep_nesting(records, depth):
    lines = [json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass") for r in records]
    lines.append(b'{"text": "deep", "x": ' + b"[" * depth + b"]" * depth + b"}")
    read, docs, errors = _read_bytes("x.jsonl", b"\n".join(lines) + b"\n")
    assert read == len(lines)


def _parquet_bytes() -> bytes:
    sink = io.BytesIO()
    table = pa.table({"id": [f"d{i}" for i in range(60)], "text": [f"text number {i} " * 5 for i in range(60)],
                      "source": pa.array(["a", "b", "c"] * 20).dictionary_encode()})
    pq.write_table(table, sink, row_group_size=20, compression="zstd")
    return sink.getvalue()


PARQUET = _parquet_bytes()


@FUZZ
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=len(PARQUET) - 1), st.integers(0, 255)), max_size=12),
       st.none() | st.integers(min_value=0, max_value=len(PARQUET) - 1))
def test_damaged_parquet(edits, cut):
    data = bytearray(PARQUET)
    for position, value in edits:
        data[position] = value
    read, docs, errors = _read_bytes("x.parquet", bytes(data if cut is None else data[:cut]))
    if cut is None and all(PARQUET[p] == v for p, v in edits):
        assert (read, docs, errors) == (60, 60, 0)
