"""Synthetic packed corpora in the exact shard/manifest format, written with the build's own ``corpus.shards`` writer.

For the trainer's tests and ``benchmarks/train_mfu.py`` (throughput does not depend on what the tokens say).
Documents are learnable token patterns (an arithmetic progression mod the vocabulary from a random start), so a
tiny model's loss visibly falls within a few dozen steps. Packing mirrors the build's contract: a segment is a
document plus ``<|endoftext|>``; a segment cut by a row boundary continues at offset 0 of the next row.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from corpus.completion import write_marker
from corpus.hashing import sha256_file
from corpus.manifest import Manifest, PhaseManifest, TokenizerInfo
from corpus.shards import PackedRow, write_shard
from corpus.tokenizer.specials import ENDOFTEXT

EOS = 0


def documents(count: int, seed: int, vocab_size: int, min_len: int, max_len: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(count):
        length = int(rng.integers(min_len, max_len + 1))
        start, stride = int(rng.integers(1, vocab_size)), int(rng.integers(1, 4))
        body = 1 + (start + stride * np.arange(length)) % (vocab_size - 1)  # never EOS
        docs.append(np.append(body, EOS).astype(np.uint32))
    return docs


def pack(docs: list[np.ndarray], seq_len: int, id_prefix: str) -> list[PackedRow]:
    """Rows of exactly ``seq_len`` tokens; the last partial row is dropped, as an exact-length packer must."""
    rows, tokens, starts, ids = [], [], [], []
    for index, doc in enumerate(docs):
        offset = 0
        while offset < len(doc):
            take = min(len(doc) - offset, seq_len - len(tokens))
            starts.append(len(tokens))
            ids.append(f"{id_prefix}{index}")
            tokens.extend(doc[offset:offset + take].tolist())
            offset += take
            if len(tokens) == seq_len:
                n = len(starts)
                rows.append(PackedRow(np.array(tokens, dtype=np.uint32), tuple(starts), (0,) * n, tuple(ids), (0,) * n))
                tokens, starts, ids = [], [], []
    return rows


def write_corpus(root: Path, phases: list[tuple[str, int, int]], seed: int = 0, vocab_size: int = 256,
                 doc_len: tuple[int, int] = (4, 40), files_per_phase: int = 2) -> Path:
    """A corpus directory with ``phases`` = [(name, seq_len, rows)], each phase split over ``files_per_phase``
    files, and a manifest whose tokenizer entry is ``root/tokenizer`` (with its sha256 if tokenizer.json is there)."""
    phase_rows = []
    for k, (name, seq_len, n_rows) in enumerate(phases):
        rows: list[PackedRow] = []
        batch = 0
        while len(rows) < n_rows:
            docs = documents(max(16, 4 * seq_len // doc_len[1]), seed * 1000 + k * 100 + batch, vocab_size, *doc_len)
            rows += pack(docs, seq_len, f"{name}-{batch}-")
            batch += 1
        phase_rows.append((name, seq_len, rows[:n_rows]))
    return write_rows(root, phase_rows, vocab_size, {ENDOFTEXT: EOS}, files_per_phase)


def write_rows(root: Path, phases: list[tuple[str, int, list[PackedRow]]], vocab_size: int,
               special_tokens: dict[str, int], files_per_phase: int = 1) -> Path:
    """A corpus directory holding the given rows per phase (``write_corpus``, or a test's own rows)."""
    root.mkdir(parents=True, exist_ok=True)
    phase_manifests = []
    for name, seq_len, rows in phases:
        bounds = np.linspace(0, len(rows), files_per_phase + 1).astype(int)
        files = [write_shard(root / name / f"part-{i:05d}.arrow", rows[lo:hi], seq_len, relative_to=root)
                 for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))]
        phase_manifests.append(PhaseManifest(name, seq_len, files, {"korean": len(rows) * seq_len}, {"none": 0}))
    tokenizer_json = root / "tokenizer" / "tokenizer.json"  # a caller may have put one there first
    tokenizer = TokenizerInfo(path="tokenizer", sha256=sha256_file(tokenizer_json) if tokenizer_json.exists() else "",
                              vocab_size=vocab_size, special_tokens=special_tokens)
    Manifest(tokenizer, phase_manifests).save(root)
    write_marker(root, "build", {"synthetic": True, "phases": {name: len(rows) for name, _, rows in phases}})  # as the build does
    return root
