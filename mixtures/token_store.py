"""Spill files for token ids and texts, so that the build's shuffles move references, not data.

The build's global steps (balance, stage, pack, row shuffle) need only small facts per document
(id, bucket, length, knowledge) and, per row, which token ranges it is made of. The token ids
(and, for FIM buckets, the text) are written once to append-only files under the build's work
directory, and the pipeline carries ``Ref``\\s to them; the shard writer reads the ranges back. A runner that keeps shuffled data in memory (Beam's DirectRunner) then holds
a few hundred bytes per document and row instead of the corpus.

The work directory is a local path or a URL of any Beam filesystem (``gs://``, ``s3://``, …;
``corpus.storage.is_url``), visible to every worker, and is deleted when the build ends. Each
writer (one per DoFn bundle) owns one file named by a random UUID. An object on an object store
cannot be read before it is complete, so the rule is the same everywhere: **a file is readable only
once its writer is closed, and writers are closed in the DoFn's ``finish_bundle``** — never in
``teardown``, which runs after the bundle's outputs are committed (and may not run at all), so a
downstream step could hold a ref to an object that does not exist yet. Every read then follows a
barrier that waits for all bundles of the writing step (``mixtures/build.py``):

- ``Tokenize`` writes; ``ApplyFim`` reads texts after ``Balance``'s and ``AssignStages``'s singleton
  side inputs, which are combines over every tokenized document: they exist only once every
  ``Tokenize`` bundle has finished (a side-input barrier, not a GroupByKey).
- ``ApplyFim`` writes; the shard writer reads after ``PackStage``'s two GroupByKeys (pack groups, shards).

A failed and retried bundle leaves an orphan file, never a wrong read: refs of a failed bundle are
discarded by the runner. Reads: local files with ``pread`` (only the bytes asked for are held);
URLs through ``FileSystems.open`` + seek + read (a ranged read; an object store's stream fetches a
whole read buffer around the offset, 16 MiB for Beam's GCS and S3 streams).
"""
from __future__ import annotations

import os
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

import numpy as np

from corpus.storage import create, is_url, join, open_read

Ref = tuple[str, int, int]  # (file name, byte offset, byte length)
_OPEN_FILES = 64  # files a reader keeps open (the least recently used are closed)


class StoreWriter:
    """Appends token arrays and texts to one spill file of ``root``; readable once ``close``\\d."""

    def __init__(self, root: str | Path):
        self._root = str(root)
        self._name = f"{uuid.uuid4().hex}.bin"
        self._sink: BinaryIO | None = None
        self._offset = 0

    def _write(self, data: bytes) -> Ref:
        if self._sink is None:  # an empty bundle leaves no file
            self._sink = create(join(self._root, self._name))
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


class _LocalFile:
    """``pread`` into a fresh buffer: no mapped page of the store stays resident in the worker."""

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_RDONLY)

    def read(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        os.close(self._fd)


class _RemoteFile:
    """A ``FileSystems`` stream; each read seeks, which object stores serve as a ranged read."""

    def __init__(self, path: str):
        self._stream = open_read(path)

    def read(self, offset: int, length: int) -> bytes:
        self._stream.seek(offset)
        return self._stream.read(length)

    def close(self) -> None:
        self._stream.close()


class StoreReader:
    """Reads ``Ref``\\s back, keeping the ``_OPEN_FILES`` most recently used files open."""

    def __init__(self, root: str | Path):
        self._root = str(root)
        self._open = _RemoteFile if is_url(self._root) else _LocalFile
        self._files: OrderedDict[str, _LocalFile | _RemoteFile] = OrderedDict()

    def _read(self, ref: Ref) -> bytes:
        name, offset, length = ref
        file = self._files.get(name)
        if file is None:
            file = self._files[name] = self._open(join(self._root, name))
            while len(self._files) > _OPEN_FILES:
                self._files.popitem(last=False)[1].close()
        self._files.move_to_end(name)
        data = file.read(offset, length)
        if len(data) != length:
            raise OSError(f"token store {name}: short read at {offset} ({len(data)} of {length} bytes)")
        return data

    def tokens(self, ref: Ref) -> np.ndarray:
        return np.frombuffer(self._read(ref), dtype="<u4")

    def text(self, ref: Ref) -> str:
        return self._read(ref).decode("utf-8")

    def close(self) -> None:
        while self._files:
            self._files.popitem()[1].close()
