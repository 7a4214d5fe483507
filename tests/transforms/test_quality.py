"""Quality heuristics: Gopher rules for text as datatrove measures them (FineWeb-2 values for Korean
and per language), Codex rules for code, and the whole filter chain on the real sample data."""
from __future__ import annotations

from datatrove.data import Document as DatatroveDocument
from datatrove.pipeline.filters import GopherQualityFilter
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.config import load
from corpus.document import CODE_KIND, Document
from corpus.words import RegexWordTokenizer, filter_word_tokenizer
from tests.conftest import read_sample
from tests.transforms.filter_harness import run_step
from transforms.config import CurateConfig
from transforms.fineweb_quality import FineWebQualityFilter
from transforms.langid import LangIdConfig, LanguageIdFilter
from transforms.length import LengthFilter
from transforms.quality import (
    CodeQualityLimits,
    KoreanQualityLimits,
    QualityConfig,
    QualityFilter,
    TextQualityLimits,
    code_quality,
    quality_step,
    text_quality,
)
from transforms.repetition import RepetitionFilter

KOREAN_TEXT = "학생들은 도서관에서 책을 읽고 친구들과 함께 공부했다.\n선생님은 학생들에게 숙제를 내주었다.\n"
ENGLISH_WORDS = "every good program reads its input checks it and writes clear output".split()


def doc(doc_id: str, text: str, bucket: str, lang: str = "") -> Document:
    kind = CODE_KIND if bucket == "code" else "text"
    return Document(id=doc_id, text=text, source="t", kind=kind, bucket=bucket, lang=lang)


WORDS = RegexWordTokenizer("xx")  # letters and digits only: the boundary arithmetic below stays visible


