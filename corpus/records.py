"""The one line-record reader: JSONL and line-per-record files, for the curate readers
(``corpus.readers``), the side files (``transforms.record_files``) and ``python -m pii``.

- Lines end at ``\\n`` and nowhere else. U+2028, U+0085, form feed, vertical tab and a lone ``\\r``
  are characters of a record; ``str.splitlines`` would cut a record there. JSON is parsed with
  ``strict=False``: a raw control character inside a string (a tab, a form feed, as some writers
  leave them) is text, not an error. A ``\\r`` before the ``\\n`` is JSON whitespace;
  line-per-record text drops it.
- A UTF-8 byte order mark at the start of the file is an encoding mark, not part of line 1.
- A line longer than ``max_bytes`` is not held in memory: it is skipped to its end and reported
  (``Line.too_large``).
- The stream is decompressed by suffix (``corpus.compression``); a damaged or truncated stream,
  wherever it ends, raises ``DamagedStream`` naming the file and the line it could not give.
- JSON is parsed with bounds (``JsonLimits``): nesting depth and integer digits. Without them a
  record nested 100,000 deep raises ``RecursionError`` and one holding an integer of 10,000 digits
  raises Python's int-conversion ``ValueError``; here both are a ``RecordError`` with a message
  that says which limit the record broke.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

from corpus.compression import STREAM_ERRORS

UTF8_BOM = b"\xef\xbb\xbf"
_SKIP_CHUNK = 1 << 20


@dataclass(frozen=True)
class JsonLimits:
    """Bounds on one JSON record. ``max_depth`` 128: real records nest a few levels (SQuAD's layout
    is 6), while Python's own parser and printer stop near 1,000 with a ``RecursionError``.
    ``max_int_digits`` 4,300 is CPython's own bound on int/str conversion (``sys.int_info``), the
    figure chosen there against quadratic-time denial of service."""

    max_depth: int = 128
    max_int_digits: int = 4300


class RecordError(ValueError):
    """One record is unusable; ``str(exc)`` says why, in one line."""


class DamagedStream(Exception):
    """The rest of the file cannot be read (a corrupt or truncated compressed stream, a failing
    read). ``line`` is the number of the first line it could not give."""

    def __init__(self, path: str, line: int, cause: BaseException):
        self.path, self.line = path, line
        self.reason = f"corrupt compressed stream: {type(cause).__name__}: {cause}"
        super().__init__(f"{path}:{line}: {self.reason}")


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, counting every line (blank ones too)
    raw: bytes  # without the BOM; with its "\n" (the last line may have none)
    too_large: bool = False  # longer than max_bytes: ``raw`` is only its start

    @property
    def blank(self) -> bool:
        return not self.raw.strip()


def read_lines(stream: BinaryIO, path: str, max_bytes: int) -> Iterator[Line]:
    """The lines of a binary ``stream`` (see the module docstring)."""
    number = 0
    while True:
        try:
            raw = stream.readline(max_bytes + 1)
        except STREAM_ERRORS as exc:
            raise DamagedStream(path, number + 1, exc) from exc
        if not raw:
            return
        number += 1
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            _skip_rest_of_line(stream, path, number)
            yield Line(number, raw, too_large=True)
        else:
            yield Line(number, raw)


def _skip_rest_of_line(stream: BinaryIO, path: str, number: int) -> None:
    while True:
        try:
            chunk = stream.readline(_SKIP_CHUNK)
        except STREAM_ERRORS as exc:
            raise DamagedStream(path, number + 1, exc) from exc
        if not chunk or chunk.endswith(b"\n"):
            return


def decode_utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"invalid UTF-8 in {what} at byte {exc.start}: {exc.reason}") from None


def parse_json(text: str, limits: JsonLimits = JsonLimits()) -> Any:
    """``json.loads`` within ``limits``; any failure is a ``RecordError``."""

    def bounded_int(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.max_int_digits:
            raise RecordError(f"JSON integer of {len(digits.lstrip('-')):,} digits "
                              f"(limit {limits.max_int_digits:,})")
        return int(digits)

    try:
        value = json.loads(text, parse_int=bounded_int, strict=False)
    except json.JSONDecodeError as exc:
        raise RecordError(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise RecordError(f"JSON nested deeper than {limits.max_depth} levels") from None
    # Counting brackets is C-speed; only a record with that many brackets can be too deep.
    if text.count("[") + text.count("{") > limits.max_depth and _deeper_than(value, limits.max_depth):
        raise RecordError(f"JSON nested deeper than {limits.max_depth} levels")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def parse_object(raw: bytes, limits: JsonLimits = JsonLimits(), what: str = "JSONL line") -> dict[str, Any]:
    """One JSONL line (bytes) as a JSON object; ``RecordError`` says what is wrong with it."""
    value = parse_json(decode_utf8(raw, what), limits)
    if not isinstance(value, dict):
        raise RecordError(f"JSON record is {type(value).__name__}, expected an object")
    return value


def check_unicode(value: str, what: str) -> str:
    """``value`` if it is valid Unicode (no lone surrogate, as JSON's ``\\ud800`` gives), else ``RecordError``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordError(f"{what} is not valid Unicode ({exc.reason} at char {exc.start})") from None
    return value
