"""Suffix → codec: every mode round-trips, outputs are real gzip/zstd, damage is an error."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib

import pytest
import zstandard

from corpus.compression import STREAM_ERRORS, codec, open_file

TEXT = "첫 줄 {\"text\": \"a\"}\nsecond line\r\n"  # \r\n stays as written: no newline translation


@pytest.mark.parametrize("name", ["x.jsonl", "x.jsonl.gz", "x.jsonl.zst", "X.JSONL.ZST"])
def test_text_and_bytes_round_trip_through_every_suffix(tmp_path, name):
    path = str(tmp_path / name)
    with open_file(path, "wt") as handle:
        handle.write(TEXT)
    with open_file(path, "rt") as handle:
        assert handle.read() == TEXT
    with open_file(path, "rb") as handle:
        assert handle.readline(4) == TEXT.encode()[:4] and handle.read() == TEXT.encode()[4:]
    with open_file(path, "wb") as handle:
        handle.write(b"bytes\n")
    with open_file(path, "rb") as handle:
        assert handle.read() == b"bytes\n"


def test_outputs_are_what_the_standard_tools_read(tmp_path):
    gz, zst = str(tmp_path / "a.gz"), str(tmp_path / "a.zst")
    for path in (gz, zst):
        with open_file(path, "wt") as handle:
            handle.write(TEXT)
    assert gzip.decompress(open(gz, "rb").read()).decode() == TEXT
    with zstandard.ZstdDecompressor().stream_reader(open(zst, "rb")) as reader:
        assert reader.read().decode() == TEXT
    assert (codec(gz), codec(zst), codec("a.jsonl"), codec("a.BZ2"), codec("a.xz")) == ("gzip", "zstd", "", "bzip2", "xz")


def test_gzip_output_is_byte_identical_across_runs(tmp_path):
    outputs = []
    for name in ("one.gz", "two.gz"):
        with open_file(str(tmp_path / name), "wt") as handle:
            handle.write(TEXT)
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]


def test_zstd_frames_are_read_one_after_another_and_a_truncated_last_frame_is_an_error(tmp_path):
    compressor = zstandard.ZstdCompressor()
    whole = compressor.compress(b"one\n") + compressor.compress(b"") + compressor.compress(b"two\n" * 1000)
    path = tmp_path / "frames.zst"
    path.write_bytes(whole)
    with open_file(str(path)) as handle:
        assert handle.read() == b"one\n" + b"two\n" * 1000
    path.write_bytes(whole[:-3])
    with open_file(str(path)) as handle, pytest.raises(EOFError, match="truncated"):
        handle.read()


@pytest.mark.parametrize("name", ["x.gz", "x.zst"])
def test_data_of_another_kind_is_a_stream_error(tmp_path, name):
    (tmp_path / name).write_bytes(b'{"text": "plain, not compressed"}\n')
    with open_file(str(tmp_path / name)) as handle, pytest.raises(STREAM_ERRORS):
        handle.read()


def test_a_given_raw_stream_is_read_and_closed(tmp_path):
    raw = io.BytesIO(zstandard.ZstdCompressor().compress(b"remote bytes\n"))
    with open_file("gs://bucket/x.jsonl.zst", "rb", raw) as handle:
        assert handle.readline() == b"remote bytes\n"
    assert raw.closed


COMPRESSORS = {"x.gz": gzip.compress, "x.zst": zstandard.ZstdCompressor(write_checksum=True).compress,
               "x.bz2": bz2.compress, "x.xz": lzma.compress}
LINES = b"".join(b'{"text": "line %d"}\n' % i for i in range(50))


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_a_stream_cut_anywhere_is_an_error_even_at_a_line_boundary_or_before_the_header(tmp_path, name):
    whole = COMPRESSORS[name](LINES)
    path = tmp_path / name
    for cut in sorted({0, 1, len(whole) // 3, len(whole) // 2, len(whole) - 9, len(whole) - 4, len(whole) - 1}):
        path.write_bytes(whole[:cut])
        with open_file(str(path)) as handle, pytest.raises(STREAM_ERRORS):
            handle.read()
    path.write_bytes(whole)
    with open_file(str(path)) as handle:
        assert handle.read() == LINES


def test_gzip_cut_exactly_after_a_complete_line_is_still_truncated(tmp_path):
    # A gzip stream flushed at a line end (as a writer killed mid-file leaves it): its lines decode,
    # yet the stream has no end; reading it to the end must say so.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    flushed = compressor.compress(LINES) + compressor.flush(zlib.Z_SYNC_FLUSH)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(flushed)
    with open_file(str(path)) as handle:
        assert handle.readline() == b'{"text": "line 0"}\n'
        with pytest.raises(EOFError):
            handle.read()
