"""Exact dedup as a verdict step: the survivor is the first read (smallest id here) whatever the
arrival order, rejections name it (and carry no copy of its text), and stats count duplicates
per bucket."""
from __future__ import annotations

from corpus.document import CODE, KOREAN, MULTILINGUAL, Document
from tests.conftest import read_sample
from tests.transforms.verdict_harness import run_verdict_step
from transforms.exact_dedup import ExactDedup, text_key
from transforms.normalize import normalize_text


def test_first_read_survives_whatever_the_arrival_order_and_across_shards(tmp_path):
    ko = read_sample("ko", 2)
    docs = [Document("z-last", ko[0]["text"], "s", bucket=KOREAN),
            Document("m-mid", ko[0]["text"], "s", bucket=KOREAN),
            Document("a-first", ko[0]["text"], "s", bucket=KOREAN),
            Document("unique", ko[1]["text"], "s", bucket=KOREAN)]
    for k, (order, shards) in enumerate(((docs, 1), (docs[::-1], 3))):
        outcome = run_verdict_step(ExactDedup(), order, tmp_path / str(k), files_per_shard=shards)
        assert outcome.kept == {"a-first", "unique"}
        assert outcome.rejected == {"m-mid": "a-first", "z-last": "a-first"}
        assert set(outcome.reasons.values()) == {"dedup:exact"}
        # stored without a second copy of the text, its length still counted
        assert outcome.stored == {"m-mid": (False, len(ko[0]["text"])), "z-last": (False, len(ko[0]["text"]))}


def test_duplicates_across_buckets_are_counted_per_bucket_in_stats(tmp_path):
    code = read_sample("code", 1)[0]["text"]
    docs = [Document("c1", code, "s", bucket=CODE), Document("c2", code, "s", bucket=CODE),
            Document("c3", code, "s", bucket=CODE), Document("m1", "Hallo Welt", "s", bucket=MULTILINGUAL),
            Document("m0", "Hallo Welt", "s", bucket=MULTILINGUAL), Document("k", "안녕", "s", bucket=KOREAN)]
    outcome = run_verdict_step(ExactDedup(), docs, tmp_path)
    assert outcome.stats == {"duplicates": 3, "duplicates_per_bucket": {"code": 2, "multilingual": 1},
                             "texts_with_duplicates": 2}
    assert outcome.kept == {"c1", "k", "m0"}


def test_texts_differing_only_before_normalization_share_a_key_after_it():
    # The key hashes the normalized text exactly: no case folding, so case differences survive.
    assert text_key(normalize_text("Hello\r\nworld  \n")) == text_key(normalize_text("Hello\nworld"))
    assert text_key("Hello world") != text_key("hello world")


def test_no_duplicates_keeps_everything_and_reports_zero(tmp_path):
    docs = [Document(f"d{i}", f"text {i}", "s", bucket=MULTILINGUAL) for i in range(5)]
    outcome = run_verdict_step(ExactDedup(), docs, tmp_path)
    assert outcome.rejected == {} and outcome.kept == {d.id for d in docs}
    assert outcome.stats == {"duplicates": 0, "duplicates_per_bucket": {}, "texts_with_duplicates": 0}
