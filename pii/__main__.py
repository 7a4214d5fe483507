"""``python -m pii IN.jsonl OUT.jsonl``: scrub the ``text`` of every JSONL record, streaming.

Each output line is the input record with ``text`` scrubbed and ``"pii"``: the findings (type,
offsets into the original text, score, rule; never the value). ``lang`` and ``bucket`` fields,
when present, choose the recognizers (national phone formats; strict mode for code).
``.gz`` and ``.zst`` paths are (de)compressed (``corpus.compression``, as the curate readers do);
``-`` is stdin/stdout.

A line that is not a JSON object with a string ``text`` (or not UTF-8) is reported on stderr as
``IN:LINE: error`` and left out of the output (writing it unscrubbed could leak); the run goes on,
and the exit status is 1 when any line was bad, 0 otherwise. A compressed input that is damaged
(not gzip/Zstandard data, truncated) is reported the same way at the first line it cannot give;
the lines before it are scrubbed and written.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import IO, ContextManager, Iterator

from corpus.compression import STREAM_ERRORS, open_file
from pii.scrubber import Scrubber


@dataclass
class Tally:
    lines: int = 0
    written: int = 0
    bad: int = 0
    findings: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        found = ", ".join(f"{t}={n}" for t, n in sorted(self.findings.items())) or "none"
        return f"pii: {self.lines} lines, {self.written} written, {self.bad} bad; findings: {found}"


class BadLine(ValueError):
    pass


class BadStream(Exception):
    """The input cannot be read on from here (a damaged compressed stream)."""


def scrub_line(scrubber: Scrubber, raw: bytes) -> tuple[str, Counter]:
    """One output line (no newline) and its finding counts; ``BadLine`` says what is wrong."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadLine(f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise BadLine(f"not JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(record, dict):
        raise BadLine(f"not a JSON object but {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str):
        raise BadLine("no string field 'text'")
    lang, bucket = record.get("lang"), record.get("bucket")
    result = scrubber.scrub(text, lang if isinstance(lang, str) else None, bucket if isinstance(bucket, str) else None)
    record["text"] = result.text
    record["pii"] = [finding.to_json() for finding in result.findings]
    return json.dumps(record, ensure_ascii=False), Counter(result.counts())


def run(source: IO[bytes], sink: IO[str], errors: IO[str], name: str, scrubber: Scrubber) -> Tally:
    tally = Tally()
    try:
        for number, raw in enumerate(_lines(source), start=1):
            tally.lines += 1
            if not raw.strip():
                continue
            try:
                line, counts = scrub_line(scrubber, raw)
            except BadLine as exc:
                tally.bad += 1
                print(f"{name}:{number}: {exc}", file=errors)
                continue
            sink.write(line + "\n")
            tally.written += 1
            tally.findings.update(counts)
    except BadStream as exc:  # the rest is unreadable: one bad line, as the curate readers count one error
        tally.bad += 1
        print(f"{name}:{tally.lines + 1}: {exc}", file=errors)
    return tally


def _lines(source: IO[bytes]) -> Iterator[bytes]:
    """``source``'s lines; a read error becomes ``BadStream``. Only reading is guarded: an error in
    scrubbing or writing (a full disk) is not the input's fault and still stops the run."""
    try:
        yield from source
    except STREAM_ERRORS as exc:
        raise BadStream(f"corrupt compressed stream: {type(exc).__name__}: {exc}") from exc


def _open_in(path: str) -> ContextManager[IO[bytes]]:
    return nullcontext(sys.stdin.buffer) if path == "-" else open_file(path, "rb")


def _open_out(path: str) -> ContextManager[IO[str]]:
    return nullcontext(sys.stdout) if path == "-" else open_file(path, "wt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pii", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", metavar="IN.jsonl")
    parser.add_argument("output", metavar="OUT.jsonl")
    args = parser.parse_args(argv)
    try:
        with _open_in(args.input) as source, _open_out(args.output) as sink:
            tally = run(source, sink, sys.stderr, args.input, Scrubber())
    except OSError as exc:  # a missing input, an unwritable output: say which, no traceback
        print(f"python -m pii: {exc.filename or args.input}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(tally.summary(), file=sys.stderr)
    return 1 if tally.bad else 0


if __name__ == "__main__":
    sys.exit(main())