def english(n_words: int) -> str:
    return " ".join((ENGLISH_WORDS * (n_words // len(ENGLISH_WORDS) + 1))[:n_words])


def measure(text: str, lang: str, limits: TextQualityLimits):
    words = WORDS.word_tokenize(text) if lang != "ko" else filter_word_tokenizer("ko").word_tokenize(text)
    return text_quality(text, words, limits)


def test_hash_to_word_ratio_010_kept_011_rejected():
    limits = TextQualityLimits()
    assert measure(english(100) + " #" * 10, "en", limits) is None
    assert measure(english(100) + " #" * 11, "en", limits) == ("hash_ratio", 0.11)


def test_ellipsis_to_word_ratio_counts_both_spellings():
    limits = TextQualityLimits(max_ellipsis_lines_frac=0)
    assert measure(english(100) + " ..." * 5 + " …" * 5, "en", limits) is None
    assert measure(english(100) + " ..." * 6 + " …" * 5, "en", limits) == ("ellipsis_ratio", 0.11)


def test_bullet_lines_90_percent_kept_all_rejected():
    lines = [f"- {english(8)}"] * 9
    assert measure("\n".join(lines + [english(8)]), "en", TextQualityLimits()) is None
    assert measure("\n".join(lines + ["  • " + english(8)]), "en", TextQualityLimits()) == ("bullet_lines", 1.0)
    # datatrove's bullets are "•" and "-" only
    assert measure("\n".join(["· " + english(8)] * 10), "en", TextQualityLimits()) is None


def test_ellipsis_line_endings_030_kept_040_rejected():
    plain, trailing = english(8), english(8) + "…"
    assert measure("\n".join([trailing] * 3 + [plain] * 7), "en", TextQualityLimits()) is None
    assert measure("\n".join([trailing] * 4 + [plain] * 6), "en", TextQualityLimits()) == ("ellipsis_lines", 0.4)


def test_alpha_word_fraction_080_kept_079_rejected():
    numbers = " ".join(str(1000 + i) for i in range(21))
    assert measure(english(84) + " " + numbers[:-5], "en", TextQualityLimits()) is None  # 80/100
    rule, value = measure(english(79) + " " + numbers, "en", TextQualityLimits())
    assert (rule, value) == ("few_alpha_words", 0.79)


def test_mean_word_length_bounds_gopher():
    assert measure(" ".join(["abcdefghijk"] * 60), "de", TextQualityLimits())[0] == "long_words"
    assert measure(" ".join(["ab"] * 60), "de", TextQualityLimits())[0] == "short_words"
    assert measure(" ".join(["abcdefghij"] * 60), "de", TextQualityLimits()) is None


def test_mean_word_length_ignores_punctuation_words():
    # 60 five-letter words and 60 lone commas: the mean is 5, not 3 (datatrove's non-symbol words)
    words = ["abcde", ","] * 60
    assert text_quality(" ".join(words), words, TextQualityLimits(min_alpha_words_frac=0)) is None


def test_japanese_documents_get_fineweb2_japanese_word_length_bounds():
    japanese = "日本語の文章は空白で単語を区切らないので、形態素ごとに数えます。" * 5
    quality = QualityFilter(QualityConfig())
    assert isinstance(quality.apply(doc("ja", japanese, "multilingual", "ja")), Document)  # jpn_Jpan: 1..6
    fallback = QualityFilter(QualityConfig(multilingual=TextQualityLimits(fineweb2_fields=[])))
    assert fallback.apply(doc("ja", japanese, "multilingual", "ja")) == "short_words"  # Gopher: 3..10


def test_unknown_fineweb2_field_is_a_config_error_naming_it():
    import pytest

    from corpus.config import ConfigError

    with pytest.raises(ConfigError, match="multilingual.fineweb2_fields: 'max_hash'"):
        QualityFilter(QualityConfig(multilingual=TextQualityLimits(fineweb2_fields=["max_hash"])))


_TEXT = st.lists(st.sampled_from(["the", "of", "and", "word", "longerword", "x", "#", "...", "…", "-", "•", "1234",
                                  "\n", "\n- ", "\n• ", " ...\n", ",", "!!"]), min_size=1, max_size=120)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.sampled_from([0.0, 3.0]), st.sampled_from([0.0, 0.8]), st.sampled_from([0, 2]))
def test_decisions_equal_datatroves_gopher_quality_filter(pieces, min_length, alpha, stop_words):
    text = " ".join(pieces)
    words = text.split()  # any tokenizer: both sides get the same words
    if not words:
        return
    ours = TextQualityLimits(min_mean_word_length=min_length, min_alpha_words_frac=alpha,
                             min_stop_words=stop_words, stop_words=["the", "of", "and"])

    class Split(RegexWordTokenizer):
        def _words(self, text):
            return text.split()

    reference = GopherQualityFilter(min_doc_words=None, max_doc_words=None, min_avg_word_length=min_length,
                                    max_non_alpha_words_ratio=alpha, min_stop_words=stop_words,
                                    stop_words=["the", "of", "and"], language=Split("xx"))
    verdict = reference.filter(DatatroveDocument(text=text, id="x"))
    found = text_quality(text, words, ours)
    names = {"short_words": "gopher_below_avg_threshold", "long_words": "gopher_above_avg_threshold",
             "hash_ratio": "gopher_too_many_hashes", "ellipsis_ratio": "gopher_too_many_ellipsis",
             "bullet_lines": "gopher_too_many_bullets", "ellipsis_lines": "gopher_too_many_end_ellipsis",
             "few_alpha_words": "gopher_below_alpha_threshold", "few_stop_words": "gopher_enough_stop_words"}
    assert (found is None) == (verdict is True), (found, verdict)
    if found is not None:
        assert verdict[1] == names[found[0]]


def test_korean_needs_two_fineweb2_stop_words():
    nouns_only = " ".join(["컴퓨터 프로그램 데이터 시스템 네트워크 서버"] * 10)
    assert measure(nouns_only, "ko", KoreanQualityLimits()) == ("few_stop_words", 0)
    assert measure(KOREAN_TEXT * 3, "ko", KoreanQualityLimits()) is None


def test_korean_mean_morpheme_length_upper_bound_is_fineweb2_six():
    # Kiwi splits Hangul into short morphemes; long Latin terms stay whole.
    long_morphemes = " ".join(["internationalization"] * 40) + " " + KOREAN_TEXT
    assert measure(long_morphemes, "ko", KoreanQualityLimits())[0] == "long_words"


def test_code_generated_banner_rejected_only_in_the_scanned_head():
    go = "package x\n\nfunc F() int {\n\treturn 1\n}\n"
    banner = "// Code generated by protoc-gen-go. DO NOT EDIT.\n"
    assert code_quality(banner + go, CodeQualityLimits()) == ("generated", 1.0)
    comments = "\n".join(["// a comment line that pads the file head"] * 60) + "\n"
    assert code_quality(go + comments + banner, CodeQualityLimits()) is None


def test_code_alphanumeric_fraction_near_025():
    limits = CodeQualityLimits(max_mean_line_length=0)
    assert code_quality("ab" + "=" * 6, limits) is None  # 2/8 = 0.25
    assert code_quality("ab" + "=" * 7, limits) == ("low_alnum", 2 / 9)


def test_code_mean_line_length_100_kept_101_rejected():
    assert code_quality("\n".join(["x" * 100] * 5), CodeQualityLimits()) is None
    assert code_quality("\n".join(["x" * 101] * 5), CodeQualityLimits()) == ("long_mean_line", 101.0)


def test_beam_step_rejects_with_reasons_details_and_counts():
    quality = QualityFilter(QualityConfig())
    hashy = doc("en-hash", english(50) + " #" * 10, "multilingual", "en")
    # spaCy's English words, as datatrove's: the ten "#" are words too (10 / 60)
    assert quality.detail(hashy, "hash_ratio") == "hash_ratio=0.1667"
    docs = [
        doc("en-ok", english(60), "multilingual", "en"),
        hashy,
        doc("ko-ok", KOREAN_TEXT * 3, "korean", "ko"),
        doc("gen", "// Code generated by stringer; DO NOT EDIT.\npackage x\n", "code"),
    ]
    counters = run_step(
        quality_step(QualityConfig()), docs,
        kept=[("en-ok", "multilingual"), ("ko-ok", "korean")],
        rejected=[("en-hash", "quality:hash_ratio"), ("gen", "quality:generated")],
    )
    assert counters == {"in": 4, "kept": 2, "rejected:hash_ratio": 1, "rejected:generated": 1}


def test_demo_filter_chain_keeps_most_of_the_real_sample_data():
    # configs/demo.yaml: FineWeb-2's values, layout rules off for the hard-wrapped multilingual docs.
    config = load(CurateConfig, "configs/demo.yaml")
    chain = [LanguageIdFilter(LangIdConfig()), LengthFilter(config.length), RepetitionFilter(config.repetition),
             FineWebQualityFilter(config.fineweb_quality), QualityFilter(config.quality)]
    for doc_filter in chain:
        doc_filter.setup()
    samples = {"ko": read_sample("ko", 40), "multi": read_sample("multi", 100), "code": read_sample("code", 200)}
    minimum = {"ko": 0.7, "multi": 0.85, "code": 0.85}
    for name, records in samples.items():
        kept = 0
        for record in records:
            current = Document(id=record["id"], text=record["text"], source=record["source"],
                               kind=CODE_KIND if name == "code" else "text")
            for doc_filter in chain:
                current = doc_filter.apply(current)
                if isinstance(current, str):
                    break
            kept += isinstance(current, Document)
        assert kept / len(records) >= minimum[name], (name, kept, len(records))
