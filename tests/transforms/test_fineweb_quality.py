"""FineWeb quality rules: datatrove's FineWebQualityFilter decisions, FineWeb-2's values per language."""
from __future__ import annotations

from datatrove.data import Document as DatatroveDocument
from datatrove.pipeline.filters import FineWebQualityFilter as DatatroveFineWebQuality
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.document import CODE_KIND, Document
from corpus.words import RegexWordTokenizer
from tests.transforms.filter_harness import run_step
from transforms.fineweb_quality import (
    FineWebQualityConfig,
    FineWebQualityFilter,
    FineWebQualityLimits,
    KoreanFineWebQualityLimits,
    fineweb_quality,
    fineweb_quality_step,
)

SENTENCE = "this line is an ordinary sentence with a full stop at its end."
WORDS = RegexWordTokenizer("xx")


def doc(doc_id: str, text: str, bucket: str, lang: str = "") -> Document:
    kind = CODE_KIND if bucket == "code" else "text"
    return Document(id=doc_id, text=text, source="t", kind=kind, bucket=bucket, lang=lang)


def measure(text: str, limits: FineWebQualityLimits):
    return fineweb_quality(text, WORDS.word_tokenize(text), limits)


def test_line_punct_ratio_at_korean_0062_kept_below_rejected():
    limits = KoreanFineWebQualityLimits(new_line_ratio=0, char_duplicates_ratio=0)
    bare = [f"문장 {i} 마침표 없음" for i in range(1000)]
    at_limit = "\n".join([f"문장 {i}." for i in range(62)] + bare[62:])
    below = "\n".join([f"문장 {i}." for i in range(61)] + bare[61:])
    assert measure(at_limit, limits) is None
    assert measure(below, limits) == ("line_punct_ratio", 0.061)


def test_line_punct_counts_lines_ending_in_terminal_punctuation_without_stripping():
    limits = FineWebQualityLimits(line_punct_thr=0.5, new_line_ratio=0, char_duplicates_ratio=0)
    assert measure(f"{SENTENCE}\nno stop here", limits) is None
    assert measure(f"{SENTENCE}  \nno stop here", limits)[0] == "line_punct_ratio"  # trailing spaces


def test_char_duplicates_ratio_010_kept_above_rejected():
    limits = FineWebQualityLimits(line_punct_thr=0, new_line_ratio=0)
    unique = [f"line {i:04d} xxxxx." for i in range(90)]  # 16 characters each
    at_limit = "\n".join(unique + ["repeated line xx."] + ["repeated line xx."] * 9)
    value = 9 * 17 / len(at_limit.replace("\n", ""))
    assert value <= 0.1 and measure(at_limit, limits) is None
    above = "\n".join(unique[:80] + ["repeated line xx."] * 11)
    rule, measured = measure(above, limits)
    assert (rule, measured) == ("char_dup_ratio", 10 * 17 / len(above.replace("\n", "")))


def test_new_line_ratio_counts_newlines_per_word():
    limits = FineWebQualityLimits(line_punct_thr=0, char_duplicates_ratio=0, new_line_ratio=0.25)
    four_words_a_line = "\n".join(f"w{i} a{i} b{i} c{i}." for i in range(10))  # 9 newlines, 40 words
    assert measure(four_words_a_line, limits) is None
    three_words_a_line = "\n".join(f"w{i} a{i} b{i}." for i in range(10))  # 9 / 30 = 0.3
    assert measure(three_words_a_line, limits) == ("list_ratio", 0.3)


def test_blank_document_is_rejected_empty():
    assert measure(" \n\n ", FineWebQualityLimits()) == ("empty", 0.0)


_LINES = st.lists(st.sampled_from([SENTENCE, "a list item", "ab cd", "menu", "한국어 문장입니다.", "end!", "", " ",
                                   "x" * 40, "same line repeated"]), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(_LINES, st.sampled_from([0.0, 0.1, 0.3]), st.sampled_from([0.0, 0.05, 0.3]), st.sampled_from([0.1, 0.2, 0.5]),
       st.sampled_from([0.0, 0.5]))
def test_decisions_equal_datatroves_fineweb_quality_filter(lines, punct, duplicates, newlines, short):
    text = "\n".join(lines)
    if not text.strip():
        return
    ours = FineWebQualityLimits(line_punct_thr=punct, char_duplicates_ratio=duplicates or 1.0,
                                new_line_ratio=newlines, short_line_thr=short)
    reference = DatatroveFineWebQuality(line_punct_thr=punct, char_duplicates_ratio=duplicates or 1.0,
                                        new_line_ratio=newlines, short_line_thr=short or 999, language=WORDS)
    if not WORDS.word_tokenize(text):
        return  # datatrove divides by the word count
    verdict = reference.filter(DatatroveDocument(text=text, id="x"))
    found = measure(text, ours)
    names = {"line_punct_ratio": "line_punct_ratio", "short_line_ratio": "short_line_ratio",
             "char_dup_ratio": "char_dup_ratio", "list_ratio": "list_ratio"}
    assert (found is None) == (verdict is True)
    if found is not None:
        assert verdict[1] == names[found[0]]


def test_multilingual_documents_get_fineweb2_values_for_their_language():
    # Ten words a line, none ending in punctuation: German's line_punct_thr is 0 (off).
    text = "\n".join(f"Zeile {i} ohne Punkt am Ende aber mit genug Wörtern" for i in range(30))
    config = FineWebQualityConfig()
    assert isinstance(FineWebQualityFilter(config).apply(doc("de", text, "multilingual", "de")), Document)
    # Italian and the fallback (English: datatrove's 0.12) require line-ending punctuation.
    assert FineWebQualityFilter(config).apply(doc("en", text, "multilingual", "en")) == "line_punct_ratio"
    assert FineWebQualityFilter(config).apply(doc("it", text, "multilingual", "it")) == "line_punct_ratio"
    no_languages = FineWebQualityConfig(multilingual=FineWebQualityLimits(fineweb2_fields=[], line_punct_thr=0))
    assert isinstance(FineWebQualityFilter(no_languages).apply(doc("it", text, "multilingual", "it")), Document)


def test_beam_step_rejects_with_reasons_and_passes_code():
    listing = "\n".join(f"항목 {i}" for i in range(60))
    docs = [
        doc("ko-ok", "\n".join(f"한국어로 쓴 {i}번째 문장은 정말 좋은 글입니다." for i in range(4)), "korean", "ko"),
        doc("ko-list", listing, "korean", "ko"),
        doc("go", "package x\nfunc F() {}\n", "code"),
    ]
    counters = run_step(
        fineweb_quality_step(FineWebQualityConfig()), docs,
        kept=[("ko-ok", "korean"), ("go", "code")],
        rejected=[("ko-list", "fineweb_quality:line_punct_ratio")],
    )
    assert counters == {"in": 3, "kept": 2, "rejected:line_punct_ratio": 1}
