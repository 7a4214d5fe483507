"""The tokenizer's one-pass sample: the reservoir's rule and bound, independence from shard layout,
the seed, and curated input (and tokenizer output) on an object store."""
from __future__ import annotations

import argparse
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.tokenizer import cli, sample as sample_module
from corpus.tokenizer.sample import BalancedSample, Reservoir
from tests.conftest import read_sample
from tests.mixtures import memfs


def _write(curated: Path, buckets: dict[str, list[dict]], shards: int) -> Path:
    for bucket, records in buckets.items():
        (curated / bucket).mkdir(parents=True, exist_ok=True)
        for shard in range(shards):
            rows = records[shard::shards]
            pq.write_table(pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]}),
                           curated / bucket / f"part-{shard:05d}.parquet", row_group_size=7)
    return curated


@pytest.fixture(scope="module")
def records() -> dict[str, list[dict]]:
    return {bucket: [{"id": f"{bucket}-{i}", "text": r["text"]} for i, r in enumerate(read_sample(name, n))]
            for bucket, name, n in (("korean", "ko", 80), ("multilingual", "multi", 40), ("code", "code", 40))}


def _texts(curated, **kwargs) -> tuple[list[str], dict]:
    with BalancedSample(curated, **kwargs) as sample:
        return list(sample.texts()), sample.report()


def test_reservoir_keeps_the_smallest_rank_prefix_reaching_the_cap_and_never_holds_more(tmp_path, monkeypatch):
    monkeypatch.setattr(sample_module, "_COMPACT_MIN_BYTES", 0)  # compact on every occasion
    rng = random.Random(3)
    docs = [(rng.getrandbits(64), "x" * rng.randint(1, 50)) for _ in range(3000)]
    cap, longest = 2000, 50
    reservoir = Reservoir(cap, tmp_path / "spool")
    for rank, text in docs:
        reservoir.add(rank, text)
        assert reservoir.chars <= cap + longest
    expected, total = [], 0
    for rank, text in sorted(docs):
        if total >= cap:
            break
        expected.append(text)
        total += len(text)
    held = [text for _, text in reservoir.in_rank_order()]
    assert held == expected
    assert (tmp_path / "spool").stat().st_size <= 2 * sum(map(len, held)) + longest


def test_sample_does_not_depend_on_how_the_bucket_is_sharded(tmp_path, records):
    two, report_two = _texts(_write(tmp_path / "a", records, 2), chars_per_bucket=15_000)
    five, report_five = _texts(_write(tmp_path / "b", records, 5), chars_per_bucket=15_000)
    assert two == five
    assert report_two["buckets"]["korean"]["docs"] == report_five["buckets"]["korean"]["docs"] > 0
    assert report_two["budget_chars_per_bucket"] == 15_000


def test_sample_overshoots_the_budget_by_less_than_one_document(tmp_path, records):
    curated = _write(tmp_path / "c", records, 3)
    empty = pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    pq.write_table(empty, curated / "korean" / "part-empty.parquet")  # a shard with no rows
    pq.write_table(pa.table({"id": ["null", "blank"], "text": [None, ""]}), curated / "code" / "part-blank.parquet")
    texts, report = _texts(curated)
    budget = report["budget_chars_per_bucket"]
    assert budget == report["buckets"]["korean"]["available_chars"]  # the smallest bucket, all of it
    for bucket, stats in report["buckets"].items():
        assert stats["available_docs"] == len(records[bucket])
        assert budget <= stats["chars"] < budget + max(len(r["text"]) for r in records[bucket]), bucket


def test_another_seed_draws_another_sample_and_the_same_seed_the_same(tmp_path, records):
    curated = _write(tmp_path / "d", records, 2)
    zero, _ = _texts(curated, chars_per_bucket=10_000)
    assert _texts(curated, chars_per_bucket=10_000, seed=0)[0] == zero
    assert _texts(curated, chars_per_bucket=10_000, seed=1)[0] != zero


def test_sample_streamed_from_an_object_store_equals_the_local_sample(tmp_path, records):
    curated = _write(tmp_path / "e", records, 3)
    url = memfs.upload(curated, "memtest://sample-test/curated")
    try:
        assert _texts(url, chars_per_bucket=12_000) == _texts(curated, chars_per_bucket=12_000)
    finally:
        memfs.clear("memtest://sample-test")


def test_tokenizer_command_reads_and_writes_an_object_store(tmp_path, records):
    curated = _write(tmp_path / "f", records, 2)
    url = memfs.upload(curated, "memtest://tok-test/curated")

    def args(curated_dir, output):
        return argparse.Namespace(curated=str(curated_dir), output=str(output), vocab_size=1200,
                                  sample_chars=20_000, sample_shards=None, sample_seed=0, min_frequency=2,
                                  workers=1, morpheme_boundaries=cli.DEFAULT_PRESET)
    try:
        assert cli.run(args(url, "memtest://tok-test/tokenizer")) == 0
        assert cli.run(args(curated, tmp_path / "tok")) == 0
        remote = memfs.under("memtest://tok-test/tokenizer")
        assert sorted(remote) == ["memtest://tok-test/tokenizer/korpus_tokenizer.json",
                                  "memtest://tok-test/tokenizer/tokenizer.json"]
        for name, data in remote.items():
            assert data == (tmp_path / "tok" / name.rsplit("/", 1)[1]).read_bytes(), name
    finally:
        memfs.clear("memtest://tok-test")
