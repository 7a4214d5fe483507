"""Mixture control (#21) and the one cap on copies (#16): bucket ratios, per-source weights, a
per-bucket epoch limit, MinHash cluster-size weights, ``balance.max_doc_copies``. One end-to-end
build (real tokenizer, Beam DirectRunner) checked from its shards; the solve's rules without Beam."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.config import ConfigError, from_dict
from corpus.document import BUCKET_IDS, BUCKETS, CODE, KOREAN, MULTILINGUAL
from corpus.shards import PAD_BUCKET, PhaseReader
from corpus.upsampling import UpsamplingConfig
from mixtures.balance import BalanceConfig, BalanceError, bucket_targets, copies_on_grid, water_level
from mixtures.build import BuildConfig
from mixtures.fim import EOT
from mixtures.records import TokenizedDoc
from mixtures.weights import WEIGHT_ONE, DocWeigher, SourceWeight
from tests.mixtures.conftest import SMALL_PHASES, build, copies_in_shards, write_curated

RATIOS = {KOREAN: 40, MULTILINGUAL: 30, CODE: 30}
KOREAN_EPOCHS = 2.0  # the per-bucket limit; Korean is the smallest bucket, so it sets the total
NEWS = "^news/"      # Korean news, weighted 2x inside the Korean bucket
CAP = 4


def _is_news(index: int) -> bool:
    return index % 3 == 0


def _is_big_cluster(index: int) -> bool:
    """A MinHash survivor of a cluster of 150: FineWeb-2's table gives it 8x, more than the cap allows."""
    return index % 10 == 5


@pytest.fixture(scope="module")
def mixture_build(tmp_path_factory, tokenizer_dir, sample_records):
    root = tmp_path_factory.mktemp("mixture")
    korean = [{**r, "source": f"news/{r['source']}" if _is_news(i) else r["source"]}
              for i, r in enumerate(sample_records[KOREAN])]
    records = {**sample_records, KOREAN: korean}
    clusters = {r["id"]: 150 for i, r in enumerate(korean) if _is_big_cluster(i)}
    curated = write_curated(root / "curated", records, cluster_sizes=clusters)
    config = {"context_phases": SMALL_PHASES,
              "balance": {"ratios": RATIOS, "bucket_max_epochs": {KOREAN: KOREAN_EPOCHS},
                          "source_weights": [{"bucket": KOREAN, "pattern": NEWS, "weight": 2.0}],
                          "cluster_weights": "fineweb2", "max_doc_copies": CAP}}
    manifest = build(curated, tokenizer_dir, root / "corpus", config)
    return manifest, root / "corpus", korean


@pytest.fixture(scope="module")
def shard_copies(mixture_build, tokenizer_dir) -> Counter[str]:
    from corpus.tokenizer import load

    manifest, corpus, _ = mixture_build
    return copies_in_shards(manifest, corpus, load(tokenizer_dir).special_tokens[EOT])


def test_40_30_30_holds_in_the_shards_of_each_phase_within_one_percent(mixture_build):
    manifest, corpus, _ = mixture_build
    for phase in manifest.phases:
        reader = PhaseReader(corpus, phase.name)
        tokens = Counter()
        for index in range(len(reader)):  # count what the trainer reads, not what the manifest says
            row = reader.row(index)
            lengths = np.diff([*row.seg_starts.tolist(), reader.seq_len])
            for bucket, length in zip(row.seg_buckets.tolist(), lengths.tolist()):
                tokens[bucket] += length
        del tokens[PAD_BUCKET]  # padding is no bucket's text (the trainer masks it)
        assert len(reader) >= 100, phase.name
        for bucket in BUCKETS:
            share = tokens[BUCKET_IDS[bucket]] / sum(tokens.values())
            assert share == pytest.approx(RATIOS[bucket] / 100, abs=0.01), (phase.name, bucket)
    for bucket in BUCKETS:
        assert manifest.balance["buckets"][bucket]["share"] == pytest.approx(RATIOS[bucket] / 100, abs=0.01)


def test_the_per_bucket_epoch_limit_sets_the_total_and_the_other_buckets_are_sampled_down(mixture_build):
    manifest, _, _ = mixture_build
    buckets = manifest.balance["buckets"]
    assert buckets[KOREAN]["epochs"] == pytest.approx(KOREAN_EPOCHS, abs=0.02)
    assert buckets[KOREAN]["epoch_limit_key"] == "balance.bucket_max_epochs.korean"
    assert buckets[MULTILINGUAL]["epochs"] < 1.0 and buckets[CODE]["epochs"] < 1.0


def test_no_document_has_more_copies_in_the_shards_than_max_doc_copies(mixture_build, shard_copies):
    _, _, korean = mixture_build
    assert max(shard_copies.values()) <= CAP
    big = [r["id"] for i, r in enumerate(korean) if _is_big_cluster(i)]
    # 8x cluster weight asks for about 4 x 2 epochs / mean weight > 4 copies: held at the cap,
    # not dropped (a copy may lose its <|endoftext|> to a dropped partial row, hence >= CAP - 1)
    assert min(shard_copies[d] for d in big) >= CAP - 1
    assert np.mean([shard_copies[d] for d in big]) > CAP - 0.2


