"""``python -m pii IN.jsonl OUT.jsonl``: scrub the ``text`` of every JSONL record, streaming.

Each output line is the input record with ``text`` scrubbed and ``"pii"``: the findings (type,
offsets into the original text, score, rule; never the value). ``lang`` and ``bucket`` fields,
when present, choose the recognizers (national phone formats; strict mode for code).
``.gz`` and ``.zst`` paths are (de)compressed (``corpus.compression``, as the curate readers do);
``-`` is stdin/stdout.

Lines are read by the curate readers' line reader (``corpus.records``: split at ``\n`` only, JSON
bounded in depth and integer digits). A line that is not a JSON object with a string ``text``,
not UTF-8, too deep, holding a too-long integer or a lone surrogate (``"\\ud800"``), or one the
scrubber fails on, is reported on stderr as ``IN:LINE: error`` and left out of the output (writing
it unscrubbed could leak); the run always goes on to the end of the file. A compressed input that
is damaged (not gzip/Zstandard data, truncated wherever it was cut) is reported the same way at
the first line it cannot give; the lines before it are scrubbed and written. The output file
appears, complete, only when the input has been read to its end (written under a temporary name,
then renamed): it holds every good record.

Exit status: 0 when every line was good, 1 when any line (or the stream) was bad, 2 when the run
could not happen or finish (a missing input, an unwritable output, a full disk: one line naming the
path).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import IO, ContextManager, Iterator

from corpus.compression import open_file
from corpus.io_errors import readable
from corpus.records import DamagedStream, RecordError, check_unicode, parse_object, read_lines
from pii.scrubber import Scrubber

MAX_LINE_BYTES = 64 * 1024 * 1024  # the curate readers' default record bound


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


def scrub_line(scrubber: Scrubber, raw: bytes) -> tuple[str, Counter]:
    """One output line (no newline) and its finding counts; ``BadLine`` says what is wrong."""
    try:
        record = parse_object(raw, what="line")
        text = record.get("text")
        if not isinstance(text, str):
            raise BadLine("no string field 'text'")
        check_unicode(text, "'text'")
    except RecordError as exc:
        raise BadLine(str(exc)) from exc
    lang, bucket = record.get("lang"), record.get("bucket")
    try:
        result = scrubber.scrub(text, lang if isinstance(lang, str) else None, bucket if isinstance(bucket, str) else None)
    except Exception as exc:  # a record the scrubber cannot handle is left out, not leaked, and the run goes on
        raise BadLine(f"scrubber failed: {type(exc).__name__}: {exc}") from exc
    record["text"] = result.text
    record["pii"] = [finding.to_json() for finding in result.findings]
    line = json.dumps(record, ensure_ascii=False)
    try:
        check_unicode(line, "record")  # a lone surrogate in another field: UTF-8 cannot hold it
    except RecordError as exc:
        raise BadLine(str(exc)) from exc
    return line, Counter(result.counts())


def run(source: IO[bytes], sink: IO[str], errors: IO[str], name: str, scrubber: Scrubber) -> Tally:
    tally = Tally()
    try:
        for line in read_lines(source, name, MAX_LINE_BYTES):
            tally.lines += 1
            try:
                if line.too_large:
                    raise BadLine(f"record too large (> {MAX_LINE_BYTES} bytes)")
                if line.blank:
                    continue
                out, counts = scrub_line(scrubber, line.raw)
            except BadLine as exc:
                tally.bad += 1
                print(f"{name}:{line.number}: {exc}", file=errors)
                continue
            sink.write(out + "\n")  # an error writing (a full disk) is not the input's fault: it stops the run
            tally.written += 1
            tally.findings.update(counts)
    except DamagedStream as damage:  # the rest is unreadable: one bad line, as the curate readers count one error
        tally.bad += 1
        print(f"{name}:{damage.line}: {damage.reason}", file=errors)
    return tally


def _open_in(path: str) -> ContextManager[IO[bytes]]:
    return nullcontext(sys.stdin.buffer) if path == "-" else open_file(path, "rb")


@contextmanager
def _open_out(path: str) -> Iterator[IO[str]]:
    """The output, written beside ``path`` under a temporary name and renamed when complete."""
    if path == "-":
        yield sys.stdout
        return
    parent, base = os.path.split(os.path.abspath(path))
    temporary = os.path.join(parent, f".{base}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        raw = open(temporary, "wb")
    except OSError as exc:  # name the output the user gave, not the temporary name
        raise OSError(exc.errno, exc.strerror, path) from exc
    try:
        with open_file(path, "wt", raw) as sink:  # compressed by the final name
            yield sink
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pii", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", metavar="IN.jsonl")
    parser.add_argument("output", metavar="OUT.jsonl")
    args = parser.parse_args(argv)
    try:
        with _open_in(args.input) as source, _open_out(args.output) as sink:
            tally = run(source, sink, sys.stderr, args.input, Scrubber())
    except OSError as exc:  # a missing input, an unwritable output, a full disk: say which, no traceback
        where = exc.filename if exc.filename is not None else args.output
        print(f"python -m pii: {readable(where)}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(tally.summary(), file=sys.stderr)
    return 1 if tally.bad else 0


if __name__ == "__main__":
    sys.exit(main())
