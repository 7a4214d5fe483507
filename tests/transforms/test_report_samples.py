"""ReportSamples: exact histograms from combiners, samples chosen by id hash whatever the input order,
sample texts PII-scrubbed (also at the cut), and the file written to an object store."""
from __future__ import annotations

import json
import random
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from corpus.document import CODE, KOREAN, MULTILINGUAL, Document, Rejection
from corpus.local_runner import new_pipeline
from corpus.report_bins import REPORT_DATA, log_bin
from tests.mixtures import memfs
from transforms.report_samples import SAMPLE_CHARS, ReportSamples, _rank

PHONE = "010-1234-5678"


def _inputs() -> tuple[list[Document], list[Rejection]]:
    kept = [Document(f"k{i}", "가" * (10 * i + 5), "s", bucket=KOREAN, lang="ko", knowledge=i / 40)
            for i in range(30)]
    kept += [Document(f"c{i}", "x = 1\n" * (i + 1), "s", kind="code", bucket=CODE, lang="python") for i in range(6)]
    rejected = [Rejection(Document(f"r{i}", "word " * (i + 1), "s", bucket=MULTILINGUAL, lang="en"),
                          "repetition:dup_line_frac", f"dup_line_frac={0.3 + i / 100:.2f}") for i in range(12)]
    rejected.append(Rejection(Document("short", "", "s"), "length:too_short", "chars=0"))
    # A phone number that straddles the sample cut, and one at the start.
    edge = "a" * (SAMPLE_CHARS - 5) + " " + PHONE + " tail"
    rejected.append(Rejection(Document("edge", edge, "s", bucket=KOREAN, lang="ko"), "quality:short_lines", ""))
    rejected.append(Rejection(Document("phone", f"전화 {PHONE} 입니다", "s", bucket=KOREAN, lang="ko"),
                              "quality:short_lines", ""))
    return kept, rejected


def _run(out: str, kept: list[Document], rejected: list[Rejection]) -> None:
    with new_pipeline(PipelineOptions(["--direct_running_mode=in_memory"])) as pipeline:
        pcolls = (pipeline | "Kept" >> beam.Create(kept), pipeline | "Rejected" >> beam.Create(rejected))
        _ = pcolls | ReportSamples(out)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report_samples")
    _run(str(out), *_inputs())
    return out / REPORT_DATA


def test_histograms_count_every_document_and_samples_take_the_smallest_id_hashes(written):
    kept, _ = _inputs()
    data = json.loads(written.read_text(encoding="utf-8"))
    korean = data["length"][KOREAN]
    assert sum(korean["after"].values()) == 30
    assert sum(korean["before"].values()) == 32  # + the two rejected Korean documents
    assert korean["after"][str(log_bin(5, "length"))] == 1
    assert data["length"]["undetermined"]["before"] == {"-1": 1}  # the empty text, rejected before langid
    assert data["languages"] == {KOREAN: {"ko": 30}, CODE: {"python": 6}}
    assert sum(data["knowledge"][KOREAN].values()) == 30 and data["knowledge"][KOREAN]["0"] == 2  # 0, 1/40
    measured = data["measured"]["repetition"]["dup_line_frac"][MULTILINGUAL]
    assert sum(measured.values()) == 12
    assert "length" not in data["measured"]  # chars=0 is not plotted on a log axis
    ids = sorted(data["samples"][KOREAN]["kept"], key=lambda d: _rank(d["id"]))
    assert [d["id"] for d in ids] == sorted((d.id for d in kept if d.bucket == KOREAN), key=_rank)[:2]
    assert set(data["samples"]) == {KOREAN, MULTILINGUAL, CODE, "undetermined"}


def test_report_data_does_not_depend_on_input_order(written, tmp_path):
    kept, rejected = _inputs()
    random.Random(1).shuffle(kept)
    random.Random(2).shuffle(rejected)
    _run(str(tmp_path), kept, rejected)
    assert (tmp_path / REPORT_DATA).read_bytes() == written.read_bytes()


def test_sample_texts_are_scrubbed_even_where_the_cut_splits_a_phone_number(written):
    samples = json.loads(written.read_text(encoding="utf-8"))["samples"][KOREAN]
    texts = {d["id"]: d["text"] for d in samples["quality:short_lines"]}
    assert texts["phone"] == "전화 <|pii:phone|> 입니다"
    assert "010-1234" not in texts["edge"]
    assert texts["edge"].endswith(" <|pii:phone|>")  # the cut falls inside the placeholder: kept whole


def test_report_data_is_written_to_an_object_store():
    url = "memtest://report-samples/out"
    try:
        _run(url, *_inputs())
        data = json.loads(memfs.under(url)[f"{url}/{REPORT_DATA}"])
        assert sum(data["length"][KOREAN]["after"].values()) == 30
        assert list(memfs.under(url)) == [f"{url}/{REPORT_DATA}"]  # no temporary object left
    finally:
        memfs.clear(url)


def test_only_numeric_rule_values_count_as_measurements():
    """A rejection detail such as ``lang=en`` or ``x=e`` is no measurement (``float('e')`` once
    stopped a whole curate run)."""
    from transforms.report_samples import MEASURED

    assert MEASURED.match("dup_line_frac=0.35 (max 0.3)").groups() == ("dup_line_frac", "0.35")
    assert MEASURED.match("ratio=1e-3").groups() == ("ratio", "1e-3")
    for detail in ("x=e", "lang=en", "n=12abc", "size=-", "k=."):
        assert MEASURED.match(detail) is None, detail


def test_text_scrubbed_upstream_is_shown_as_stored_and_still_cut_outside_placeholders():
    """With the PII step and scrubbed side outputs upstream the report does not scrub again (no
    Presidio import at the end of every run), so a raw value there would stay: the source holds it."""
    from transforms.report_samples import SampleScrub, report_data

    edge = "a" * (SAMPLE_CHARS - 5) + " <|pii:phone|> tail"
    samples = [(("korean", "kept"), [(1, "k", "", "ko", f"전화 {PHONE}")]),
               (("korean", "quality:short_lines"), [(2, "e", "", "ko", edge)])]
    data = report_data([], samples, SampleScrub(kept=False, rejected=False))
    assert data["samples"]["korean"]["kept"][0]["text"] == f"전화 {PHONE}"
    assert data["samples"]["korean"]["quality:short_lines"][0]["text"].endswith(" <|pii:phone|>")
    scrubbed = report_data([], samples, SampleScrub(kept=True, rejected=False))
    assert scrubbed["samples"]["korean"]["kept"][0]["text"] == "전화 <|pii:phone|>"
