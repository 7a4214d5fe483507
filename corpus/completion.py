"""Completion markers: a step's output directory is finished only when ``_COMPLETE.json`` is in it.

Every step (a curate phase, curate itself, the tokenizer, the build) writes its marker *last*, after
every file it produced is in place, so a crash, a full disk or a kill leaves a directory without one.
The next step calls ``require_complete`` on its input and refuses a directory without a marker (or
with another step's marker) with a one-line error naming the directory, instead of consuming a torn
output as if it were whole. ``allow_incomplete=True`` (a CLI's explicit override flag) lets a user
read such a directory anyway, knowingly.

The marker records what the step produced (file counts, row counts, fingerprints: whatever the step
passes), so a person or a later step can check the output against it. Written through
``corpus.storage``, so markers work on object stores as on local disks; on an object store the
marker object appears atomically when its upload completes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corpus import storage

MARKER_NAME = "_COMPLETE.json"
MARKER_VERSION = 1


class IncompleteInputError(ValueError):
    """An input directory has no completion marker, or the marker of another step."""


def marker_path(directory: str | Path) -> str:
    return storage.join(directory, MARKER_NAME)


def write_marker(directory: str | Path, step: str, produced: dict[str, Any]) -> None:
    """Mark ``directory`` as the complete output of ``step``. Call it after everything else is
    written. ``produced`` must be JSON-serializable; it is written with sorted keys and no
    timestamp, so the same output gives the same marker bytes."""
    body = {"version": MARKER_VERSION, "step": step, "produced": produced}
    data = json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"
    with storage.create_atomic(marker_path(directory)) as sink:
        sink.write(data)


def read_marker(directory: str | Path) -> dict[str, Any] | None:
    """The marker's contents, or None when there is none (or it is unreadable)."""
    path = marker_path(directory)
    if not storage.exists(path):
        return None
    try:
        with storage.open_read(path) as source:
            return json.loads(source.read().decode("utf-8"))
    except (OSError, ValueError):
        return None


def clear_marker(directory: str | Path) -> None:
    """Remove the marker first when a step starts rewriting its output, so an interrupted rewrite is
    never mistaken for the previous complete output."""
    storage.remove(marker_path(directory))


def require_complete(directory: str | Path, step: str, allow_incomplete: bool = False) -> dict[str, Any] | None:
    """The marker of ``directory``, which must be a complete output of ``step``; raises
    ``IncompleteInputError`` otherwise, unless ``allow_incomplete`` (then returns what it found)."""
    marker = read_marker(directory)
    if allow_incomplete:
        return marker
    if marker is None and not storage.is_url(directory) and not Path(directory).is_dir():
        raise IncompleteInputError(f"{directory}: no such directory (expected the output of {step})")
    if marker is None:
        raise IncompleteInputError(
            f"{directory} has no {MARKER_NAME}: the {step} step that wrote it did not finish "
            f"(rerun it, or pass the override flag to read it anyway)")
    if marker.get("step") != step:
        raise IncompleteInputError(
            f"{directory} is the output of {marker.get('step')!r}, not of {step!r}")
    return marker
