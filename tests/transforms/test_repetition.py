"""Gopher repetition rules: FineWeb-2 values for Korean and per language, Gopher values elsewhere,
line rules for code; n-gram measures equal datatrove's helpers."""
from __future__ import annotations

import random

from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_top_duplicate, get_n_grams
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.document import CODE_KIND, Document
from tests.transforms.filter_harness import run_step
from transforms.ngrams import NGramIndex
from transforms.repetition import (
    CodeRepetitionLimits,
    KoreanRepetitionLimits,
    RepetitionConfig,
    RepetitionFilter,
    TextRepetitionLimits,
    code_repetition,
    repetition_step,
    text_repetition,
)


def doc(doc_id: str, text: str, bucket: str, lang: str = "") -> Document:
    kind = CODE_KIND if bucket == "code" else "text"
    return Document(id=doc_id, text=text, source="t", kind=kind, bucket=bucket, lang=lang)


def unique_german_lines(n: int) -> list[str]:
    """Lines of distinct words: no repeated line, paragraph or n-gram among them."""
    return [f"Zeile{i} enthält Wort{i}a und Wort{i}b sowie Wort{i}c hier" for i in range(n)]


def unique_korean_lines(n: int, seed: int = 0) -> list[str]:
    """Lines of random Hangul syllable words: no repeated morpheme n-grams among them."""
    rng = random.Random(seed)
    return [" ".join("".join(chr(0xAC00 + rng.randrange(11172)) for _ in range(3)) for _ in range(5))
            for _ in range(n)]


def test_gopher_dup_line_frac_030_kept_031_rejected():
    limits = TextRepetitionLimits()
    at_limit = "\n".join(unique_german_lines(69) + ["Ende."] * 31)  # 30 duplicates of 100 lines
    above = "\n".join(unique_german_lines(68) + ["Ende."] * 32)  # 31 duplicates
    assert text_repetition(at_limit, "de", limits) is None
    assert text_repetition(above, "de", limits) == ("dup_line_frac", 0.31)


def test_korean_dup_line_frac_follows_fineweb2_0374():
    at_limit = "\n".join(unique_korean_lines(625) + ["끝."] * 375)  # 374 duplicates of 1000 lines
    above = "\n".join(unique_korean_lines(624) + ["끝."] * 376)
    # Only the line rule is under test: the repeated "끝" would also form a frequent 4-gram.
    korean = KoreanRepetitionLimits(top_n_grams={}, dup_n_grams={})
    gopher = TextRepetitionLimits(top_n_grams={}, dup_n_grams={})
    assert text_repetition(at_limit, "ko", korean) is None
    assert text_repetition(above, "ko", korean) == ("dup_line_frac", 0.375)
    # The same Korean text breaks Gopher's 0.30, which the multilingual bucket uses.
    assert text_repetition(at_limit, "ko", gopher)[0] == "dup_line_frac"


GOPHER_PARAGRAPHS = dict(dup_para_frac=0.30, dup_para_char_frac=0.20, dup_line_char_frac=0.20)


def test_paragraph_and_line_character_rules_are_off_as_in_fineweb2():
    limits = TextRepetitionLimits()
    assert (limits.dup_para_frac, limits.dup_para_char_frac, limits.dup_line_char_frac) == (0, 0, 0)
    assert KoreanRepetitionLimits().dup_para_frac == 0


def test_dup_para_frac_just_above_gopher_limit():
    paragraphs = unique_german_lines(69) + ["Ende."] * 31
    above = unique_german_lines(68) + ["Ende."] * 32
    assert text_repetition("\n\n".join(paragraphs), "de",
                           TextRepetitionLimits(dup_line_frac=0, **GOPHER_PARAGRAPHS)) is None
    assert text_repetition("\n\n".join(above), "de", TextRepetitionLimits(**GOPHER_PARAGRAPHS)) == (
        "dup_para_frac", 0.31)


def test_dup_line_char_frac_rejects_long_repeated_lines():
    repeated = "Dieser lange Satz wird auf jeder Seite als Fußzeile wiederholt und trägt nichts bei."
    text = "\n".join(unique_german_lines(20) + [repeated] * 6)  # 5 of 26 lines duplicate: 0.19
    rule, value = text_repetition(text, "de", TextRepetitionLimits(**GOPHER_PARAGRAPHS))
    assert rule == "dup_line_char_frac"
    assert value == 5 * len(repeated) / len(text)


def test_top_2_gram_char_fraction_at_and_just_above_the_limit():
    rng = random.Random(1)
    words = [f"w{rng.randrange(10**9)}" for _ in range(60)]
    for i in range(0, 60, 4):
        words[i:i + 2] = ["alpha", "beta"]  # 15 occurrences of the bigram, never a repeated 5-gram
    text = " ".join(words)
    expected = len("alpha beta") * 15 / len(text)
    limits = TextRepetitionLimits(top_n_grams={2: expected})
    assert text_repetition(text, "en", limits) is None
    limits.top_n_grams[2] = expected - 1e-9
    assert text_repetition(text, "en", limits) == ("top_2_gram", expected)


