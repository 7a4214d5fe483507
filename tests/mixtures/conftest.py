"""Fixtures for the build tests: a small real tokenizer and curated Parquet written from the
shared sample data (curate's schema, ``corpus.parquet.CURATED_SCHEMA``)."""
from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.config import from_dict
from corpus.document import CODE, CODE_KIND, KOREAN, MULTILINGUAL, Document
from corpus.manifest import Manifest, PhaseManifest
from corpus.parquet import CURATED_SCHEMA, curated_row
from corpus.shards import PAD_BUCKET, PhaseReader, ShardRow
from mixtures.build import BuildConfig, run_build
from tests.conftest import read_sample

SAMPLES = {KOREAN: "ko", MULTILINGUAL: "multi", CODE: "code"}
# Small sequence lengths keep the tests fast; the production defaults are 4,096 / 32,768.
SMALL_PHASES = {"phase1_name": "phase1", "phase1_seq_len": 128, "phase2_name": "phase2", "phase2_seq_len": 1024}


def write_curated(root: Path, records: dict[str, list[dict]], knowledge: dict[str, float] | None = None,
                  drop_knowledge_column: bool = False, cluster_sizes: dict[str, int] | None = None) -> Path:
    """``root/<bucket>/part-00000.parquet`` with curate's columns; ``knowledge`` maps id -> score;
    ``cluster_sizes`` (id -> MinHash cluster size, 1 if absent) adds the ``cluster_size`` column."""
    knowledge = knowledge or {}
    for bucket, recs in records.items():
        docs = [Document(id=r["id"], text=r["text"], source=r.get("source", ""), bucket=bucket,
                         lang=r.get("lang", ""), kind=CODE_KIND if bucket == CODE else "text",
                         knowledge=knowledge.get(r["id"], 0.0)) for r in recs]
        table = pa.Table.from_pylist([curated_row(d) for d in docs], schema=CURATED_SCHEMA)
        if drop_knowledge_column:
            table = table.drop_columns(["knowledge"])
        if cluster_sizes is not None:
            sizes = pa.array([cluster_sizes.get(d.id, 1) for d in docs], pa.int32())
            if "cluster_size" in table.column_names:  # curate writes it (MinHash)
                table = table.drop_columns(["cluster_size"])
            table = table.append_column("cluster_size", sizes)
        (root / bucket).mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / bucket / "part-00000.parquet")
    return root


def write_curate_stats(curated: Path, upsampling: dict[str, float]) -> Path:
    """The part of curate's ``stats.json`` the build reads, where curate writes it (beside ``curated/``)."""
    path = curated.parent / "stats.json"
    path.write_text(json.dumps({"steps": {"knowledge": {"upsampling": upsampling}}}), encoding="utf-8")
    return path


def rows_in_shards(manifest: Manifest, corpus: Path) -> Iterator[tuple[PhaseManifest, ShardRow]]:
    """Every row of every context phase, in the training order of the files."""
    for phase in manifest.phases:
        reader = PhaseReader(corpus, phase.name)
        for index in range(len(reader)):
            yield phase, reader.row(index)


def document_segments(manifest: Manifest, corpus: Path) -> Iterator[tuple[int, str, int, list[int]]]:
    """``(seq_len, segment id, FIM mode, token ids)`` of every segment of every row but the padding."""
    for phase, row in rows_in_shards(manifest, corpus):
        ends = [*row.seg_starts[1:].tolist(), phase.seq_len]
        for doc_id, start, end, bucket, fim in zip(row.seg_doc_ids, row.seg_starts.tolist(), ends,
                                                   row.seg_buckets.tolist(), row.seg_fim.tolist()):
            if bucket != PAD_BUCKET:
                yield phase.seq_len, doc_id, fim, row.tokens[start:end].tolist()


def segments_in_shards(manifest: Manifest, corpus: Path, eot: int) -> Iterator[tuple[str, str, int, bool]]:
    """``(phase, segment id, bucket id, ends the copy)`` for every segment piece of every row, read as
    the trainer reads them: each copy of a document (or FIM chunk) ends with exactly one
    ``<|endoftext|>``, in whichever row its last piece lies."""
    for phase, row in rows_in_shards(manifest, corpus):
        ends = [*row.seg_starts[1:].tolist(), phase.seq_len]
        for doc_id, end, bucket in zip(row.seg_doc_ids, ends, row.seg_buckets.tolist()):
            yield phase.name, doc_id, bucket, bool(row.tokens[end - 1] == eot)


def copies_in_shards(manifest: Manifest, corpus: Path, eot: int) -> Counter[str]:
    """Segment id -> copies in the shards."""
    return Counter(doc_id for _, doc_id, _, last in segments_in_shards(manifest, corpus, eot) if last)


def build(curated: str | Path, tokenizer: str | Path, output: str | Path, config: dict[str, Any] | None = None,
          total_tokens: int | None = None, beam_args: tuple[str, ...] = ()) -> Manifest:
    return run_build(curated, tokenizer, output, total_tokens, from_dict(BuildConfig, config or {}), list(beam_args))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    from corpus.tokenizer import train

    texts = [r["text"] for name in SAMPLES.values() for r in read_sample(name, 150)]
    directory = tmp_path_factory.mktemp("tokenizer")
    train(texts, vocab_size=2048).save(directory)
    return directory


@pytest.fixture(scope="session")
def sample_records() -> dict[str, list[dict]]:
    """Korean is the smallest bucket here (so it repeats and the others are sampled down); both
    other buckets hold documents of 100k characters, longer than a phase-2 row."""
    return {KOREAN: read_sample("ko", 200), MULTILINGUAL: read_sample("multi", 120), CODE: read_sample("code", 200)}


# FIM on every bucket (code 0.5, text 0.3) so that segments of all three buckets are FIM-checked.
FIM_ALL_BUCKETS = {"rate": {KOREAN: 0.3, MULTILINGUAL: 0.3, CODE: 0.5}}


@pytest.fixture(scope="session")
def small_records() -> dict[str, list[dict]]:
    return {KOREAN: read_sample("ko", 60), MULTILINGUAL: read_sample("multi", 40), CODE: read_sample("code", 60)}


@pytest.fixture(scope="session")
def default_build(tmp_path_factory, tokenizer_dir, small_records) -> tuple[Manifest, Path]:
    """A build at the production sequence lengths (4,096 / 32,768) on a small corpus: most
    documents fit whole in a phase-1 row, so their segments can be decoded and compared."""
    root = tmp_path_factory.mktemp("default_build")
    curated = write_curated(root / "curated", small_records)
    return build(curated, tokenizer_dir, root / "corpus", {"fim": FIM_ALL_BUCKETS}), root / "corpus"


@pytest.fixture
def memtest_root() -> Iterator[str]:
    """A fresh prefix of the in-memory Beam filesystem (``tests/mixtures/memfs.py``), emptied after."""
    from tests.mixtures import memfs

    root = f"{memfs.SCHEME}://{uuid.uuid4().hex}"
    yield root
    memfs.clear(root)