def test_korean_news_weighted_2x_gets_twice_the_copies_and_its_planned_share_of_the_bucket(mixture_build,
                                                                                         shard_copies):
    manifest, _, korean = mixture_build
    uncapped = [(i, r["id"]) for i, r in enumerate(korean) if not _is_big_cluster(i)]
    news = np.mean([shard_copies[d] for i, d in uncapped if _is_news(i)])
    other = np.mean([shard_copies[d] for i, d in uncapped if not _is_news(i)])
    assert news / other == pytest.approx(2.0, rel=0.15)  # hash rounding of ~60 vs ~120 documents
    sources = {s["rule"]: s for s in manifest.balance["buckets"][KOREAN]["sources"]}
    rule = sources["balance.source_weights[0]"]
    assert rule["pattern"] == NEWS and rule["weight"] == 2.0
    assert rule["docs"] == sum(_is_news(i) for i in range(len(korean)))
    assert rule["share"] == pytest.approx(rule["target_share"], abs=0.01)
    assert sources[None]["share"] == pytest.approx(sources[None]["target_share"], abs=0.01)


def test_manifest_records_the_mixture_and_the_distribution_of_copies_per_bucket(mixture_build, shard_copies):
    manifest, _, korean = mixture_build
    balance = manifest.balance
    assert balance["max_doc_copies"] == CAP
    assert balance["cluster_weights"] == {"1": 1.0, "2": 2.0, "3": 3.0, "5": 5.0, "100": 8.0, "1000": 1.0}
    assert manifest.config["balance"]["ratios"] == {b: float(r) for b, r in RATIOS.items()}
    for bucket in BUCKETS:
        entry = balance["buckets"][bucket]
        assert entry["ratio"] == RATIOS[bucket] and entry["target_share"] == pytest.approx(RATIOS[bucket] / 100)
        assert sum(entry["copies"].values()) == entry["docs"]
        assert entry["max_copies"] <= CAP
    korean_entry = balance["buckets"][KOREAN]
    assert korean_entry["docs_at_cap"] >= sum(_is_big_cluster(i) for i in range(len(korean)))
    in_shards = Counter(min(shard_copies[r["id"]], CAP) for r in korean)
    planned = {int(n): docs for n, docs in korean_entry["copies"].items()}
    assert sum(abs(planned.get(n, 0) - in_shards.get(n, 0)) for n in range(CAP + 1)) <= 0.05 * len(korean)


# --- the solve's rules, without Beam ---------------------------------------------------------------

def test_ratios_set_the_targets_and_the_smallest_bucket_at_its_limit_sets_the_default_total():
    costs = {KOREAN: 1000, MULTILINGUAL: 5000, CODE: 3000}
    config = BalanceConfig(ratios={KOREAN: 40, MULTILINGUAL: 30, CODE: 30})
    assert bucket_targets(costs, None, config) == {KOREAN: 4000, MULTILINGUAL: 3000, CODE: 3000}
    assert bucket_targets(costs, 10_000, config) == {KOREAN: 4000, MULTILINGUAL: 3000, CODE: 3000}
    per_bucket = BalanceConfig(ratios={KOREAN: 40, MULTILINGUAL: 30, CODE: 30}, bucket_max_epochs={KOREAN: 2.0})
    assert bucket_targets(costs, None, per_bucket) == {KOREAN: 2000, MULTILINGUAL: 1500, CODE: 1500}
    left_out = BalanceConfig(ratios={KOREAN: 1, MULTILINGUAL: 1, CODE: 0})
    assert bucket_targets({**costs, CODE: 0}, None, left_out) == {KOREAN: 4000, MULTILINGUAL: 4000, CODE: 0}


@pytest.mark.parametrize("config, total, message", [
    (BalanceConfig(ratios={KOREAN: 60, MULTILINGUAL: 20, CODE: 20}), 10_000,
     r"bucket korean has 1,000 tokens; 6,000 tokens \(60.0% of 10,000, balance.ratios\) would need 6.00 epochs > "
     r"balance.max_epochs=4.0: lower --total-tokens or balance.ratios.korean, raise balance.max_epochs and "
     r"balance.max_doc_copies, or set balance.small_bucket: cap"),
    (BalanceConfig(bucket_max_epochs={CODE: 0.5}), 6_000, r"bucket code .* > balance.bucket_max_epochs.code=0.5"),
    (BalanceConfig(max_epochs=8.0, max_doc_copies=3), 9_900, r"bucket korean .* 3.30 epochs > balance.max_doc_copies=3"),
])
def test_an_impossible_mixture_is_an_error_naming_the_bucket_and_the_setting(config, total, message):
    with pytest.raises(BalanceError, match=message):
        bucket_targets({KOREAN: 1000, MULTILINGUAL: 5000, CODE: 3000}, total, config)


