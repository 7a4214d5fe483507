"""The project's hashes: BLAKE2b for keys that must be the same on every run, machine and worker
(shard assignment, sampling, dedup keys, n-gram and shingle hashes, build decisions), never Python's
salted ``hash``; SHA-256 for file integrity (manifests, checkpoints, model sidecars).

The byte order of ``hash64`` is part of each caller's output (shard numbers, sampled documents,
hash tables written to disk), so callers pass the one they have always used.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from corpus.storage import open_read


def blake2b(data: str | bytes, size: int = 8) -> bytes:
    """BLAKE2b digest of ``size`` bytes; a ``str`` is hashed as its UTF-8 bytes."""
    return hashlib.blake2b(data.encode("utf-8") if isinstance(data, str) else data, digest_size=size).digest()


def hash64(data: str | bytes, byteorder: Literal["big", "little"] = "big") -> int:
    """An unsigned 64-bit integer from the 8-byte BLAKE2b digest of ``data``."""
    return int.from_bytes(blake2b(data, 8), byteorder)


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes, streamed; local paths and Beam-filesystem URLs."""
    digest = hashlib.sha256()
    with open_read(path) as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
