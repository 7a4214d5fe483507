"""Side files (eval sets, knowledge examples) go through the curate readers' line reader: records
split at "\n" only, truncation found wherever the stream was cut, bounded JSON."""
from __future__ import annotations

import gzip
import json
import zlib

import pytest
import zstandard

from transforms.record_files import RecordFileError, iter_records

# Characters str.splitlines() breaks at that JSON allows raw inside a string.
LINE_BREAKS_OF_SPLITLINES = "\u2028\u2029\x85\x0c\x0b\x1c\x1d\x1e\r"


def _jsonl(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records)


def test_jsonl_record_holding_raw_unicode_line_separators_is_one_record(tmp_path):
    records = [{"text": f"before{c}after"} for c in LINE_BREAKS_OF_SPLITLINES]
    path = tmp_path / "eval.jsonl"
    # Raw, not escaped: json.dumps would write the control characters as \\uXXXX.
    path.write_bytes(b"".join(f'{{"text": "before{c}after"}}\n'.encode("utf-8") for c in LINE_BREAKS_OF_SPLITLINES))
    assert list(iter_records(str(path))) == records


def test_text_lines_split_at_newline_only_and_crlf_ends_are_not_text(tmp_path):
    path = tmp_path / "eval.txt"
    path.write_bytes("one\u2028still one\r\ntwo\x0cstill two\n\n".encode("utf-8"))
    assert list(iter_records(str(path))) == [{"text": "one\u2028still one"}, {"text": "two\x0cstill two"}]


def test_gzip_cut_at_a_line_boundary_is_an_error_naming_the_file(tmp_path):
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    whole_lines = compressor.compress(_jsonl([{"text": f"question {i}"} for i in range(100)]))
    path = tmp_path / "eval.jsonl.gz"
    path.write_bytes(whole_lines + compressor.flush(zlib.Z_SYNC_FLUSH))  # every line decodes, no end
    with pytest.raises(RecordFileError, match=r"eval\.jsonl\.gz:101: corrupt compressed stream: EOFError"):
        list(iter_records(str(path)))


@pytest.mark.parametrize("suffix,compress", [(".gz", gzip.compress), (".zst", zstandard.ZstdCompressor().compress)])
def test_stream_cut_mid_line_is_reported_as_truncation_not_as_bad_json(tmp_path, suffix, compress):
    data = compress(_jsonl([{"text": f"question {i} " * 20} for i in range(200)]))
    path = tmp_path / f"eval.jsonl{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordFileError, match=r"eval\.jsonl\.(gz|zst):\d+: corrupt compressed stream"):
        list(iter_records(str(path)))


def test_deep_nesting_and_huge_integers_are_clear_errors_naming_the_line(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_bytes(b'{"text": "ok"}\n' + b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n")
    with pytest.raises(RecordFileError, match=r"eval\.jsonl:2: JSON nested deeper than 128 levels"):
        list(iter_records(str(path)))
    path.write_bytes(b'{"text": "ok", "n": ' + b"9" * 10_000 + b"}\n")
    with pytest.raises(RecordFileError, match=r"eval\.jsonl:1: JSON integer of 10,000 digits \(limit 4,300\)"):
        list(iter_records(str(path)))


def test_parquet_side_file_with_dictionary_and_large_string_columns_is_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "eval.parquet"
    table = pa.table({"text": pa.array(["a", "b"], pa.large_string()),
                      "label": pa.array(["x", "y"]).dictionary_encode()})  # as pandas writes a categorical
    pq.write_table(table, path)
    assert list(iter_records(str(path))) == [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}]
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(RecordFileError, match=r"eval\.parquet: unreadable Parquet"):
        list(iter_records(str(path)))
