"""``manifest.json``: what a built corpus contains and how to check it (DESIGN.md contract).

    {
      "format": "korpus.corpus/2",
      "tokenizer": {"path", "sha256", "vocab_size", "special_tokens": {name: id}},
      "phases": [{"name", "seq_len", "rows", "files": [{"path", "sha256", "rows", "bytes"}],
                  "tokens_per_bucket": {bucket: n}, "fim": {"none"|"psm"|"spm": segments},
                  ...phase statistics}],
      "balance": {...achieved shares and repeat figures},
      "config": {...the BuildConfig used},
      "provenance": {"software": {...}, "input_stats": {...stats.json of the curated input or null}}
    }

File paths are relative to the corpus directory, so a corpus can be moved or copied as a whole.
The manifest holds no timestamps or absolute host paths of outputs: a rebuild is byte-identical.
The corpus directory may be a URL of a Beam filesystem (``corpus.storage.is_url``): save, load,
verify and ``file_digests`` then go through Beam's ``FileSystems``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from corpus.hashing import sha256_file
from corpus.storage import create_atomic, exists, is_url, join, list_files, open_read

MANIFEST_NAME = "manifest.json"
FORMAT = "korpus.corpus/2"
FORMAT_1 = "korpus.corpus/1"  # before the context phases were renamed: "stages", "stage2_plan"


def upgraded(data: dict[str, Any]) -> dict[str, Any]:
    """A manifest's JSON in the current format. A ``korpus.corpus/1`` manifest names its context phases
    ``stages`` (in ``balance`` too) and phase 2's fill plan ``stage2_plan``; it reads as /2 with the
    phase names and files it has, so corpora built before the rename still train, export and report."""
    if data.get("format") != FORMAT_1:
        return data
    phases = []
    for phase in data.get("stages", []):
        stats = {("phase2_plan" if key == "stage2_plan" else key): value for key, value in phase.get("stats", {}).items()}
        phases.append({**phase, "stats": stats})
    balance = {("phases" if key == "stages" else key): value for key, value in data.get("balance", {}).items()}
    rest = {key: value for key, value in data.items() if key != "stages"}
    return {**rest, "format": FORMAT, "phases": phases, "balance": balance}


class ManifestError(ValueError):
    """The manifest is missing, malformed, or does not match the files on disk."""


@dataclass
class TokenizerInfo:
    path: str
    sha256: str  # of tokenizer.json
    vocab_size: int
    special_tokens: dict[str, int]
    files: dict[str, str] = field(default_factory=dict)  # every file of the directory -> sha256


@dataclass(frozen=True)
class ShardFile:
    """What the manifest records about one written file (``path`` relative to the corpus dir)."""

    path: str
    sha256: str
    rows: int
    bytes: int


@dataclass
class PhaseManifest:
    name: str
    seq_len: int
    files: list[ShardFile]
    tokens_per_bucket: dict[str, int]
    fim: dict[str, int]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "seq_len": self.seq_len, "rows": self.rows,
                "files": [asdict(f) for f in self.files], "tokens_per_bucket": self.tokens_per_bucket,
                "fim": self.fim, "stats": self.stats}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PhaseManifest":
        return cls(name=data["name"], seq_len=int(data["seq_len"]),
                   files=[ShardFile(**f) for f in data["files"]],
                   tokens_per_bucket=data["tokens_per_bucket"], fim=data["fim"], stats=data.get("stats", {}))


@dataclass
class Manifest:
    tokenizer: TokenizerInfo
    phases: list[PhaseManifest]
    balance: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    root: Path | str | None = None  # where it was loaded from (a str for a URL); not serialized

    def phase(self, name: str) -> PhaseManifest:
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise ManifestError(f"no phase {name!r} in manifest (phases: {[s.name for s in self.phases]})")

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "tokenizer": asdict(self.tokenizer),
                "phases": [s.to_json() for s in self.phases], "balance": self.balance,
                "config": self.config, "provenance": self.provenance}

    def save(self, corpus_dir: str | Path) -> str:
        path = join(corpus_dir, MANIFEST_NAME)
        text = json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        with create_atomic(path) as sink:
            sink.write(text.encode("utf-8"))
        return path

    @classmethod
    def load(cls, corpus_dir: str | Path) -> "Manifest":
        """From a corpus directory or, locally, the manifest file itself (a URL names the directory)."""
        if is_url(corpus_dir):
            root: Path | str = str(corpus_dir)
            path = join(root, MANIFEST_NAME)
        else:
            local = Path(corpus_dir)
            path = str(local / MANIFEST_NAME if local.is_dir() else local)
            root = Path(path).parent
        if not exists(path):
            raise ManifestError(f"{path}: no manifest (was the build run to completion?)")
        try:
            with open_read(path) as fh:
                data = upgraded(json.loads(fh.read().decode("utf-8")))
            if data.get("format") != FORMAT:
                raise ManifestError(f"{path}: format {data.get('format')!r}, expected {FORMAT!r}")
            return cls(tokenizer=TokenizerInfo(**data["tokenizer"]),
                       phases=[PhaseManifest.from_json(s) for s in data["phases"]],
                       balance=data.get("balance", {}), config=data.get("config", {}),
                       provenance=data.get("provenance", {}), root=root)
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"{path}: malformed manifest: {exc}") from exc

    def verify(self, phases: Iterable[str] | None = None, hashes: bool = True) -> None:
        """Check that every file of the named phases (default: all) exists with the recorded row
        count and, if ``hashes``, sha256. Raises ``ManifestError`` naming the first mismatch."""
        import pyarrow as pa
        import pyarrow.ipc as ipc

        if self.root is None:
            raise ManifestError("verify() needs a manifest loaded from disk")
        names = set(phases) if phases is not None else {s.name for s in self.phases}
        for phase in (s for s in self.phases if s.name in names):
            for f in phase.files:
                path = join(self.root, f.path)
                if not exists(path):
                    raise ManifestError(f"{phase.name}: missing file {path}")
                if is_url(path):  # one download serves the hash and the row count (shards are bounded)
                    with open_read(path) as fh:
                        data = fh.read()
                    digest, source = hashlib.sha256(data).hexdigest(), pa.BufferReader(data)
                else:
                    digest, source = sha256_file(path) if hashes else "", pa.memory_map(path, "r")
                if hashes and digest != f.sha256:
                    raise ManifestError(f"{phase.name}: sha256 mismatch for {path}")
                with source:
                    reader = ipc.open_file(source)
                    rows = sum(reader.get_batch(k).num_rows for k in range(reader.num_record_batches))
                if rows != f.rows:
                    raise ManifestError(f"{phase.name}: {path} has {rows} rows, manifest says {f.rows}")


def file_digests(directory: str | Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, keyed by relative path (sorted): the identity of a
    tokenizer directory, independent of where it lies."""
    return {name: sha256_file(join(directory, name)) for name in list_files(directory)}
