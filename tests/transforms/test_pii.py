"""The ``pii`` curation step on Beam's DirectRunner: every document kept and scrubbed, counts per
type per bucket in the step's stats, failures rejected rather than leaked."""
from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from corpus.config import ConfigError, from_dict
from corpus.document import CODE, KOREAN, MULTILINGUAL, Document
from corpus.local_runner import new_pipeline
from transforms.config import CurateConfig
from transforms.pii import NAME, PiiConfig, PiiStep

DOCS = [
    Document("k1", "연락처 010-1234-5678, 주민번호 900101-1234568", "web", bucket=KOREAN, lang="ko"),
    Document("k2", "개인정보 없는 문서입니다.", "web", bucket=KOREAN, lang="ko"),
    Document("m1", "Call +1 415-555-2671 or mail john@example.com", "web", bucket=MULTILINGUAL, lang="en"),
    Document("c1", 'API_KEY = "AKIAIOSFODNN7EXAMPLE"\nMAX = 2147483647\n', "gh", kind="code", bucket=CODE, lang="python"),
]


def run(config: PiiConfig, docs: list[Document]):
    with new_pipeline(PipelineOptions()) as pipeline:
        outputs = pipeline | beam.Create(docs) | PiiStep(config)
        assert_that(outputs["kept"] | "Kept" >> beam.Map(lambda d: (d.id, d.text, d.pii)), equal_to(EXPECTED_KEPT),
                    label="CheckKept")
        assert_that(outputs["rejected"], equal_to([]), label="CheckRejected")
        assert_that(outputs["stats"], equal_to([EXPECTED_STATS]), label="CheckStats")
    counters = pipeline.result.metrics().query(MetricsFilter().with_namespace(NAME))["counters"]
    return {c.key.metric.name: c.committed for c in counters}


EXPECTED_KEPT = [
    ("k1", "연락처 <|pii:phone|>, 주민번호 <|pii:rrn|>", 2),
    ("k2", "개인정보 없는 문서입니다.", 0),
    ("m1", "Call <|pii:phone|> or mail <|pii:email|>", 2),
    ("c1", 'API_KEY = "<|pii:secret|>"\nMAX = 2147483647\n', 1),
]
EXPECTED_STATS = {
    "docs": 4, "docs_with_pii": 3, "findings": 5, "by_type": {"email": 1, "phone": 2, "rrn": 1, "secret": 1},
    "per_bucket": {
        "code": {"docs": 1, "docs_with_pii": 1, "findings": 1, "by_type": {"secret": 1}},
        "korean": {"docs": 2, "docs_with_pii": 1, "findings": 2, "by_type": {"phone": 1, "rrn": 1}},
        "multilingual": {"docs": 1, "docs_with_pii": 1, "findings": 2, "by_type": {"email": 1, "phone": 1}},
    },
}


def test_step_keeps_every_document_scrubbed_and_counts_per_type_and_bucket():
    counters = run(PiiConfig(), DOCS)
    assert counters == {"docs": 4, "docs_with_pii": 3, "found:phone": 2, "found:rrn": 1, "found:email": 1,
                        "found:secret": 1}


def test_step_stats_for_no_documents_is_one_empty_summary():
    with new_pipeline(PipelineOptions()) as pipeline:
        outputs = pipeline | beam.Create([], reshuffle=False).with_output_types(Document) | PiiStep(PiiConfig())
        assert_that(outputs["stats"], equal_to([{"docs": 0, "docs_with_pii": 0, "findings": 0, "by_type": {},
                                                  "per_bucket": {}}]))


def test_a_document_the_scrubber_fails_on_is_rejected_not_kept_unscrubbed():
    broken = Document("bad", None, "web", bucket=KOREAN)  # type: ignore[arg-type]  # text must be str
    with new_pipeline(PipelineOptions()) as pipeline:
        outputs = pipeline | beam.Create([broken, DOCS[1]]) | PiiStep(PiiConfig())
        assert_that(outputs["kept"] | "KeptIds" >> beam.Map(lambda d: d.id), equal_to(["k2"]), label="CheckKept")
        assert_that(outputs["rejected"] | beam.Map(lambda r: (r.doc.id, r.reason)),
                    equal_to([("bad", "pii:exception")]), label="CheckRejected")


def test_config_is_part_of_the_curate_config_and_rejects_unknown_types():
    config = from_dict(CurateConfig, {"pii": {"types": ["email", "phone"]}})
    assert config.pii.types == ["email", "phone"] and config.pii.enabled
    with pytest.raises(ConfigError, match="pii.types: unknown PII type 'emails'"):
        from_dict(CurateConfig, {"pii": {"types": ["emails"]}})
    with pytest.raises(ConfigError, match="pii.typo"):
        from_dict(CurateConfig, {"pii": {"typo": 1}})
