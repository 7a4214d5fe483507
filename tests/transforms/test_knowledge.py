"""The knowledge step: priors and the combination rule, code heuristics, score range, stats,
determinism, the upsampling mapping, and model errors at pipeline construction."""
from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from corpus.config import ConfigError, from_dict
from corpus.document import CODE, CODE_KIND, KOREAN, MULTILINGUAL, Document
from corpus.local_runner import new_pipeline
from corpus.upsampling import UpsamplingConfig, upsampling_weight
from tests.conftest import read_sample
from tests.transforms.knowledge_fixtures import train_fixture_model
from transforms.knowledge import (CodeHeuristics, CodeHeuristicsConfig, KnowledgeConfig, KnowledgeScorer,
                                  KnowledgeStep, KnowledgeStatsFn, SourcePrior,
                                  comment_fraction)
from transforms.knowledge_model import KnowledgeModelError, sidecar_path

REFERENCE_KO = "헌법은 국민의 권리를 정한다. 광합성은 에너지를 만드는 원리이다. 조약의 역사는 세기를 넘는다."
SHOP_KO = "지금 클릭하고 구매하세요. 할인 쿠폰으로 무료 배송! 장바구니에 담고 주문 버튼을 누르세요."


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return str(train_fixture_model(tmp_path_factory.mktemp("knowledge")))


def text_doc(doc_id: str, text: str, source: str = "web", lang: str = "ko") -> Document:
    return Document(id=doc_id, text=text, source=source, bucket=KOREAN if lang == "ko" else MULTILINGUAL, lang=lang)


def code_doc(doc_id: str, text: str, path: str, lang: str = "python") -> Document:
    return Document(id=doc_id, text=text, source="repo", kind=CODE_KIND, bucket=CODE,
                    meta={"path": path, "lang": lang})


def run_step(config: KnowledgeConfig, docs: list[Document], out_dir: Path) -> tuple[dict[str, float], list[dict]]:
    """Scores by id and the stats dicts of one DirectRunner run (read back from text files: the
    runner pickles functions, so they cannot fill a list in the test process)."""
    with new_pipeline(PipelineOptions()) as pipeline:
        out = pipeline | beam.Create(docs) | KnowledgeStep(config)
        assert_that(out["rejected"], equal_to([]), label="NoRejections")
        _ = (out["kept"] | "Scores" >> beam.Map(lambda d: json.dumps([d.id, d.knowledge]))
             | "WriteScores" >> beam.io.WriteToText(str(out_dir / "scores")))
        _ = (out["stats"] | "StatsJson" >> beam.Map(json.dumps, sort_keys=True)
             | "WriteStats" >> beam.io.WriteToText(str(out_dir / "stats")))
    scores = dict(json.loads(line) for line in _lines(out_dir, "scores"))
    return scores, [json.loads(line) for line in _lines(out_dir, "stats")]


def _lines(out_dir: Path, prefix: str) -> list[str]:
    return [line for path in sorted(out_dir.glob(f"{prefix}-*")) for line in path.read_text().splitlines()]


def test_prior_alone_scores_text_when_no_model_is_configured():
    config = KnowledgeConfig(priors=[SourcePrior(pattern=r"kolaw/", prior=0.9), SourcePrior(pattern="kolaw", prior=0.1)])
    scorer = KnowledgeScorer(config)
    assert scorer.score(text_doc("a", SHOP_KO, source="konlpy kolaw/constitution.txt")) == 0.9  # first match wins
    assert scorer.score(text_doc("b", REFERENCE_KO, source="web")) == 0.0  # nothing known: no upsampling


def test_model_and_prior_are_blended_by_prior_weight(model_path):
    config = KnowledgeConfig(text_model=model_path, priors=[SourcePrior(pattern="^encyclopedia$", prior=1.0)],
                             prior_weight=0.25)
    scorer = KnowledgeScorer(config)
    scorer.setup()
    plain = scorer.score(text_doc("a", SHOP_KO))
    with_prior = scorer.score(text_doc("a", SHOP_KO, source="encyclopedia"))
    assert with_prior == pytest.approx(0.75 * plain + 0.25 * 1.0, abs=1e-6)


def test_classifier_scores_reference_prose_above_shop_text_in_the_pipeline(model_path, tmp_path):
    docs = [text_doc("ref", REFERENCE_KO), text_doc("shop", SHOP_KO),
            text_doc("ref-en", "The constitution defines the rights of citizens; the theorem has a proof.", lang="en"),
            text_doc("shop-en", "Click buy now for a discount coupon and free shipping on your order.", lang="en")]
    scores, _ = run_step(KnowledgeConfig(text_model=model_path), docs, tmp_path)
    assert scores["ref"] > scores["shop"] and scores["ref-en"] > scores["shop-en"]


def test_scores_of_real_documents_lie_in_the_unit_interval_and_rerun_identically(model_path, tmp_path):
    docs = [text_doc(f"ko{i}", r["text"], r["source"]) for i, r in enumerate(read_sample("ko", 12))]
    docs += [text_doc(f"m{i}", r["text"], r["source"], r["lang"]) for i, r in enumerate(read_sample("multi", 12))]
    docs += [code_doc(f"c{i}", r["text"], r["path"], r["lang"]) for i, r in enumerate(read_sample("code", 12))]
    config = KnowledgeConfig(text_model=model_path, priors=[SourcePrior(pattern="kolaw", prior=1.0)])
    first, first_stats = run_step(config, docs, tmp_path / "first")
    second, second_stats = run_step(config, docs, tmp_path / "second")
    assert len(first) == len(docs) and all(0.0 <= s <= 1.0 for s in first.values())
    assert first == second and first_stats == second_stats


