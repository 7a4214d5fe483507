"""Failures of the machine, not of the input (a full disk, a permission, a missing path), told in one
line that names the path, instead of a 90-line traceback.

Beam re-raises a worker's ``OSError`` as a ``RuntimeError`` whose message ends in ``[while running
'STEP']`` and whose ``__cause__`` is the original; a write that fails has no file name in its
``OSError``, so the message falls back to the directory the command writes. Beam also logs the
worker's traceback before re-raising: ``reported`` silences exactly those log records (an
``OSError``), since the one line says it all; any other error keeps its traceback.
"""
from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from typing import Iterator

_BEAM_STEP = re.compile(r"\[while running '([^']+)'\]")
_BEAM_LOGGERS = ("apache_beam.runners.common", "apache_beam.runners.worker.sdk_worker",
                 "apache_beam.runners.direct.executor")


def readable(path: object) -> str:
    """A path as valid UTF-8: bytes of an OS name that are not UTF-8 appear as ``\\xff``."""
    name = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def os_error_in(exc: BaseException) -> OSError | None:
    """The first ``OSError`` with an errno in ``exc``'s chain of causes (``exc`` itself included)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        # as Python prints the chain: an explicit cause, else the context unless ``raise ... from None``
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return None


def describe(exc: BaseException, where: str | os.PathLike | None = None) -> str | None:
    """``PATH: reason`` for an I/O failure in ``exc``'s chain (``where`` when the error names no
    file), with the Beam step it happened in; None when ``exc`` is no I/O failure."""
    found = os_error_in(exc)
    if found is None:
        return None
    path = found.filename if found.filename is not None else where
    reason = found.strerror or str(found)
    line = f"{readable(path)}: {reason}" if path is not None else reason
    if found.filename2 is not None:
        line += f" (-> {readable(found.filename2)})"
    step = _BEAM_STEP.search(str(exc))
    return line + (f" (while running '{step.group(1)}')" if step else "")


class _DropOsErrorTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and record.exc_info[1] is not None and os_error_in(record.exc_info[1]))


@contextmanager
def reported(command: str, where: str | os.PathLike | None) -> Iterator[None]:
    """Runs the body; an I/O failure ends the command with ``SystemExit("COMMAND: error: PATH: reason")``."""
    quiet = _DropOsErrorTracebacks()
    loggers = [logging.getLogger(name) for name in _BEAM_LOGGERS]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:
        line = describe(exc, where)
        if line is None:
            raise
        raise SystemExit(f"{command}: error: {line}") from exc
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)
