"""A Beam filesystem held in this process's memory, scheme ``memtest://``, for tests only.

Beam registers no in-memory filesystem, and it finds ``FileSystem`` subclasses by walking the
subclasses of the ones it knows, so importing this module is enough for ``FileSystems`` to serve
``memtest://`` URLs. It behaves like an object store where that matters to the build: there are no
directories, only names, and a created object exists only once its write stream is closed. The
objects live in one process-global dict, so only Beam's in-process runner
(``--direct_running_mode=in_memory``) shares them with the pipeline's workers.
"""
from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

from apache_beam.io.filesystem import BeamIOError, CompressionTypes, FileMetadata, FileSystem

SCHEME = "memtest"
OBJECTS: dict[str, bytes] = {}
_LOCK = threading.Lock()


class _Upload(io.BytesIO):
    """An object being written: stored under its name on ``close``, as an object store finalizes it."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def close(self) -> None:
        if not self.closed:
            with _LOCK:
                OBJECTS[self._path] = self.getvalue()
        super().close()


def _check_uncompressed(compression_type: str) -> None:
    if compression_type not in (CompressionTypes.AUTO, CompressionTypes.UNCOMPRESSED):
        raise ValueError(f"{SCHEME}: compression {compression_type} is not supported")


def _missing(paths: list[str]) -> BeamIOError:
    return BeamIOError("no such object", {p: FileNotFoundError(p) for p in paths})


class MemoryFileSystem(FileSystem):
    @classmethod
    def scheme(cls) -> str:
        return SCHEME

    def join(self, basepath: str, *paths: str) -> str:
        path = basepath
        for part in paths:
            path = path + part if path.endswith("/") else f"{path}/{part}"
        return path

    def split(self, path: str) -> tuple[str, str]:
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path: str) -> None:
        pass  # no directories

    def has_dirs(self) -> bool:
        return False

    def _list(self, dir_or_prefix: str):
        with _LOCK:
            items = [(p, len(b)) for p, b in OBJECTS.items() if p.startswith(dir_or_prefix)]
        for path, size in items:
            yield FileMetadata(path, size, 0.0)

    def create(self, path: str, mime_type: str = "application/octet-stream",
               compression_type: str = CompressionTypes.AUTO) -> io.BytesIO:
        _check_uncompressed(compression_type)
        return _Upload(path)

    def open(self, path: str, mime_type: str = "application/octet-stream",
             compression_type: str = CompressionTypes.AUTO) -> io.BytesIO:
        _check_uncompressed(compression_type)
        with _LOCK:
            if path not in OBJECTS:
                raise _missing([path])
            return io.BytesIO(OBJECTS[path])

    def copy(self, source_file_names: list[str], destination_file_names: list[str]) -> None:
        with _LOCK:
            missing = [s for s in source_file_names if s not in OBJECTS]
            if missing:
                raise _missing(missing)
            for source, destination in zip(source_file_names, destination_file_names):
                OBJECTS[destination] = OBJECTS[source]

    def rename(self, source_file_names: list[str], destination_file_names: list[str]) -> None:
        self.copy(source_file_names, destination_file_names)
        self.delete(source_file_names)

    def exists(self, path: str) -> bool:
        with _LOCK:
            return path in OBJECTS

    def size(self, path: str) -> int:
        return self.metadata(path).size_in_bytes

    def last_updated(self, path: str) -> float:
        return self.metadata(path).last_updated_in_seconds

    def checksum(self, path: str) -> str:
        with _LOCK:
            return hashlib.md5(OBJECTS[path]).hexdigest()

    def metadata(self, path: str) -> FileMetadata:
        with _LOCK:
            if path not in OBJECTS:
                raise _missing([path])
            return FileMetadata(path, len(OBJECTS[path]), 0.0)

    def delete(self, paths: list[str]) -> None:
        with _LOCK:
            missing = [p for p in paths if p not in OBJECTS]
            if missing:
                raise _missing(missing)
            for path in paths:
                del OBJECTS[path]


def upload(local_dir: Path, url: str) -> str:
    """Copy every file under ``local_dir`` to objects under ``url``; returns ``url``."""
    with _LOCK:
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            OBJECTS[f"{url}/{path.relative_to(local_dir).as_posix()}"] = path.read_bytes()
    return url


def under(url: str) -> dict[str, bytes]:
    """The objects whose names start with ``url/``."""
    with _LOCK:
        return {p: b for p, b in OBJECTS.items() if p.startswith(url + "/")}


def clear(url: str) -> None:
    with _LOCK:
        for path in [p for p in OBJECTS if p.startswith(url + "/")]:
            del OBJECTS[path]
