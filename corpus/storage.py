"""Where files live: a local path or a URL of any Beam filesystem (``gs://``, ``s3://``, …).

The build writes OUT, and reads curated Parquet and the tokenizer, through these helpers, so the
same code runs on one machine and on Dataflow. URLs go through Beam's ``FileSystems``, imported
only then (the trainer reads shards through ``corpus.shards`` and never loads Beam); local paths
keep plain file I/O. A string with ``://`` is a URL (the curate readers tell them apart the same way).
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


def is_url(path: str | Path) -> bool:
    """A URL of a Beam filesystem (``scheme://…``) rather than a local path."""
    return "://" in str(path)


def _filesystems():
    from apache_beam.io.filesystems import FileSystems  # only for URLs: the trainer never needs Beam

    return FileSystems


def _uncompressed() -> str:
    from apache_beam.io.filesystem import CompressionTypes

    return CompressionTypes.UNCOMPRESSED  # Beam would otherwise pick a codec from the name


def join(root: str | Path, *parts: str) -> str:
    return _filesystems().join(str(root), *parts) if is_url(root) else str(Path(root, *parts))


def split(path: str | Path) -> tuple[str, str]:
    """(parent, name)."""
    return _filesystems().split(str(path)) if is_url(path) else os.path.split(str(path))


def relative(path: str | Path, root: str | Path) -> str:
    """``path`` relative to the directory ``root`` (``a/b``, ``/``-separated for URLs)."""
    if not is_url(path):
        return str(Path(path).relative_to(root))
    prefix = join(root, "")
    if not str(path).startswith(prefix):
        raise ValueError(f"{path} is not under {root}")
    return str(path)[len(prefix):]


def exists(path: str | Path) -> bool:
    return _filesystems().exists(str(path)) if is_url(path) else os.path.exists(path)


def open_read(path: str | Path) -> BinaryIO:
    """A seekable binary stream of the file (object stores serve ranged reads on ``seek``)."""
    if is_url(path):
        return _filesystems().open(str(path), compression_type=_uncompressed())
    return open(path, "rb")


def create(path: str | Path) -> BinaryIO:
    """A new file for writing (local parent directories are made; object stores have none). On an
    object store the object exists only once the stream is closed."""
    if is_url(path):
        return _filesystems().create(str(path), compression_type=_uncompressed())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return open(path, "wb")


def match(pattern: str) -> list[str]:
    """The paths a Beam filesystem glob matches (``**`` crosses directories), sorted; [] for none."""
    return sorted(m.path for r in _filesystems().match([pattern]) for m in r.metadata_list)


def list_files(directory: str | Path) -> list[str]:
    """Every file under ``directory`` (at any depth), relative to it, sorted; none if it is absent."""
    if is_url(directory):
        return [relative(path, directory) for path in match(join(directory, "**"))]
    root = Path(directory)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def remove(path: str | Path) -> None:
    """Delete the file or the directory tree at ``path``, if there is one."""
    if not is_url(path):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
        return
    # An object store has no directories, only names with the prefix "path/".
    targets = [join(path, name) for name in list_files(path)] + ([str(path)] if exists(path) else [])
    if targets:
        _filesystems().delete(targets)


def download(directory: str | Path, local_dir: str | Path) -> Path:
    """Copy every file under ``directory`` (local or URL) into ``local_dir``; returns it."""
    local = Path(local_dir)
    for name in list_files(directory):
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        with open_read(join(directory, name)) as src, open(local / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return local


@contextmanager
def create_atomic(path: str | Path) -> Iterator[BinaryIO]:
    """A new file that appears under its name only when complete: it is written to a temporary name
    beside ``path`` and renamed on success (deleted on failure), so a retried or killed worker never
    leaves a torn file. The temporary name is unique per attempt: two attempts at the same file
    (a retry beside a straggler) do not write into one object."""
    parent, name = split(path)
    tmp = join(parent, f".{name}.tmp-{uuid.uuid4().hex}")
    try:
        with create(tmp) as sink:
            yield sink
    except BaseException:
        remove(tmp)
        raise
    if is_url(path):
        _filesystems().rename([tmp], [str(path)])
    else:
        os.replace(tmp, path)


class DigestingWriter(io.RawIOBase):
    """Passes writes on to ``raw`` and hashes them: a written file's sha256 and size without reading
    it back (from an object store, that would be a second download)."""

    def __init__(self, raw: BinaryIO):
        super().__init__()
        self._raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._raw.write(data)
        self.digest.update(data)
        n = memoryview(data).nbytes
        self.size += n
        return n

    def tell(self) -> int:  # writers that record offsets (Parquet) ask for the position
        return self.size
