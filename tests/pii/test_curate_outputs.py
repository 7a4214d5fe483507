"""What curate writes about PII: rejected and error rows scrubbed (or without text) unless the
config asks for raw text, and ``pii_spans`` that index exactly the placeholders the step wrote
(never a placeholder typed in the raw input)."""
from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from beam_pipeline import main
from corpus.document import KOREAN, Document, ReadError, Rejection
from corpus.local_runner import new_pipeline
from corpus.placeholders import placeholder
from transforms.pii import PiiConfig, ProtectSideOutputs

RRN, PHONE, EMAIL = "900101-1234568", "010-2345-6789", "kim.minji@example.co.kr"
# Long enough, Korean enough and varied enough to pass every filter at defaults.
KEPT_TEXT = ("서울시 도서관은 이번 주말 시민을 위한 독서 프로그램을 연다. 참가 신청은 담당자 이메일 "
             f"{EMAIL}로 받으며, 문의는 {PHONE}로 하면 된다. 원문에 있던 표기 <|pii:email|>는 "
             "그대로 남아야 한다. 프로그램은 어린이와 어른 모두를 대상으로 하며, 작가와의 대화, 낭독회, "
             "그림책 만들기 같은 활동이 준비되어 있다. 도서관 측은 많은 참여를 바란다고 밝혔다.")


def _curate(tmp_path: Path, pii_section: str) -> Path:
    records = [
        {"id": "kept", "text": KEPT_TEXT},
        {"id": "short", "text": f"주민번호 {RRN}"},  # rejected by the length filter, before PII runs
    ]
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    lines.append(f'{{"id": "broken", "text": "연락처 {PHONE} 주민번호 {RRN}'.encode())  # malformed JSON
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    config = tmp_path / "config.yaml"
    config.write_text(pii_section,
                      encoding="utf-8")
    out = tmp_path / "out"
    assert main(["curate", "--input", str(tmp_path / "in.jsonl"), "--output", str(out),
                 "--config", str(config)]) == 0
    return out


def _rows(directory: Path) -> list[dict]:
    return [row for path in sorted(directory.glob("*.parquet")) for row in pq.read_table(path).to_pylist()]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    return _curate(tmp_path_factory.mktemp("pii_curate"), "")


def test_rejected_and_error_rows_carry_no_raw_pii_by_default(default_run):
    (rejected,) = _rows(default_run / "rejected")
    assert rejected["source_id"] == "short" and rejected["text"] == f"주민번호 {placeholder('rrn')}"
    (error,) = _rows(default_run / "errors")
    assert error["excerpt"] and RRN not in error["excerpt"] and PHONE not in error["excerpt"]
    assert placeholder("phone") in error["excerpt"]
    everything = json.dumps([_rows(default_run / part) for part in ("rejected", "errors", "curated/korean")],
                            ensure_ascii=False)
    for value in (RRN, PHONE, EMAIL):
        assert value not in everything
    stats = json.loads((default_run / "stats.json").read_text())
    assert stats["totals"]["chars_rejected"] == len(f"주민번호 {RRN}")  # the funnel counts what was read


def test_pii_spans_index_exactly_the_placeholders_the_step_wrote(default_run):
    (doc,) = _rows(default_run / "curated" / "korean")
    spans = doc["pii_spans"]
    assert [(s["type"], doc["text"][s["start"]:s["start"] + s["length"]]) for s in spans] == [
        ("email", placeholder("email")), ("phone", placeholder("phone"))]
    literal = doc["text"].index("표기 <|pii:email|>") + len("표기 ")
    assert doc["text"].count(placeholder("email")) == 2  # the written one and the typed one
    assert all(s["start"] != literal for s in spans)  # the typed one is text, not a span


def test_side_output_text_omitted_drops_text_and_raw_keeps_it():
    doc = Document("d", f"전화 {PHONE}", "web", bucket=KOREAN, lang="ko")
    records = [Rejection(doc, "length:too_short", f"matched {EMAIL}"),
               ReadError("in.jsonl", "in.jsonl:3", f"malformed JSON near {EMAIL}", f"주민번호 {RRN}")]
    expected = {
        "omitted": [(None, f"matched {placeholder('email')}"), (None, f"malformed JSON near {placeholder('email')}")],
        "raw": [(doc.text, f"matched {EMAIL}"), (f"주민번호 {RRN}", f"malformed JSON near {EMAIL}")],
    }
    for mode, rows in expected.items():
        with new_pipeline(PipelineOptions()) as pipeline:
            out = pipeline | beam.Create(records) | ProtectSideOutputs(PiiConfig(side_output_text=mode))
            assert_that(out | beam.Map(lambda r: (r.doc.text, r.detail) if isinstance(r, Rejection)
                                       else (r.excerpt, r.error)), equal_to(rows))


def test_a_rejection_without_stored_text_is_written_as_is_and_never_scrubbed():
    """An exact duplicate (``keep_text`` False) passes untouched: its text is not written and its
    detail is the survivor's location; the scrubber is not even built for it."""
    from corpus.parquet import rejected_row
    from transforms.pii import _ProtectSideOutputFn

    duplicate = Rejection(Document("d", f"전화 {PHONE}", "web", bucket=KOREAN, lang="ko"), "dedup:exact",
                          "in.jsonl:1", keep_text=False)
    fn = _ProtectSideOutputFn(["phone"], "scrubbed")
    (out,) = fn.process(duplicate)
    assert out is duplicate and fn._scrubber is None
    row = rejected_row(out)
    assert row["text"] is None and row["chars"] == len(f"전화 {PHONE}") and row["detail"] == "in.jsonl:1"


def test_omitted_side_output_text_reaches_the_report_as_text_not_stored(tmp_path):
    out = _curate(tmp_path, "pii: {side_output_text: omitted}\n")
    (rejected,) = _rows(out / "rejected")
    assert rejected["text"] is None and rejected["chars"] == len(f"주민번호 {RRN}")
    samples = json.loads((out / "report_data.json").read_text(encoding="utf-8"))["samples"]
    assert [s["text"] for by_outcome in samples.values() for s in by_outcome.get("length:too_short", [])] == [None]
    assert samples["korean"]["kept"][0]["text"].startswith("서울시 도서관은")
    from corpus.report import make_report

    assert "text not stored in rejected/" in make_report(str(out)).read_text(encoding="utf-8")
