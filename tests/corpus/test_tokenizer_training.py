"""Training from curated Parquet: the CLI, the balanced 1:1:1 sample, byte-identical output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.completion import write_marker
from corpus.tokenizer import train, training
from corpus.tokenizer.sample import BalancedSample
from tests.conftest import read_sample

ROOT = Path(__file__).resolve().parents[2]


def _write_bucket(curated: Path, bucket: str, records: list[dict], shards: int = 2) -> None:
    (curated / bucket).mkdir(parents=True)
    for shard in range(shards):
        rows = records[shard::shards]
        table = pa.table({"id": [f"{bucket}-{r['id']}" for r in rows], "text": [r["text"] for r in rows],
                          "bucket": [bucket] * len(rows)})
        pq.write_table(table, curated / bucket / f"part-{shard:05d}-of-{shards:05d}.parquet")


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("out") / "curated"
    _write_bucket(root, "korean", read_sample("ko", 150))  # the smallest bucket sets the budget
    _write_bucket(root, "multilingual", read_sample("multi", 60))
    _write_bucket(root, "code", read_sample("code", 60))
    write_marker(root.parent, "curate", {})  # as a finished curate leaves OUT: the tokenizer CLI requires it
    return root


def _cli(curated: Path, output: Path, hash_seed: str) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    result = subprocess.run(
        [sys.executable, "beam_pipeline.py", "tokenizer", "--curated", str(curated), "--output", str(output),
         "--vocab-size", "1500"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_cli_trains_byte_identical_tokenizers_in_separate_processes(curated, tmp_path):
    first = _cli(curated, tmp_path / "a", hash_seed="1")
    second = _cli(curated, tmp_path / "b", hash_seed="2")
    assert first["vocab_size"] == 1500
    for name in ("tokenizer.json", "korpus_tokenizer.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["tokenizer_json_sha256"] == second["tokenizer_json_sha256"]


def test_sample_takes_equal_characters_from_each_bucket(curated):
    sample = BalancedSample(curated)
    texts = list(sample.texts())
    available = {b: s.available_chars for b, s in sample.buckets.items()}
    assert sample.budget == available["korean"] < available["multilingual"] < available["code"]
    longest = max(map(len, texts))
    for bucket, stats in sample.buckets.items():
        assert sample.budget <= stats.chars <= sample.budget + longest, bucket
    assert sample.buckets["code"].chars < 0.5 * available["code"]


def test_sample_respects_the_per_bucket_character_cap(curated):
    sample = BalancedSample(curated, chars_per_bucket=20_000)
    texts = list(sample.texts())
    assert sample.budget == 20_000
    assert all(20_000 <= s.chars <= 20_000 + max(map(len, texts)) for s in sample.buckets.values())


def test_sample_can_read_only_the_first_shards_of_each_bucket(curated):
    whole = BalancedSample(curated)
    first = BalancedSample(curated, max_shards=1)
    assert all(s.files == 1 for s in first.buckets.values())
    assert all(first.buckets[b].available_chars < whole.buckets[b].available_chars for b in whole.buckets)
    shard0 = {t for b in ("korean", "multilingual", "code")
              for t in pq.read_table(curated / b / "part-00000-of-00002.parquet").column("text").to_pylist()}
    assert set(first.texts()) <= shard0


def test_empty_curated_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no curated text"):
        BalancedSample(tmp_path)


def test_vocab_smaller_than_specials_plus_bytes_is_rejected():
    with pytest.raises(ValueError, match="special tokens \\+ byte alphabet"):
        train(["abc"], 100)


def test_cli_reports_a_missing_curated_directory_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "beam_pipeline.py", "tokenizer", "--curated", str(tmp_path / "none"),
                             "--output", str(tmp_path / "tok")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"tokenizer: error: {tmp_path} has no _COMPLETE.json" in result.stderr  # no curate ran there
    assert "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "beam_pipeline.py", "tokenizer", "--curated", str(tmp_path / "none"),
                             "--output", str(tmp_path / "tok"), "--allow-incomplete-input"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "tokenizer:" in result.stderr and "no curated text" in result.stderr
    assert "Traceback" not in result.stderr


def test_pre_tokenizing_on_worker_processes_trains_the_same_tokenizer(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "_CHUNK_TEXTS", 7)  # many chunks in flight, returned out of order
    texts = [record["text"] for name in ("ko", "code") for record in read_sample(name, 40)]
    parallel = train(texts, 2000, num_workers=2).save(tmp_path / "parallel")
    single = train(texts, 2000).save(tmp_path / "single")
    assert (parallel / "tokenizer.json").read_bytes() == (single / "tokenizer.json").read_bytes()
