"""Files compressed as their names say: ``.gz`` is gzip, ``.zst`` is Zstandard, ``.bz2`` bzip2,
``.xz`` xz/LZMA; any other name is read and written as is. The one suffix → codec mapping of the
project: the curate readers (``corpus.readers``), the side files (``transforms.record_files``) and
``python -m pii`` open their files here (through ``corpus.records``).

Reading a damaged stream raises one of ``STREAM_ERRORS`` at the point of damage, so a caller can
keep what came before it, wherever the stream was cut: inside a block, exactly at a line boundary,
inside the trailer, or before the first byte (an empty ``.gz``/``.zst`` file holds no stream at
all). That includes a truncated ``.zst``, which zstandard's own ``stream_reader`` would end quietly,
as if the file were shorter.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from contextlib import ExitStack, contextmanager
from typing import IO, BinaryIO, Iterator

import zstandard

# gzip raises BadGzipFile (an OSError) for data that is not gzip, EOFError when truncated and
# zlib.error for a corrupt block; bz2/lzma raise OSError/EOFError/lzma.LZMAError; zstandard
# raises ZstdError; OSError also covers failing reads.
STREAM_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)
MODES = ("rb", "wb", "rt", "wt")
SUFFIXES: dict[str, str] = {".gz": "gzip", ".zst": "zstd", ".bz2": "bzip2", ".xz": "xz"}
_ZSTD_READ_BYTES = 1 << 17  # compressed bytes read at a time: zstd's largest block


def codec(path: str) -> str:
    """``"gzip"``, ``"zstd"``, ``"bzip2"``, ``"xz"`` or ``""`` (none), from the end of ``path``, in any case."""
    lower = path.lower()
    return next((kind for suffix, kind in SUFFIXES.items() if lower.endswith(suffix)), "")


def strip_compression(name: str) -> str:
    """``name`` without its compression suffix (``qa.jsonl.gz`` -> ``qa.jsonl``)."""
    lower = name.lower()
    suffix = next((s for s in SUFFIXES if lower.endswith(s)), "")
    return name[: len(name) - len(suffix)]


@contextmanager
def open_file(path: str, mode: str = "rb", raw: BinaryIO | None = None) -> Iterator[IO]:
    """``path`` opened for ``mode`` (one of ``MODES``), (de)compressed by its suffix.

    Text is UTF-8 with no newline translation, so JSONL bytes are the same on every platform.
    ``raw`` is the file's bytes when the caller opened them already (Beam's ``FileSystems`` for
    ``gs://``); it is closed on exit like a file opened here. Reading is buffered, so
    ``readline(limit)`` works.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    writing = mode[0] == "w"
    with ExitStack() as stack:
        raw = stack.enter_context(raw if raw is not None else open(path, "wb" if writing else "rb"))
        kind = codec(path)
        stream = stack.enter_context(_writer(raw, kind) if writing else _reader(raw, kind))
        if mode[1] == "t":
            stream = stack.enter_context(io.TextIOWrapper(stream, encoding="utf-8", newline="\n"))
        yield stream


def _reader(raw: BinaryIO, kind: str) -> BinaryIO:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=_NotEmpty(raw, kind), mode="rb")  # buffered itself
    if kind == "zstd":
        return io.BufferedReader(_ZstdReader(_NotEmpty(raw, kind)))
    if kind == "bzip2":
        return bz2.BZ2File(raw, mode="rb")  # an empty file is already EOFError
    if kind == "xz":
        return lzma.LZMAFile(raw, mode="rb")
    return raw if isinstance(raw, io.BufferedIOBase) else io.BufferedReader(raw)


def _writer(raw: BinaryIO, kind: str) -> BinaryIO:
    if kind == "gzip":
        # mtime 0 and no name in the header: the same records give the same bytes on every run.
        return gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="")
    if kind == "zstd":
        # A content checksum, as the zstd command line writes by default: readers detect corruption.
        compressor = zstandard.ZstdCompressor(write_checksum=True)
        return io.BufferedWriter(compressor.stream_writer(raw, closefd=False, write_return_read=True))
    if kind == "bzip2":
        return bz2.BZ2File(raw, mode="wb")
    if kind == "xz":
        return lzma.LZMAFile(raw, mode="wb")
    return raw


class _NotEmpty(io.RawIOBase):
    """The compressed bytes, passed through; a file without a single byte raises ``EOFError``. gzip
    reads an empty file as no data and a zstd stream may hold no frame, but a ``.gz``/``.zst`` of
    zero bytes is a file cut before its header (``gzip -t`` and ``zstd -t`` reject it too)."""

    def __init__(self, raw: BinaryIO, kind: str):
        self._raw, self._kind, self._seen = raw, kind, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self._raw.read(len(buffer))
        if not data and not self._seen:
            raise EOFError(f"empty file: no {self._kind} stream (truncated before its header)")
        self._seen = True
        buffer[: len(data)] = data
        return len(data)


class _ZstdReader(io.RawIOBase):
    """Zstandard frames decompressed one after another; a stream that ends inside a frame raises
    ``EOFError`` (as gzip does), where ``ZstdDecompressor.stream_reader`` would just stop."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._decompressor = zstandard.ZstdDecompressor()
        self._frame = self._decompressor.decompressobj()
        self._in_frame = False  # part of a frame was fed and its end not seen yet
        self._input = b""  # compressed bytes read but not fed yet
        self._out = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        while not self._out:
            if not self._input:
                self._input = self._raw.read(_ZSTD_READ_BYTES)
                if not self._input:
                    if self._in_frame:
                        raise EOFError("Zstandard stream ended inside a frame (truncated)")
                    return 0
            self._out = memoryview(self._feed())
        size = min(len(buffer), len(self._out))
        buffer[:size] = self._out[:size]
        self._out = self._out[size:]
        return size

    def _feed(self) -> bytes:
        """Decompresses pending input up to the end of the current frame, no further: a good
        frame's lines come out before an error in the bytes after it."""
        out = self._frame.decompress(self._input)
        self._input = b""
        self._in_frame = not self._frame.eof
        if self._frame.eof:
            self._input = self._frame.unused_data
            self._frame = self._decompressor.decompressobj()
        return out
