"""End-to-end build on real sample data (real tokenizer, Beam DirectRunner): shares, staging,
knowledge upsampling, FIM rates, row shape, manifest. One build is shared by the module's tests."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from corpus.document import BUCKETS, KOREAN
from corpus.manifest import Manifest
from corpus.shards import PAD_BUCKET, PhaseReader
from mixtures.fim import EOT
from tests.mixtures.conftest import (SMALL_PHASES, build, copies_in_shards, segments_in_shards, write_curate_stats,
                                     write_curated)

# The mapping curate recorded (not the default max_repeat 4, so a build that ignored stats.json
# would show): knowledge scores HIGH and LOW get weights 1 + 2 * (0.9 - 0.5) / 0.5 = 2.6 and 1.
UPSAMPLING = {"threshold": 0.5, "max_repeat": 3.0}
HIGH, LOW = 0.9, 0.1
# The smallest bucket runs at max_epochs (4); at the default balance.max_doc_copies (4) every one of its
# documents would have exactly 4 copies, so the cap is raised here to let knowledge-rich documents
# repeat more (the cap itself: tests/mixtures/test_mixture.py).
MAX_EPOCHS, MAX_DOC_COPIES = 4.0, 12


def _knowledge(records: dict[str, list[dict]]) -> dict[str, float]:
    return {r["id"]: (HIGH if i % 5 == 0 else LOW) for recs in records.values() for i, r in enumerate(recs)}


@pytest.fixture(scope="module")
def built(tmp_path_factory, tokenizer_dir, sample_records):
    root = tmp_path_factory.mktemp("build")
    curated = write_curated(root / "curated", sample_records, _knowledge(sample_records))
    write_curate_stats(curated, UPSAMPLING)
    config = {"context_phases": SMALL_PHASES, "balance": {"max_doc_copies": MAX_DOC_COPIES}}
    manifest = build(curated, tokenizer_dir, root / "corpus", config)
    return manifest, root / "corpus"


@pytest.fixture(scope="module")
def tok(tokenizer_dir):
    from corpus.tokenizer import load

    return load(tokenizer_dir)


def test_each_bucket_holds_a_third_of_the_corpus_and_of_each_phase_within_one_percent(built):
    manifest, _ = built
    for bucket in BUCKETS:
        assert manifest.balance["buckets"][bucket]["share"] == pytest.approx(1 / 3, abs=0.01)
    for phase in manifest.phases:
        total = sum(phase.tokens_per_bucket.values())
        assert total > 0
        for bucket in BUCKETS:
            assert phase.tokens_per_bucket[bucket] / total == pytest.approx(1 / 3, abs=0.01), (phase.name, bucket)


def test_phase2_holds_ten_percent_of_the_tokens_and_prefers_long_documents(built):
    manifest, _ = built
    phase1, phase2 = manifest.phases
    tokens = {s.name: sum(s.tokens_per_bucket.values()) for s in (phase1, phase2)}
    assert tokens[phase2.name] / sum(tokens.values()) == pytest.approx(0.10, abs=0.01)
    for bucket in ("korean", "multilingual"):  # no FIM chunks: one segment per document copy
        per_segment = {s.name: s.tokens_per_bucket[bucket] / sum(s.stats["fim_per_bucket"][bucket].values())
                       for s in (phase1, phase2)}
        assert per_segment[phase2.name] > 3 * per_segment[phase1.name], bucket


def test_small_buckets_repeat_up_to_max_epochs_and_large_ones_are_sampled_down(built):
    manifest, _ = built
    epochs = {b: manifest.balance["buckets"][b]["epochs"] for b in BUCKETS}
    assert epochs[KOREAN] == pytest.approx(MAX_EPOCHS, abs=0.05)  # the smallest bucket sets the default total
    assert min(epochs.values()) < 1.0


def test_knowledge_rich_documents_repeat_in_proportion_to_the_weight_curate_recorded(built, tok, sample_records):
    manifest, corpus = built
    copies = copies_in_shards(manifest, corpus, tok.special_tokens[EOT])
    scores = _knowledge(sample_records)
    korean = [r["id"] for r in sample_records[KOREAN]]  # no FIM chunks: ids are document ids
    mean = {s: np.mean([copies[d] for d in korean if scores[d] == s]) for s in (HIGH, LOW)}
    assert mean[HIGH] / mean[LOW] == pytest.approx(2.6, rel=0.15)
    assert manifest.balance["upsampling"] == {**UPSAMPLING, "source": "curate stats.json: steps.knowledge.upsampling"}


def test_fim_rate_and_psm_spm_ratio_match_the_config_within_statistical_tolerance(built):
    manifest, _ = built
    for phase in manifest.phases:
        per_bucket = phase.stats["fim_per_bucket"]
        code = per_bucket["code"]
        n = sum(code.values())
        fim = code["psm"] + code["spm"]
        assert n >= 50
        assert fim / n == pytest.approx(0.5, abs=4 * np.sqrt(0.25 / n)), phase.name
        assert code["spm"] / fim == pytest.approx(0.5, abs=4 * np.sqrt(0.25 / fim)), phase.name
        for bucket in ("korean", "multilingual"):  # text FIM rate defaults to 0
            assert per_bucket[bucket]["psm"] == per_bucket[bucket]["spm"] == 0


def test_every_row_has_exactly_seq_len_tokens_and_well_formed_segments(built, tok):
    manifest, corpus = built
    eot = tok.special_tokens[EOT]
    for phase in manifest.phases:
        reader = PhaseReader(corpus, phase.name)
        assert len(reader) == phase.rows > 0
        assert reader.seq_len == {"phase1": 128, "phase2": 1024}[phase.name]
        for index in range(len(reader)):
            row = reader.row(index)
            assert row.tokens.shape == (reader.seq_len,) and row.tokens.dtype == np.uint32
            starts = row.seg_starts.tolist()
            assert starts[0] == 0 and starts == sorted(set(starts))
            assert all(row.tokens[s - 1] == eot for s in starts[1:])  # every segment before the last ends with EOT
            buckets = row.seg_buckets.tolist()
            assert set(buckets[:-1]) <= {0, 1, 2} and buckets[-1] in {0, 1, 2, PAD_BUCKET}  # padding only last
            assert set(row.seg_fim.tolist()) <= {0, 1, 2}
            assert int(row.tokens.max()) < tok.vocab_size


def test_manifest_verifies_and_records_tokenizer_config_and_counts(built, tokenizer_dir, tok):
    manifest, corpus = built
    reloaded = Manifest.load(corpus)
    reloaded.verify()
    assert reloaded.tokenizer.vocab_size == tok.vocab_size
    assert reloaded.tokenizer.special_tokens[EOT] == tok.special_tokens[EOT]
    assert set(reloaded.tokenizer.files) == {p.name for p in Path(tokenizer_dir).iterdir()}
    assert reloaded.config["context_phases"]["phase2_seq_len"] == 1024
    assert reloaded.provenance["software"]["apache-beam"]
    for phase in reloaded.phases:
        rows_tokens = phase.rows * phase.seq_len
        assert rows_tokens == sum(phase.tokens_per_bucket.values()) + phase.stats["packing"]["padding_tokens"]
        assert sum(phase.fim.values()) > 0


def test_a_document_is_in_both_phases_only_when_it_has_several_copies(built, tok):
    manifest, corpus = built
    phases_of: dict[str, set[str]] = {}
    copies: Counter[str] = Counter()
    for phase, doc_id, bucket, last in segments_in_shards(manifest, corpus, tok.special_tokens[EOT]):
        if bucket in (0, 1):  # text buckets (not code, not padding): no FIM chunks, one EOT per copy
            phases_of.setdefault(doc_id, set()).add(phase)
            copies[doc_id] += int(last)
    in_both = [d for d, names in phases_of.items() if len(names) == 2]
    assert in_both, "expected some repeated documents split between the phases"
    assert all(copies[d] >= 2 for d in in_both)
