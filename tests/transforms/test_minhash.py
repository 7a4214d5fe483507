"""The dedup.minhash step on Beam's DirectRunner with real MeCab and datasketch, on edited copies
of real documents from ../shared/data.

The step runs as in a curate phase: documents written to phase files (two shards), verdicts from
their signatures, candidate pairs verified by looking signatures and shingles up in the files.
One pipeline run (``scenario``) holds every fixture that uses the default config, each built from
different source documents with its own id prefix so that they cannot interact; the tests assert on
its result. Runs with other configs or runners are separate.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from corpus.config import ConfigError, from_dict
from corpus.document import CODE, KOREAN, MULTILINGUAL, Document
from tests.conftest import read_sample
from tests.transforms.verdict_harness import Outcome, run_verdict_step
from transforms.minhash import REASON, MinHashConfig, MinHashDedup
from transforms.shingles import jaccard, shingle_hashes

BOILERPLATE = (
    "\n\nThis article is distributed under the Creative Commons Attribution-ShareAlike license. "
    "Subscribe to our newsletter for weekly updates, follow us on social media, and share this page "
    "with your friends. All rights reserved. Terms of use and privacy policy apply to every visitor."
)


def run_dedup(docs: list[Document], tmp: Path, config: MinHashConfig | None = None, beam_args: list[str] = (),
              files_per_shard: int = 2) -> Outcome:
    """Runs the step as a curate phase does (tests/transforms/verdict_harness.py)."""
    outcome = run_verdict_step(MinHashDedup(config or MinHashConfig()), docs, tmp, beam_args, files_per_shard)
    assert set(outcome.reasons.values()) <= {REASON}
    return outcome


def doc(doc_id: str, text: str, bucket: str, lang: str) -> Document:
    return Document(id=doc_id, text=text, source="test", bucket=bucket, lang=lang)


def long_records(name: str, count: int, skip: int = 0) -> list[dict]:
    """Real documents long enough (and with paragraphs) for edits to keep Jaccard high."""
    records = [r for r in read_sample(name, 200) if len(r["text"].split()) > 250 and r["text"].count("\n\n") >= 3]
    return records[skip : skip + count]


def replace_word(text: str, position: int, new: str) -> str:
    words = text.split(" ")
    words[position] = new
    return " ".join(words)


def move_first_paragraphs_to_end(text: str, count: int = 2) -> str:
    paragraphs = text.split("\n\n")
    return "\n\n".join(paragraphs[count:] + paragraphs[:count])


def bucket_of(record: dict, name: str) -> tuple[str, str]:
    return {"ko": (KOREAN, "ko"), "multi": (MULTILINGUAL, record["lang"]), "code": (CODE, record["lang"])}[name]


def exact_jaccard(a: Document, b: Document, ngram: int = 5) -> float:
    config = MinHashConfig()
    norm = config.code_normalization if a.bucket == CODE else config.text_normalization
    return jaccard(shingle_hashes(a.text, a.bucket, a.lang, ngram, norm), shingle_hashes(b.text, b.bucket, b.lang, ngram, norm))


def edited_copies() -> list[tuple[Document, Document]]:
    """(original, edited copy) pairs: one word changed, paragraphs reordered, boilerplate appended,
    in Korean, multilingual and code."""
    pairs = []
    # Korean records 0-3 are amendments of one law, near-duplicates of each other: start at 4.
    for name, skip in (("ko", 4), ("multi", 0), ("code", 0)):
        for k, record in enumerate(long_records(name, 3, skip)):
            bucket, lang = bucket_of(record, name)
            original = doc(f"edit-{name}-{k}-a", record["text"], bucket, lang)
            edit = (
                replace_word(record["text"], 40, "XYZZY"),
                move_first_paragraphs_to_end(record["text"]),
                record["text"] + BOILERPLATE,
            )[k]
            pairs.append((original, doc(f"edit-{name}-{k}-b", edit, bucket, lang)))
    return pairs


def boilerplate_sharers() -> list[Document]:
    """Distinct real documents (short enough that the footer is a large share) with the same footer."""
    records = [r for r in read_sample("multi", 400) if 60 < len(r["text"].split()) < 150][:6]
    return [doc(f"footer-{k}", r["text"] + BOILERPLATE, MULTILINGUAL, r["lang"]) for k, r in enumerate(records)]


def chain() -> list[Document]:
    """A ~ B and B ~ C (Jaccard 0.88) but A !~ C (0.77): a block of words replaced at each step."""
    record = long_records("multi", 1, skip=10)[0]
    words = record["text"].split()
    step = len(words) * 7 // 100

    def replaced(ws: list[str], start: int, tag: str) -> list[str]:
        return ws[:start] + [f"{tag}{i}" for i in range(step)] + ws[start + step :]

    b = replaced(words, len(words) // 4, "alpha")
    c = replaced(b, 3 * len(words) // 4, "beta")
    return [doc(f"chain-{x}", " ".join(ws), MULTILINGUAL, record["lang"]) for x, ws in zip("abc", (words, b, c))]


SHORT_TEXTS = ["Hello world", "Good morning", "좋은 아침입니다", "안녕하세요", "foo bar", "Danke schön", "x", "42"]


def short_docs() -> list[Document]:
    def korean(text: str) -> bool:
        return any("가" <= ch <= "힣" for ch in text)

    docs = [doc(f"short-{k}", t, KOREAN if korean(t) else MULTILINGUAL, "ko" if korean(t) else "en")
            for k, t in enumerate(SHORT_TEXTS)]
    return docs + [doc("short-symbols", "!!! ??? ...", MULTILINGUAL, "en")]


def same_text_two_buckets() -> list[Document]:
    """A Korean document and its copy that language ID put in another bucket."""
    record = long_records("ko", 1, skip=8)[0]
    return [doc("cross-a", record["text"], KOREAN, "ko"),
            doc("cross-b", replace_word(record["text"], 7, "QQQ"), MULTILINGUAL, "ko")]


def real_near_duplicates() -> list[Document]:
    """Two amendments of one Korean law, as filed (exact Jaccard 0.89)."""
    return [doc(f"real-ko-{k}", r["text"], KOREAN, "ko") for k, r in enumerate(long_records("ko", 2))]


def all_fixtures() -> list[Document]:
    docs = [d for pair in edited_copies() for d in pair]
    return docs + boilerplate_sharers() + chain() + short_docs() + same_text_two_buckets() + real_near_duplicates()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Outcome:
    return run_dedup(all_fixtures(), tmp_path_factory.mktemp("scenario"))


def test_edited_copies_of_real_documents_are_removed_with_their_original_as_survivor(scenario):
    for original, copy in edited_copies():
        assert exact_jaccard(original, copy) >= 0.85, (copy.id, exact_jaccard(original, copy))
        assert original.id in scenario.kept
        assert scenario.rejected.get(copy.id) == original.id, copy.id


def test_near_duplicates_already_in_the_sample_data_are_found(scenario):
    original, revision = real_near_duplicates()
    assert exact_jaccard(original, revision) >= 0.85
    assert scenario.rejected.get(revision.id) == original.id


def test_distinct_documents_sharing_boilerplate_are_kept(scenario):
    docs = boilerplate_sharers()
    assert len(docs) == 6
    assert max(exact_jaccard(a, b) for a in docs for b in docs if a.id < b.id) < 0.5
    assert {d.id for d in docs} <= scenario.kept


def test_transitive_chain_ends_as_one_component_with_the_smallest_id_surviving(scenario):
    a, b, c = chain()
    assert exact_jaccard(a, b) >= 0.8 and exact_jaccard(b, c) >= 0.8
    assert exact_jaccard(a, c) < 0.78
    assert a.id in scenario.kept
    assert scenario.rejected[b.id] == a.id
    assert scenario.rejected[c.id] == a.id


def test_short_documents_are_not_removed_together(scenario):
    # text-dedup #77: shorter than the shingle size must not mean one shared signature.
    assert {d.id for d in short_docs()} <= scenario.kept
    assert scenario.stats["no_shingles"] == {MULTILINGUAL: 1}  # "!!! ??? ..." has no token


def test_buckets_are_deduplicated_separately_by_default(scenario):
    assert {"cross-a", "cross-b"} <= scenario.kept


def test_stats_count_removals_per_bucket_and_list_the_largest_clusters(scenario):
    stats = scenario.stats
    assert stats["params"]["bands"] == 16 and stats["params"]["rows"] == 8
    assert stats["removed"] == {CODE: 3, KOREAN: 4, MULTILINGUAL: 5}  # 3 edits per bucket, real-ko-1, chain b and c
    assert sum(stats["removed"].values()) == len(scenario.rejected)
    clusters = stats["clusters"]
    assert clusters["count"] == 11
    assert clusters["by_bucket"] == {CODE: 3, KOREAN: 4, MULTILINGUAL: 4}
    assert clusters["size_histogram"] == {"2": 10, "3-4": 1}
    assert clusters["largest"][0] == {"survivor": "chain-a", "size": 3, "bucket": MULTILINGUAL}
    assert stats["connected_components"]["converged"] is True


def test_span_buckets_deduplicates_across_buckets_and_survives_an_unreadable_document(tmp_path):
    broken = Document(id="broken", text=None, source="test", bucket=KOREAN, lang="ko")  # type: ignore[arg-type]
    outcome = run_dedup(same_text_two_buckets() + [broken], tmp_path, MinHashConfig(span_buckets=True))
    assert outcome.rejected == {"cross-b": "cross-a"}
    assert outcome.stats["removed"] == {MULTILINGUAL: 1}
    assert "broken" in outcome.kept  # kept without near-dedup, counted
    assert outcome.stats["sign_errors"] == {"all": 1}


def test_band_collisions_between_dissimilar_documents_do_not_remove_them(tmp_path):
    # text-dedup #70. One row per band: any shared minhash makes a candidate pair, so the
    # boilerplate sharers certainly collide; only verification keeps them apart.
    config = MinHashConfig(false_positive_weight=0.0, false_negative_weight=1.0)
    assert config.bands_and_rows()[1] == 1
    docs = boilerplate_sharers()
    outcome = run_dedup(docs, tmp_path, config)
    assert outcome.stats["band_comparisons"] > 0
    assert outcome.rejected == {}
    assert outcome.kept == {d.id for d in docs}


def near_threshold_pairs() -> list[tuple[Document, Document]]:
    """Originals and copies with a block of words replaced; the shares replaced put their exact
    Jaccard at 0.76, 0.78, 0.79, 0.80, 0.81, 0.82, 0.84 and 0.74."""
    pairs = []
    for k, (record, percent) in enumerate(zip(long_records("multi", 8, skip=20), (26, 23, 19, 20, 18, 16, 14, 26))):
        words = record["text"].split()
        step = len(words) * percent // 100
        copy = words[:30] + [f"new{i}" for i in range(step)] + words[30 + step :]
        pairs.append((doc(f"near-{k}-a", " ".join(words), MULTILINGUAL, record["lang"]),
                      doc(f"near-{k}-b", " ".join(copy), MULTILINGUAL, record["lang"])))
    return pairs


def test_pairs_near_the_threshold_are_decided_by_exact_jaccard(tmp_path):
    # One row per band: every pair is a candidate, so only verification decides. Estimates within
    # two standard deviations of the threshold go to the exact check.
    pairs = near_threshold_pairs()
    similarities = [exact_jaccard(a, b) for a, b in pairs]
    assert all(0.72 < j < 0.86 for j in similarities)
    assert sum(j >= 0.8 for j in similarities) == 3
    config = MinHashConfig(false_positive_weight=0.0, false_negative_weight=1.0)
    outcome = run_dedup([d for pair in pairs for d in pair], tmp_path, config)
    assert outcome.stats["exact_checks"]["pairs"] > 0
    expected = {b.id: a.id for (a, b), j in zip(pairs, similarities) if j >= config.threshold}
    assert outcome.rejected == expected


def test_oversized_band_bucket_links_copies_through_the_reference_members(tmp_path):
    record = long_records("multi", 1, skip=14)[0]
    copies = [doc(f"boiler-{k:02d}", replace_word(record["text"], 30 + k, f"edit{k}"), MULTILINGUAL, record["lang"])
              for k in range(9)]
    outcome = run_dedup(copies, tmp_path, MinHashConfig(reference_limit=3))
    assert outcome.stats["oversized_band_buckets"] > 0
    assert outcome.kept == {"boiler-00"}
    assert outcome.rejected == {d.id: "boiler-00" for d in copies[1:]}


def test_same_survivors_across_runs_and_direct_num_workers(tmp_path, scenario):
    docs = all_fixtures()
    again = run_dedup(list(reversed(docs)), tmp_path / "again")
    multi = run_dedup(docs, tmp_path / "multi",
                      beam_args=["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    for other in (again, multi):
        assert other.kept == scenario.kept
        assert other.rejected == scenario.rejected
        assert other.stats == scenario.stats


def test_invalid_config_is_rejected_naming_the_key():
    with pytest.raises(ConfigError, match="minhash.threshold"):
        from_dict(MinHashConfig, {"threshold": 1.5})
    with pytest.raises(ConfigError, match="num_perm"):
        from_dict(MinHashConfig, {"num_perm": "128"})
    with pytest.raises(ConfigError, match="exact_check_sigmas"):
        from_dict(MinHashConfig, {"exact_check_sigmas": -1.0})


def test_exact_check_zone_is_two_standard_deviations_of_the_estimate():
    sure, unsure = MinHashConfig().estimate_bounds()
    assert (round(sure, 3), round(unsure, 3)) == (0.871, 0.729)  # 0.8 ± 2 * sqrt(0.8 * 0.2 / 128)
    assert MinHashConfig(exact_check_sigmas=0).estimate_bounds() == (0.8, 0.8)