def test_repeated_sentence_breaks_dup_5_gram():
    sentence = "the quick brown fox jumps over the lazy sleeping dog"
    text = " ".join(f"w{i}" for i in range(20)) + " " + sentence + " " + sentence
    rule, value = text_repetition(text, "en", TextRepetitionLimits(top_n_grams={}))
    assert rule == "dup_5_gram"
    assert value == len(sentence.replace(" ", "")) / len(text)


def test_korean_repetition_is_measured_on_kiwi_morphemes():
    # The copy is written without spaces (common in Korean web text): no eojeol repeats, but
    # Kiwi segments both into the same morphemes, so the duplicate 5-gram rule sees the copy.
    sentence = "정부는 국민의 안전을 위하여 새로운 법률을 제정하였다"
    text = sentence + "\n" + sentence.replace(" ", "")
    assert not set(sentence.split()) & set(text.split("\n")[1].split())
    rule, _ = text_repetition(text, "ko", KoreanRepetitionLimits(top_n_grams={}))
    assert rule == "dup_5_gram"


def test_code_closing_braces_do_not_count_as_duplicates():
    body = "\n".join(f"func f{i}() int {{\n\treturn compute{i}(value{i})\n}}" for i in range(30))
    assert code_repetition(body, CodeRepetitionLimits()) is None


def test_code_dup_line_frac_050_kept_051_rejected():
    distinct = [f"table[{i}] = lookup(key_{i})" for i in range(24)]
    at_limit = "\n".join(distinct + ["emit(table, v)"] * 26)  # 25 duplicates of 50 lines
    above = "\n".join(distinct + ["emit(table, v)"] * 27)  # 26 duplicates of 51 lines
    assert code_repetition(at_limit, CodeRepetitionLimits()) is None
    assert code_repetition(above, CodeRepetitionLimits()) == ("dup_line_frac", 26 / 51)


# Fixed-length words from a tiny alphabet: many repeats, and concatenation stays unambiguous, so
# datatrove's string-joined n-grams and our word-sequence n-grams must agree exactly.
_REPETITIVE_WORDS = st.lists(st.sampled_from(["ab", "ba", "aa", "bb", "가나"]), max_size=150)


@settings(max_examples=300, deadline=None)
@given(_REPETITIVE_WORDS)
def test_ngram_index_measures_equal_datatrove_helpers(words):
    index = NGramIndex(words)
    for n in (2, 3, 4):
        n_grams = get_n_grams(words, n)
        assert index.top_chars(n) == (find_top_duplicate(n_grams) if n_grams else 0)
    for n in range(5, 11):
        assert index.duplicate_chars(n) == find_all_duplicate(words, n)


def test_ngram_index_top_ties_pick_the_earliest_like_counter_most_common():
    # "x y" and "long words" both occur twice; the earlier one decides the character count.
    words = ["x", "y", "long", "words", "x", "y", "long", "words"]
    assert NGramIndex(words).top_chars(2) == len("x y") * 2 == find_top_duplicate(get_n_grams(words, 2))


def test_empty_text_is_rejected_empty():
    assert RepetitionFilter(RepetitionConfig()).apply(doc("e", "  \n ", "multilingual", "en")) == "empty"


def test_beam_step_rejects_with_reasons_details_and_counts():
    repetition = RepetitionFilter(RepetitionConfig())
    repetitive = doc("de-rep", "\n".join(unique_german_lines(5) + ["Ende."] * 5), "multilingual", "de")
    assert repetition.detail(repetitive, "dup_line_frac") == "dup_line_frac=0.4000"
    docs = [
        doc("de-ok", "\n".join(unique_german_lines(10)), "multilingual", "de"),
        repetitive,
        doc("ko-ok", "\n".join(unique_korean_lines(10)), "korean", "ko"),
        doc("go-gen", "\n".join(["x := table[0] + offset"] * 10), "code"),
    ]
    counters = run_step(
        repetition_step(RepetitionConfig()), docs,
        kept=[("de-ok", "multilingual"), ("ko-ok", "korean")],
        rejected=[("de-rep", "repetition:dup_line_frac"), ("go-gen", "repetition:dup_line_frac")],
    )
    assert counters == {"in": 4, "kept": 2, "rejected:dup_line_frac": 2}


def test_multilingual_documents_get_fineweb2_line_limit_for_their_language():
    # 28 duplicates of 100 lines: under Gopher's 0.30, over German's 0.263 (FineWeb-2 deu_Latn).
    text = "\n".join(unique_german_lines(72) + ["Ende."] * 28)
    repetition = RepetitionFilter(RepetitionConfig())
    assert repetition.apply(doc("de", text, "multilingual", "de")) == "dup_line_frac"
    assert isinstance(repetition.apply(doc("xx", text, "multilingual", "tl")), Document)  # no FineWeb-2 values
