"""Language ID with the real lid.176 model: buckets, confidence thresholds, sampling, Beam wiring."""
from __future__ import annotations

import dataclasses

import pytest

from corpus.document import CODE_KIND, Document
from tests.conftest import read_sample
from tests.transforms.filter_harness import run_step
from transforms.langid import LangIdConfig, LanguageIdFilter, langid_step, lid_sample

KOREAN_TEXT = (
    "대한민국의 모든 국민은 법 앞에 평등하다. 누구든지 성별·종교 또는 사회적 신분에 의하여 "
    "정치적·경제적·사회적·문화적 생활의 모든 영역에 있어서 차별을 받지 아니한다.\n"
    "모든 국민은 신체의 자유를 가진다."
)
GERMAN_TEXT = (
    "Das Programm liest die Konfigurationsdatei beim Start und schreibt alle Meldungen in das "
    "Protokoll.\nFehler werden auf der Standardfehlerausgabe gemeldet."
)


def text_doc(doc_id: str, text: str) -> Document:
    return Document(id=doc_id, text=text, source="test")


@pytest.fixture(scope="module")
def lid() -> LanguageIdFilter:
    doc_filter = LanguageIdFilter(LangIdConfig())
    doc_filter.setup()
    return doc_filter


def test_korean_text_goes_to_korean_bucket_with_lang_and_score(lid):
    doc = lid.apply(text_doc("k", KOREAN_TEXT))
    assert isinstance(doc, Document)
    assert (doc.bucket, doc.lang) == ("korean", "ko")
    assert 0.65 <= doc.lang_score <= 1.0


def test_german_text_goes_to_multilingual_bucket(lid):
    doc = lid.apply(text_doc("d", GERMAN_TEXT))
    assert (doc.bucket, doc.lang) == ("multilingual", "de")


def test_code_document_passes_to_code_bucket_without_lid(lid):
    code = Document(id="c", text="def f(x):\n    return x + 1\n", source="test", kind=CODE_KIND, lang="python")
    doc = lid.apply(code)
    assert (doc.bucket, doc.lang, doc.lang_score) == ("code", "python", 0.0)


def test_score_just_above_and_just_below_the_minimum(lid):
    lang, score = lid.predict(GERMAN_TEXT)
    at_threshold = LanguageIdFilter(dataclasses.replace(LangIdConfig(), min_score_multilingual=score - 1e-6))
    above_threshold = LanguageIdFilter(dataclasses.replace(LangIdConfig(), min_score_multilingual=score + 1e-6))
    at_threshold._model = above_threshold._model = lid._model
    assert isinstance(at_threshold.apply(text_doc("d", GERMAN_TEXT)), Document)
    rejected_doc = text_doc("d", GERMAN_TEXT)
    assert above_threshold.apply(rejected_doc) == "low_score"
    assert above_threshold.detail(rejected_doc, "low_score") == f"lang={lang} score={score:.4f}"


def test_korean_and_multilingual_minimums_are_separate(lid):
    strict_korean = LanguageIdFilter(LangIdConfig(min_score_korean=1.01, min_score_multilingual=0.0))
    strict_korean._model = lid._model
    assert strict_korean.apply(text_doc("k", KOREAN_TEXT)) == "low_score"
    assert isinstance(strict_korean.apply(text_doc("d", GERMAN_TEXT)), Document)


def test_keyboard_mash_is_rejected_low_score(lid):
    assert lid.apply(text_doc("s", "asdf qwer zxcv 12345")) == "low_score"


def test_empty_text_is_rejected_low_score_with_no_language(lid):
    doc = text_doc("e", " \n\t ")
    assert lid.apply(doc) == "low_score"
    assert lid.detail(doc, "low_score") == "lang=? score=0.0000"


def test_sample_has_no_newlines_and_covers_start_middle_and_end():
    text = "\n".join(["alpha " * 300, "beta " * 300, "gamma " * 300, "delta " * 300, "omega " * 300])
    sample = lid_sample(text, windows=3, window_chars=200)
    assert "\n" not in sample
    assert sample.startswith("alpha") and "gamma" in sample and sample.endswith("omega")
    assert "beta" not in sample and "delta" not in sample
    assert len(sample) <= 3 * 200 + 2


def test_sample_cuts_windows_at_word_boundaries():
    sample = lid_sample("abcdefghij " * 500, windows=3, window_chars=100)
    assert set(sample.split()) == {"abcdefghij"}


def test_short_text_is_scored_whole():
    assert lid_sample("제목\n\n본문  입니다.\r\n끝", windows=3, window_chars=1000) == "제목 본문 입니다. 끝"


def test_english_title_over_korean_body_is_korean_thanks_to_windows(lid):
    # The first line alone says English; the document is Korean.
    text = "LibreOffice Calc: AutoFilter Options\n" + KOREAN_TEXT * 20
    assert lid.predict(text.split("\n")[0])[0] == "en"
    assert lid.apply(text_doc("t", text)).bucket == "korean"


def test_twenty_megabyte_document_is_scored_on_a_bounded_sample(lid):
    huge = (GERMAN_TEXT + "\n") * (20_000_000 // len(GERMAN_TEXT))
    assert len(lid_sample(huge, 3, 1000)) <= 3 * 1000 + 2
    assert lid.apply(text_doc("huge", huge)).lang == "de"


def test_sample_data_lid_agrees_with_given_lang(lid):
    records = read_sample("ko", 40) + read_sample("multi", 120)
    predicted = [lid.predict(r["text"])[0] for r in records]
    given = [r.get("lang", "ko") for r in records]
    assert predicted == given


def test_beam_step_tags_rejections_and_counts(lid):
    docs = [
        text_doc("ko-1", KOREAN_TEXT),
        text_doc("de-1", GERMAN_TEXT),
        text_doc("noise", "asdf qwer zxcv 12345"),
        Document(id="code-1", text="int main(void) { return 0; }\n", source="t", kind=CODE_KIND),
    ]
    counters = run_step(
        langid_step(LangIdConfig()), docs,
        kept=[("ko-1", "korean"), ("de-1", "multilingual"), ("code-1", "code")],
        rejected=[("noise", "langid:low_score")],
    )
    assert counters == {"in": 4, "kept": 3, "rejected:low_score": 1}