def test_small_bucket_cap_builds_a_bucket_at_its_copy_cap_instead_of_failing():
    config = BalanceConfig(max_epochs=8.0, max_doc_copies=3, small_bucket="cap")
    targets = bucket_targets({KOREAN: 1000, MULTILINGUAL: 5000, CODE: 3000}, 9_900, config)
    assert targets == {KOREAN: 3000, MULTILINGUAL: 3300, CODE: 3300}


def test_a_positive_ratio_for_an_empty_bucket_is_an_error_naming_its_ratio():
    with pytest.raises(BalanceError, match=r"\['code'\] have no documents.*balance.ratios.code: 0"):
        bucket_targets({KOREAN: 1000, MULTILINGUAL: 5000, CODE: 0}, None, BalanceConfig())


def test_water_level_holds_heavy_documents_at_the_cap_and_gives_their_copies_to_the_rest():
    one = WEIGHT_ONE
    bins = [(100, 100 * 8 * one), (900, 900 * one)]  # 100 tokens of weight 8, 900 of weight 1
    level = water_level(bins, 2000, cap=4)
    assert level * 8 * one > 4  # the heavy bin asks for more than the cap ...
    assert 100 * 4 + 900 * level * one == pytest.approx(2000)  # ... sits at it; the rest fills the target
    assert water_level(bins, 800, cap=4) * one == pytest.approx(800 / 1700)  # no cap binds: proportional
    assert water_level(bins, 4000, cap=4) is None  # the whole capacity: every document at the cap


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1e6), st.floats(0, 1, exclude_max=True), st.integers(1, 8))
def test_rounding_never_gives_more_copies_than_the_cap(raw, u, cap):
    scales, shifts = np.exp(np.linspace(-0.15, 0.15, 31)), np.arange(8) / 8
    assert copies_on_grid(raw, u, scales, shifts, cap).max() <= cap


def _doc(bucket: str, source: str, knowledge: float = 0.0, cluster_size: int = 1) -> TokenizedDoc:
    return TokenizedDoc("d", bucket, knowledge, source, cluster_size, 10, None, None)


def test_weight_is_knowledge_times_first_matching_source_times_fineweb2_cluster_weight():
    weigher = DocWeigher(UpsamplingConfig(threshold=0.5, max_repeat=3.0),
                         [SourceWeight(pattern="news", weight=2.0, bucket=KOREAN), SourceWeight(pattern="", weight=0.5)],
                         "fineweb2")
    assert weigher(_doc(KOREAN, "kr/news/1")) == (0, 2 * WEIGHT_ONE)
    assert weigher(_doc(MULTILINGUAL, "kr/news/1")) == (1, WEIGHT_ONE // 2)  # the first rule is Korean only
    assert weigher(_doc(KOREAN, "kr/news/1", knowledge=1.0)) == (0, 6 * WEIGHT_ONE)
    table = {1: 1, 2: 2, 3: 3, 4: 3, 5: 5, 99: 5, 100: 8, 999: 8, 1000: 1, 50_000: 1}  # FineWeb-2's README
    assert {size: weigher.cluster_weight(size) for size in table} == table
    assert weigher(_doc(CODE, "x", cluster_size=150)) == (1, 4 * WEIGHT_ONE)


@pytest.mark.parametrize("balance, key", [
    ({"ratios": {KOREAN: 1, MULTILINGUAL: 1}}, "balance.ratios: give every bucket"),
    ({"ratios": {KOREAN: -1, MULTILINGUAL: 1, CODE: 1}}, "balance.ratios: weights must be >= 0"),
    ({"bucket_max_epochs": {"english": 2.0}}, "balance.bucket_max_epochs: keys must be buckets"),
    ({"max_doc_copies": 0}, "balance.max_doc_copies: must be >= 1"),
    ({"source_weights": [{"pattern": "(", "weight": 2.0}]}, r"balance.source_weights\[0\].pattern: not a valid regex"),
    ({"source_weights": [{"pattern": "x", "weight": 0.0}]}, r"balance.source_weights\[0\].weight: must be > 0"),
    ({"cluster_weights": {0: 2.0}}, "balance.cluster_weights: sizes must be >= 1"),
])
def test_an_invalid_mixture_setting_is_a_config_error_naming_the_key(balance, key):
    with pytest.raises(ConfigError, match=key):
        from_dict(BuildConfig, {"balance": balance}).validate()


def test_an_unknown_cluster_weights_preset_is_rejected_by_the_loader():
    with pytest.raises(ConfigError, match=r"balance.cluster_weights: expected one of \['fineweb2'\]"):
        from_dict(BuildConfig, {"balance": {"cluster_weights": "fineweb3"}})
