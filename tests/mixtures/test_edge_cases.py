"""The build on awkward inputs: a document longer than 32k tokens, a tiny corpus, an empty or
too-small bucket, curated Parquet without a knowledge column, without curate's stats.json or with a
bad bucket, and a build config that still sets the upsampling curate owns or the removed context-level FIM."""
from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from corpus.config import ConfigError
from corpus.document import CODE, KOREAN, MULTILINGUAL
from corpus.manifest import Manifest
from corpus.shards import PhaseReader
from mixtures.balance import BalanceError
from mixtures.build import NO_UPSAMPLING, curated_upsampling
from mixtures.fim import chunk_count
from mixtures.tokenize import CuratedInputError
from tests.conftest import read_sample
from tests.mixtures.conftest import build, write_curate_stats, write_curated

TINY_PHASES = {"context_phases": {"phase1_seq_len": 64, "phase2_seq_len": 256}}


def _rows_are_exact(manifest: Manifest, corpus) -> None:
    for phase in manifest.phases:
        reader = PhaseReader(corpus, phase.name)
        assert phase.rows * phase.seq_len == sum(phase.tokens_per_bucket.values()) + phase.stats["packing"]["padding_tokens"]
        for index in range(len(reader)):
            assert reader.tokens(index).shape == (phase.seq_len,)


def test_a_code_document_longer_than_32k_tokens_is_cut_into_fim_chunks_that_each_fit_a_row(tmp_path, tokenizer_dir):
    from corpus.tokenizer import load

    tok = load(tokenizer_dir)
    longest = max((r for r in read_sample("code") if len(r["text"]) > 100_000), key=lambda r: len(tok.encode(r["text"])))
    n_tokens = len(tok.encode(longest["text"]))
    assert n_tokens > 32768
    records = {KOREAN: read_sample("ko", 60), MULTILINGUAL: read_sample("multi", 40), CODE: [longest]}
    # Half the tokens in phase 2, so that one copy of the long document fits its budget.
    manifest = build(write_curated(tmp_path / "curated", records), tokenizer_dir, tmp_path / "corpus",
                     {"context_phases": {"phase2_fraction": 0.5}})
    _rows_are_exact(manifest, tmp_path / "corpus")
    phase2 = PhaseReader(tmp_path / "corpus", "phase2_32k")
    assert phase2.seq_len == 32768
    pieces: dict[str, int] = {}
    for index in range(len(phase2)):
        row = phase2.row(index)
        ends = [*row.seg_starts[1:].tolist(), phase2.seq_len]
        for doc_id, start, end in zip(row.seg_doc_ids, row.seg_starts.tolist(), ends):
            if doc_id.startswith(longest["id"] + "#"):
                pieces[doc_id] = pieces.get(doc_id, 0) + end - start
    # About ceil(n / (32768 - FIM_ROOM)) chunks of about equal length (one more where character
    # boundaries shorten the cuts), each FIM'd or not on its own, each whole in one row.
    chunks = len(pieces)
    assert chunk_count(n_tokens, 32768) <= chunks <= chunk_count(n_tokens, 32768) + 1 and chunks > 1
    assert sorted(pieces) == sorted(f"{longest['id']}#{k}" for k in range(chunks))
    assert sum(pieces.values()) == pytest.approx(n_tokens, rel=0.01)
    assert max(pieces.values()) <= 32768 and manifest.phase("phase2_32k").stats["packing"]["fim_segments_split"] == 0


def test_a_tiny_corpus_builds_pads_its_last_rows_reports_skipped_documents_and_keeps_rows_exact(tmp_path,
                                                                                                 tokenizer_dir):
    empty = {"id": "empty-doc", "text": ""}
    records = {KOREAN: [*read_sample("ko", 2), empty], MULTILINGUAL: read_sample("multi", 1), CODE: read_sample("code", 2)}
    manifest = build(write_curated(tmp_path / "curated", records), tokenizer_dir, tmp_path / "corpus", TINY_PHASES)
    _rows_are_exact(manifest, tmp_path / "corpus")
    Manifest.load(tmp_path / "corpus").verify()
    assert manifest.phases[0].rows > 0
    assert manifest.provenance["skipped_documents"] == {"tokenize:empty": 1}
    for phase in manifest.phases:  # nothing is dropped: a group's rows with room left are padded
        packing = phase.stats["packing"]
        assert 0 < packing["padding_tokens"] == round(packing["padding_fraction"] * phase.rows * phase.seq_len)


