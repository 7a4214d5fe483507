"""Length limits per bucket: characters before words, Kiwi words without punctuation for Korean (as
datatrove's Gopher quality filter counts them), code lines. MeCab words for the other steps."""
from __future__ import annotations

import dataclasses

import pytest

import transforms.length as length_module
from corpus.document import CODE_KIND, Document
from corpus.words import content_words, filter_word_tokenizer, word_tokenizer
from tests.transforms.filter_harness import run_step
from transforms.length import CodeLengthLimits, LengthConfig, LengthFilter, TextLengthLimits, length_step

KOREAN_SENTENCE = "학생들은 도서관에서 책을 읽고 친구들과 함께 공부했다. "


def doc(doc_id: str, text: str, bucket: str, lang: str = "") -> Document:
    kind = CODE_KIND if bucket == "code" else "text"
    return Document(id=doc_id, text=text, source="t", kind=kind, bucket=bucket, lang=lang)


@pytest.fixture(scope="module")
def length() -> LengthFilter:
    return LengthFilter(LengthConfig())


def test_korean_words_are_morphemes_not_eojeol():
    words = word_tokenizer("ko").word_tokenize(KOREAN_SENTENCE)
    assert len(KOREAN_SENTENCE.split()) == 7
    assert {"도서관", "에서", "책", "을"} <= set(words)
    assert len(words) > 7


def test_korean_words_keep_latin_numbers_and_hanja_but_not_punctuation():
    words = word_tokenizer("ko").word_tokenize("Python 3.11 버전은 大韓民國 (2023년) … 100% 끝!")
    assert words == ["Python", "3", "11", "버전", "은", "大韓", "民國", "2023", "년", "100", "끝"]


def test_korean_min_words_counts_kiwi_words_without_punctuation_just_at_and_just_above_the_minimum():
    text = KOREAN_SENTENCE * 8
    words = filter_word_tokenizer("ko").word_tokenize(text)
    n_morphemes = len(content_words(words))
    assert n_morphemes == len(words) - 8  # the eight full stops are not counted
    at_minimum = LengthFilter(LengthConfig(korean=TextLengthLimits(min_words=n_morphemes)))
    one_more = LengthFilter(LengthConfig(korean=TextLengthLimits(min_words=n_morphemes + 1)))
    assert isinstance(at_minimum.apply(doc("k", text, "korean", "ko")), Document)
    assert one_more.apply(doc("k", text, "korean", "ko")) == "too_few_words"
    assert one_more.detail(doc("k", text, "korean", "ko"), "too_few_words") == f"words={n_morphemes}"


def test_multilingual_49_words_rejected_50_kept(length):
    words = "Die Katze schläft auf dem warmen Sofa neben dem Fenster ".split()
    text_49 = " ".join((words * 5)[:49])
    text_50 = " ".join((words * 5)[:50])
    assert length.apply(doc("d49", text_49, "multilingual", "de")) == "too_few_words"
    assert isinstance(length.apply(doc("d50", text_50, "multilingual", "de")), Document)


def test_min_chars_199_rejected_200_kept():
    limits = LengthConfig(multilingual=TextLengthLimits(min_words=1))
    length = LengthFilter(limits)
    assert length.apply(doc("a", "a" * 199, "multilingual", "en")) == "too_short"
    assert isinstance(length.apply(doc("b", "a" * 200, "multilingual", "en")), Document)


def test_twenty_megabyte_document_is_rejected_before_any_tokenization(length, monkeypatch):
    def no_tokenizer(lang):
        raise AssertionError("word tokenizer must not run on an over-long document")

    monkeypatch.setattr(length_module, "filter_word_tokenizer", no_tokenizer)
    huge = doc("huge", KOREAN_SENTENCE * (20_000_000 // len(KOREAN_SENTENCE)), "korean", "ko")
    assert length.apply(huge) == "too_long"
    assert length.detail(huge, "too_long") == f"chars={len(huge.text)}"


def test_max_chars_boundary_for_korean():
    length = LengthFilter(LengthConfig(korean=TextLengthLimits(max_chars=len(KOREAN_SENTENCE * 10))))
    assert isinstance(length.apply(doc("k", KOREAN_SENTENCE * 10, "korean", "ko")), Document)
    assert length.apply(doc("k", KOREAN_SENTENCE * 10 + "끝", "korean", "ko")) == "too_long"


def test_code_two_lines_rejected_three_kept_blank_lines_ignored(length):
    two = "import os\n\n\nprint(os.getcwd())\n"
    three = "import os\n\nfor name in os.listdir('.'):\n    print(name)\n"
    assert length.apply(doc("c2", two, "code")) == "too_few_lines"
    assert isinstance(length.apply(doc("c3", three, "code")), Document)


def test_code_line_of_1001_chars_is_minified_1000_kept(length):
    body = "function f(a) {\n  return a;\n}\n"
    assert isinstance(length.apply(doc("ok", body + "x" * 1000 + "\n", "code")), Document)
    minified = doc("min", body + "x" * 1001 + "\n", "code")
    assert length.apply(minified) == "long_line"
    assert length.detail(minified, "long_line") == "max_line_length=1001"


def test_code_too_many_lines():
    length = LengthFilter(LengthConfig(code=CodeLengthLimits(max_lines=10)))
    assert isinstance(length.apply(doc("ten", "x = 1\n" * 10, "code")), Document)
    assert length.apply(doc("eleven", "x = 1\n" * 11, "code")) == "too_many_lines"


def test_undecided_text_document_is_measured_as_multilingual(length):
    # langid disabled and no given lang: curation files the document as multilingual.
    undecided = Document(id="x", text="a" * 199, source="t")
    assert length.apply(undecided) == "too_short"
    assert isinstance(length.apply(dataclasses.replace(undecided, text=" ".join(["word"] * 50))), Document)


def test_korean_bucket_without_lang_still_counts_morphemes():
    # langid disabled, bucket from the record's given lang: words are still MeCab morphemes.
    text = KOREAN_SENTENCE * 8
    n_morphemes = len(word_tokenizer("ko").word_tokenize(text))
    assert len(word_tokenizer("").word_tokenize(text)) < n_morphemes  # eojeol would fall short
    length = LengthFilter(LengthConfig(korean=TextLengthLimits(min_words=n_morphemes)))
    assert isinstance(length.apply(doc("k", text, "korean", lang="")), Document)


def test_beam_step_rejects_with_reasons_and_counts():
    docs = [
        doc("ko-ok", KOREAN_SENTENCE * 10, "korean", "ko"),
        doc("ko-short", KOREAN_SENTENCE, "korean", "ko"),
        doc("code-ok", "a = 1\nb = 2\nprint(a + b)\n", "code"),
        doc("code-min", "a=1\nb=2\n" + "c" * 5000 + "\n", "code"),
    ]
    counters = run_step(
        length_step(LengthConfig()), docs,
        kept=[("ko-ok", "korean"), ("code-ok", "code")],
        rejected=[("ko-short", "length:too_short"), ("code-min", "length:long_line")],
    )
    assert counters == {"in": 4, "kept": 2, "rejected:too_short": 1, "rejected:long_line": 1}
