"""Where token ids and texts wait between the build's steps, so that its shuffles stay small.

The build's global steps (balance, context phases, pack, row shuffle) need only small facts per document
(id, bucket, length, knowledge) and, per row, which token ranges it is made of. The pipeline
carries a ``Ref`` for each token array and text; the shard writer reads the ranges back. Two kinds:

* **Spill files** (a local OUT; the default on one machine). Ids and texts are written once to
  append-only files under the build's work directory and a ``Ref`` is ``(file, offset, length)``.
  A runner that holds shuffled data in memory (Beam's DirectRunner) then holds a few hundred bytes
  per document and row instead of the corpus. The directory must be visible to every worker (a
  shared mount on a cluster) and is deleted when the build ends.
* **Inline** (OUT on an object store: ``gs://``, ``s3://``, …). A ``Ref`` is the bytes themselves, so
  the data travels through the runner's shuffle, which on Dataflow, Spark and Flink is distributed
  and spills to disk. An object store would serve spill files badly: the shard writer reads refs
  in random order, and Beam's GCS and S3 streams fetch a 16 MiB buffer around each read.

``slice_tokens`` narrows a ``Ref`` to the ids a row uses, for both kinds: a long document cut into
many rows is not read (or, inline, carried) once per row.

Spill-file rule: a file is readable only once its writer is closed, and writers are closed in the
DoFn's ``finish_bundle``, never in ``teardown`` (which runs after the bundle's outputs are committed,
or not at all). Writes are buffered, so a read before the close fails in tests rather than racing.
Every read follows a barrier that waits for all bundles of the writing step (``mixtures/build.py``):

- ``Tokenize`` writes; ``ApplyFim`` reads texts after ``Balance``'s and ``AssignPhases``'s singleton
  side inputs, which are combines over every tokenized document: they exist only once every
  ``Tokenize`` bundle has finished (a side-input barrier, not a GroupByKey).
- ``ApplyFim`` writes; the shard writer reads after ``PackPhase``'s two GroupByKeys (pack groups, shards).

Each writer (one per DoFn bundle) owns one file named by a random UUID. A failed and retried bundle
leaves an orphan file, never a wrong read: refs of a failed bundle are discarded by the runner.
Reads use ``pread`` into fresh buffers: only the bytes asked for are held.
"""
from __future__ import annotations

import os
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

Ref = Union[tuple[str, int, int], bytes]  # (file name, byte offset, byte length), or the bytes inline
_TOKEN_BYTES = 4  # ids are little-endian uint32
_OPEN_FILES = 64  # files a reader keeps open (the least recently used are closed)


def slice_tokens(ref: Ref, start: int, stop: int) -> Ref:
    """The ``Ref`` of ids ``[start, stop)`` of the token array ``ref`` points to."""
    begin, end = start * _TOKEN_BYTES, stop * _TOKEN_BYTES
    if isinstance(ref, bytes):
        return ref[begin:end]
    name, offset, _ = ref
    return (name, offset + begin, end - begin)


class StoreWriter:
    """Appends token arrays and texts to one spill file of ``root`` (readable once ``close``\\d),
    or, with ``root`` None, returns them inline."""

    def __init__(self, root: str | Path | None):
        self._root = None if root is None else Path(root)
        self._name = f"{uuid.uuid4().hex}.bin"
        self._sink: BinaryIO | None = None
        self._offset = 0

    def _write(self, data: bytes) -> Ref:
        if self._root is None:
            return data
        if self._sink is None:  # an empty bundle leaves no file
            self._root.mkdir(parents=True, exist_ok=True)
            self._sink = open(self._root / self._name, "wb")
        self._sink.write(data)
        ref = (self._name, self._offset, len(data))
        self._offset += len(data)
        return ref

    def put_tokens(self, ids: np.ndarray | list[int]) -> Ref:
        return self._write(np.asarray(ids, dtype="<u4").tobytes())

    def put_text(self, text: str) -> Ref:
        return self._write(text.encode("utf-8"))

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None


class StoreReader:
    """Reads ``Ref``\\s back (spill files under ``root``, or inline bytes), keeping the
    ``_OPEN_FILES`` most recently used files open."""

    def __init__(self, root: str | Path | None):
        self._root = None if root is None else Path(root)
        self._fds: OrderedDict[str, int] = OrderedDict()

    def _read(self, ref: Ref) -> bytes:
        if isinstance(ref, bytes):
            return ref
        if self._root is None:
            raise ValueError(f"spill-file ref {ref} but this build keeps its data inline")
        name, offset, length = ref
        fd = self._fds.get(name)
        if fd is None:
            fd = self._fds[name] = os.open(self._root / name, os.O_RDONLY)
            while len(self._fds) > _OPEN_FILES:
                os.close(self._fds.popitem(last=False)[1])
        self._fds.move_to_end(name)
        data = os.pread(fd, length, offset)
        if len(data) != length:
            raise OSError(f"token store {name}: short read at {offset} ({len(data)} of {length} bytes)")
        return data

    def tokens(self, ref: Ref) -> np.ndarray:
        return np.frombuffer(self._read(ref), dtype="<u4")

    def text(self, ref: Ref) -> str:
        return self._read(ref).decode("utf-8")

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.popitem()[1])