def test_an_empty_bucket_stops_the_cli_with_a_message_naming_it(tmp_path, tokenizer_dir):
    from beam_pipeline import main

    records = {KOREAN: read_sample("ko", 5), MULTILINGUAL: read_sample("multi", 5)}
    config = tmp_path / "build.yaml"
    config.write_text(yaml.safe_dump(TINY_PHASES))
    argv = ["build", "--curated", str(write_curated(tmp_path / "curated", records)), "--tokenizer", str(tokenizer_dir),
            "--output", str(tmp_path / "corpus"), "--config", str(config),
            "--allow-incomplete-input"]  # hand-made curated Parquet: no curate run marked it complete
    with pytest.raises(SystemExit, match=r"build: bucket\(s\) \['code'\] have no documents"):
        main(argv)


def test_small_bucket_cap_builds_without_the_empty_bucket(tmp_path, tokenizer_dir):
    records = {KOREAN: read_sample("ko", 5), MULTILINGUAL: read_sample("multi", 5)}
    config = {**TINY_PHASES, "balance": {"small_bucket": "cap"}}
    manifest = build(write_curated(tmp_path / "curated", records), tokenizer_dir, tmp_path / "corpus", config)
    shares = {b: v["share"] for b, v in manifest.balance["buckets"].items()}
    assert shares[CODE] == 0.0
    assert shares[KOREAN] == pytest.approx(0.5, abs=0.05)


def test_a_total_beyond_max_epochs_is_a_clear_error_naming_the_bucket(tmp_path, tokenizer_dir):
    records = {KOREAN: read_sample("ko", 3), MULTILINGUAL: read_sample("multi", 20), CODE: read_sample("code", 20)}
    with pytest.raises(BalanceError, match="bucket korean has .* epochs > balance.max_epochs=4.0"):
        build(write_curated(tmp_path / "curated", records), tokenizer_dir, tmp_path / "corpus", TINY_PHASES,
              total_tokens=3_000_000)


def test_curated_parquet_without_knowledge_column_means_no_upsampling(tmp_path, tokenizer_dir):
    records = {KOREAN: read_sample("ko", 20), MULTILINGUAL: read_sample("multi", 10), CODE: read_sample("code", 20)}
    curated = write_curated(tmp_path / "curated", records, drop_knowledge_column=True)
    write_curate_stats(curated, {"threshold": 0.5, "max_repeat": 4.0})
    manifest = build(curated, tokenizer_dir, tmp_path / "corpus", TINY_PHASES)
    korean = manifest.balance["buckets"][KOREAN]
    assert korean["weighted_cost"] == korean["unique_tokens"] * (1 << 16)  # every weight is exactly 1


def test_a_curated_input_without_curate_stats_is_built_without_upsampling_and_says_so(tmp_path, tokenizer_dir,
                                                                                     caplog):
    records = {KOREAN: read_sample("ko", 20), MULTILINGUAL: read_sample("multi", 10), CODE: read_sample("code", 20)}
    scores = {r["id"]: 1.0 for recs in records.values() for r in recs}  # max_repeat for all, were there a mapping
    with caplog.at_level(logging.WARNING):
        manifest = build(write_curated(tmp_path / "curated", records, scores), tokenizer_dir, tmp_path / "corpus",
                         TINY_PHASES)
    korean = manifest.balance["buckets"][KOREAN]
    assert korean["weighted_cost"] == korean["unique_tokens"] * (1 << 16)  # every weight is exactly 1
    assert manifest.balance["upsampling"] == {"threshold": 0.5, "max_repeat": 1.0, "source": "none: no curate stats.json"}
    assert "building without knowledge upsampling" in caplog.text


