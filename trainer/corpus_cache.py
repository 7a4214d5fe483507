"""Where the trainer's corpus lives: a local directory, or an object-store URL with a local cache.

``--corpus`` may be ``gs://…``, ``s3://…`` or any Beam filesystem URL (``corpus.storage``), as
OLMo-core reads its data from URLs: the manifest is downloaded at start, and each rank downloads a
shard only when it first reads a row of it (``PhaseReader``'s ``fetch`` hook), into
``CACHE/<sha256 of the URL>/`` with the corpus's layout. A shard is memory-mapped from there, as
a local corpus is. Every file is checked against the manifest's sha256 (hashed while it streams
down; a cached copy from an earlier run is hashed once when this process first opens it) and
size: a cached copy that does not match is fetched again, a download that does not match is an
error naming the file and both digests. Downloads go to a temporary name and are renamed when
complete, so ranks sharing a node's cache never read a torn file (two ranks fetching one shard at
once both download it; the second rename replaces identical bytes).

A local ``--corpus`` is read in place, and checked as before (``verify_corpus_files``).
"""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from corpus.hashing import sha256_file
from corpus.manifest import MANIFEST_NAME, Manifest, ManifestError, ShardFile
from corpus.storage import is_url, join, open_read

DEFAULT_CACHE = Path(os.environ.get("KORPUS_CACHE", Path.home() / ".cache" / "korpus")) / "corpus"
_CHUNK = 1 << 22


class CorpusFetchError(ManifestError):
    """A shard downloaded from the corpus URL does not match the manifest."""


class CorpusSource:
    """The corpus as the trainer opens it: ``root`` is the local directory to read (the corpus
    itself, or the cache of a URL), ``manifest`` its manifest, ``fetch`` (None for a local
    corpus) makes one manifest file present and verified under ``root``."""

    def __init__(self, corpus: str | Path, cache_dir: str | Path | None = None, hashes: bool = True):
        self.corpus = str(corpus)
        self.hashes = hashes
        self.remote = is_url(corpus)
        if not self.remote:
            self.root = Path(corpus)
            self.manifest = Manifest.load(self.root)
            return
        base = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
        self.root = base / hashlib.sha256(self.corpus.encode("utf-8")).hexdigest()[:16]
        self.root.mkdir(parents=True, exist_ok=True)
        self._download(join(self.corpus, MANIFEST_NAME), self.root / MANIFEST_NAME)  # always the URL's current one
        self.manifest = Manifest.load(self.root)
        self._verified: set[str] = set()
        self._files = {f.path: f for phase in self.manifest.phases for f in phase.files}

    @property
    def fetch(self):
        return self.local_file if self.remote else None

    def local_file(self, name: str) -> Path:
        """The local path of the manifest file ``name``, downloaded first unless a verified copy is cached."""
        entry = self._files.get(name)
        if entry is None:
            raise ManifestError(f"{self.corpus}: {name} is not a file of the manifest")
        path = self.root / name
        if name in self._verified:
            return path
        if not self._matches(path, entry):
            source = join(self.corpus, name)
            digest, size = self._download(source, path)
            if digest != entry.sha256 or size != entry.bytes:
                path.unlink(missing_ok=True)
                raise CorpusFetchError(f"{source}: downloaded {size} bytes with sha256 {digest}, manifest says "
                                       f"{entry.bytes} bytes with sha256 {entry.sha256}; the corpus at the URL "
                                       "changed or is damaged")
        self._verified.add(name)
        return path

    def _matches(self, path: Path, entry: ShardFile) -> bool:
        if not path.exists() or path.stat().st_size != entry.bytes:
            return False
        return not self.hashes or sha256_file(path) == entry.sha256

    @staticmethod
    def _download(source: str, path: Path) -> tuple[str, int]:
        """Copy ``source`` to ``path`` via a temporary name; returns the sha256 and size of the bytes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
        digest, size = hashlib.sha256(), 0
        try:
            with open_read(source) as src, open(tmp, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return digest.hexdigest(), size
