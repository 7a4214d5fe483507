"""Checking an output directory before any work: a typo'd or read-only OUT fails in a second with
one line, not after hours of processing with a 92-line traceback."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

from corpus import storage
from corpus.io_errors import readable


class NotWritableError(OSError):
    """The output directory cannot be created or written; ``str(exc)`` is one line naming it."""

    def __str__(self) -> str:
        return f"{readable(self.filename)}: not writable ({self.strerror})"


def require_writable(directory: str | Path) -> None:
    """Create ``directory`` (and its parents) if needed, then write and delete a probe file in it.
    URLs of object stores get a probe object. Raises ``NotWritableError``."""
    probe_name = f".write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        if storage.is_url(directory):
            probe = storage.join(directory, probe_name)
            with storage.create(probe) as sink:
                sink.write(b"probe")
            storage.remove(probe)
            return
        Path(directory).mkdir(parents=True, exist_ok=True)
        probe = Path(directory) / probe_name
        try:
            with open(probe, "wb") as sink:
                sink.write(b"probe")
                sink.flush()
                os.fsync(sink.fileno())  # a full disk can refuse only at flush
        finally:
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise NotWritableError(exc.errno, exc.strerror or str(exc), str(directory)) from exc