def test_curate_stats_without_the_knowledge_record_mean_no_upsampling_and_a_bad_record_is_an_error():
    path = Path("OUT/stats.json")
    config, source = curated_upsampling({"steps": {"pii": {}}}, path)
    assert config == NO_UPSAMPLING and source == "none: stats.json has no steps.knowledge.upsampling"
    with pytest.raises(ConfigError, match=r"OUT/stats.json: knowledge.upsampling.max_repeat: must be >= 1"):
        curated_upsampling({"steps": {"knowledge": {"upsampling": {"threshold": 0.5, "max_repeat": 0.5}}}}, path)


def test_a_build_config_that_sets_balance_upsampling_is_told_where_the_setting_lives(tmp_path):
    from beam_pipeline import main

    config = tmp_path / "build.yaml"
    config.write_text(yaml.safe_dump({"balance": {"upsampling": {"threshold": 0.6}}}))
    argv = ["build", "--curated", str(tmp_path / "curated"), "--tokenizer", str(tmp_path / "tokenizer"),
            "--output", str(tmp_path / "corpus"), "--config", str(config)]
    with pytest.raises(SystemExit, match=r"build: balance\.upsampling: .*knowledge\.upsampling in the curate config"):
        main(argv)


def test_a_build_config_that_asks_for_context_level_fim_is_told_it_was_removed(tmp_path):
    from beam_pipeline import main

    config = tmp_path / "build.yaml"
    config.write_text(yaml.safe_dump({"fim": {"level": "context"}}))
    argv = ["build", "--curated", str(tmp_path / "curated"), "--tokenizer", str(tmp_path / "tokenizer"),
            "--output", str(tmp_path / "corpus"), "--config", str(config)]
    with pytest.raises(SystemExit, match=r"build: fim\.level: .*context-level FIM was removed"):
        main(argv)


def test_a_row_with_an_unknown_bucket_is_a_clear_error(tmp_path, tokenizer_dir):
    curated = write_curated(tmp_path / "curated", {KOREAN: read_sample("ko", 3)})
    path = curated / KOREAN / "part-00000.parquet"
    table = pq.read_table(path)
    pq.write_table(table.set_column(table.schema.get_field_index("bucket"), "bucket",
                                    pa.array(["klingon"] * table.num_rows)), path)
    with pytest.raises(CuratedInputError, match="bucket 'klingon'"):
        build(curated, tokenizer_dir, tmp_path / "corpus", TINY_PHASES)


def test_a_fim_document_that_fits_a_row_only_without_its_sentinels_stays_plain_and_is_counted(tmp_path, tokenizer_dir):
    from corpus.tokenizer import load

    tok = load(tokenizer_dir)
    code = read_sample("code", 3)
    n_tokens = len(tok.encode(code[0]["text"]))
    # Row length n + 2: the plain document fits (n + EOT), its FIM form (n + 3 sentinels + EOT) cannot.
    config = {"fim": {"rate": {CODE: 1.0}}, "context_phases": {"phase1_seq_len": n_tokens + 2, "phase2_seq_len": 4 * n_tokens,
                                                       "phase2_fraction": 0.0}}
    records = {KOREAN: read_sample("ko", 20), MULTILINGUAL: read_sample("multi", 10), CODE: code}
    manifest = build(write_curated(tmp_path / "curated", records), tokenizer_dir, tmp_path / "corpus", config)
    phase1 = manifest.phase("phase1_4k")
    rows = PhaseReader(tmp_path / "corpus", "phase1_4k")
    whole = [rows.row(i) for i in range(len(rows)) if code[0]["id"] in rows.row(i).seg_doc_ids]
    assert whole and all(r.seg_fim[r.seg_doc_ids.index(code[0]["id"])] == 0 for r in whole)
    assert phase1.stats["packing"]["fim_without_room"] == len(whole)  # each copy, drawn at rate 1, kept plain
    assert phase1.stats["packing"]["fim_segments_split"] == 0
