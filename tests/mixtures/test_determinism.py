"""Same input + config -> byte-identical corpus, whatever the worker count; the seed matters."""
from __future__ import annotations

from pathlib import Path

from tests.mixtures.conftest import FIM_ALL_BUCKETS, build, write_curated


def _files(corpus: Path) -> dict[str, bytes]:
    return {str(p.relative_to(corpus)): p.read_bytes() for p in sorted(corpus.rglob("*")) if p.is_file()}


def test_rebuild_in_two_worker_processes_is_byte_identical_and_a_new_seed_is_not(tmp_path, default_build,
                                                                          tokenizer_dir, small_records):
    _, first = default_build
    curated = write_curated(tmp_path / "curated", small_records)
    again = tmp_path / "corpus"
    build(curated, tokenizer_dir, again, {"fim": FIM_ALL_BUCKETS},
          beam_args=("--direct_running_mode=multi_processing", "--direct_num_workers=2"))
    expected = _files(first)
    assert any(name.endswith(".arrow") for name in expected)
    assert _files(again) == expected

    reseeded = tmp_path / "reseeded"
    build(curated, tokenizer_dir, reseeded, {"fim": FIM_ALL_BUCKETS, "seed": 1})
    assert _files(reseeded) != expected


def test_rebuilding_into_the_same_directory_replaces_the_previous_corpus(tmp_path, tokenizer_dir, small_records):
    curated = write_curated(tmp_path / "curated", {b: recs[:10] for b, recs in small_records.items()})
    corpus = tmp_path / "corpus"
    config = {"context_phases": {"phase1_seq_len": 64, "phase2_seq_len": 256}}
    build(curated, tokenizer_dir, corpus, config)
    first = _files(corpus)
    stale = corpus / "phase1_4k" / "part-99999-00.arrow"
    stale.write_bytes(b"left over from an older build")
    build(curated, tokenizer_dir, corpus, config)
    assert _files(corpus) == first