def test_documented_code_outscores_bare_code_and_tests_and_docs_follow_their_rules():
    heuristics = CodeHeuristics(CodeHeuristicsConfig())
    documented = 'def area(r):\n    """Area of a circle of radius r.\n\n    Uses pi r^2.\n    """\n    return 3.14159 * r * r\n'
    bare = "def f(a, b):\n    c = a + b\n    d = c * 2\n    return d - a\n"
    assert heuristics.score(code_doc("d", documented, "geo/area.py")) == pytest.approx(3 / 5)  # 3 of 5 non-blank lines are docstring
    assert heuristics.score(code_doc("b", bare, "geo/f.py")) == 0.0
    assert heuristics.score(code_doc("t", documented, "tests/test_area.py")) == pytest.approx(3 / 10)  # halved
    assert heuristics.score(code_doc("r", "# Title\n\nSome prose.", "README.md", lang="")) == 1.0
    mostly_comments = "// licence line\n" * 9 + "int x;\n"
    assert heuristics.score(code_doc("l", mostly_comments, "x.c", lang="c")) == 0.0  # 0.9 > max_comment_fraction


def test_comment_fraction_follows_each_languages_comment_syntax():
    c_source = "/* block\n * still block\n */\nint x = 1; // trailing is code\n// line comment\n"
    assert comment_fraction(c_source, "c") == pytest.approx(4 / 5)
    assert comment_fraction("#include <stdio.h>\n", "c") == 0.0  # a preprocessor line, not a comment
    assert comment_fraction("# comment\nx = 1\n", "python") == 0.5
    assert comment_fraction("anything\n", "unknown-language") == 0.0


def test_upsampling_weight_is_one_below_threshold_and_max_repeat_at_one():
    config = UpsamplingConfig(threshold=0.5, max_repeat=4.0)
    assert upsampling_weight(0.0, config) == upsampling_weight(0.5, config) == 1.0
    assert upsampling_weight(0.75, config) == pytest.approx(2.5)
    assert upsampling_weight(1.0, config) == 4.0
    weights = [upsampling_weight(s / 100, config) for s in range(101)]
    assert weights == sorted(weights)


def test_stats_report_histogram_and_upsampled_token_share_per_bucket():
    config = KnowledgeConfig(histogram_bins=4)
    fn = KnowledgeStatsFn(config)
    docs = [Document(id="a", text="x" * 100, source="s", bucket=KOREAN, knowledge=1.0),   # weight 4
            Document(id="b", text="x" * 300, source="s", bucket=KOREAN, knowledge=0.1),   # weight 1
            Document(id="c", text="x" * 50, source="s", bucket=CODE, knowledge=0.6)]      # weight 1.6
    halves = [fn.add_input(fn.create_accumulator(), d) for d in docs[:2]], [fn.add_input(fn.create_accumulator(), docs[2])]
    stats = fn.extract_output(fn.merge_accumulators([*halves[0], *halves[1]]))
    korean = stats["buckets"][KOREAN]
    assert korean["histogram"] == [1, 0, 0, 1] and korean["documents"] == 2 and korean["chars"] == 400
    assert korean["effective_multiplier"] == pytest.approx((400 + 300) / 400)
    assert korean["upsampled_token_share"] == pytest.approx(400 / 700)
    assert stats["buckets"][CODE]["upsampled_token_share"] == 1.0
    assert stats["histogram_edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_step_emits_exactly_one_stats_dict_naming_the_model(model_path, tmp_path):
    _, stats = run_step(KnowledgeConfig(text_model=model_path), [text_doc("a", REFERENCE_KO)], tmp_path)
    [only] = stats
    assert only["text_model"]["path"] == model_path and len(only["text_model"]["sha256"]) == 64
    assert only["buckets"][KOREAN]["documents"] == 1


def test_missing_model_fails_when_the_step_is_built(tmp_path):
    with pytest.raises(KnowledgeModelError, match="no such file"):
        KnowledgeStep(KnowledgeConfig(text_model=str(tmp_path / "absent.bin")))


def test_corrupt_model_fails_when_the_step_is_built(tmp_path, model_path):
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(b"\x00" * 1024)
    sidecar_path(corrupt).write_text(sidecar_path(model_path).read_text())
    with pytest.raises(KnowledgeModelError, match="corrupt or was replaced"):
        KnowledgeStep(KnowledgeConfig(text_model=str(corrupt)))


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"knowledge.priors\[0\].pattern"):
        KnowledgeStep(KnowledgeConfig(priors=[SourcePrior(pattern="(", prior=0.5)]))
    with pytest.raises(ConfigError, match="knowledge.upsampling.max_repeat"):
        KnowledgeStep(KnowledgeConfig(upsampling=UpsamplingConfig(max_repeat=0.5)))
    config = from_dict(KnowledgeConfig, {"priors": [{"pattern": "wiki", "prior": 0.8}], "upsampling": {"threshold": 0.6}})
    assert config.priors[0].prior == 0.8 and config.upsampling.threshold == 0.6
