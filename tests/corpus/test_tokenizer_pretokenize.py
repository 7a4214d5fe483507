"""The pre-tokenizer: exact pieces (the HyperCLOVA seed sentence), the rules, losslessness."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.tokenizer.morphemes import BOUNDARY_TABLE
from corpus.tokenizer.pretokenize import MAX_PIECE_CHARS, Pretokenizer, PretokenizerSettings

SEED = "마감이 잘 안돼서 옆부분이 안맞은게 불편했고 흰색이라 어쩔 수 없긴 하지만 때도 잘타요!"
SEED_PIECES = ["마감", "이", " 잘", " 안돼서", " 옆", "부분", "이", " 안", "맞은", "게", " 불편", "했고",
               " 흰색", "이라", " 어쩔", " 수", " 없긴", " 하지만", " 때", "도", " 잘", "타", "요", "!"]
_SHARED = Pretokenizer()  # one tagger for the property tests (hypothesis reruns their bodies)


@pytest.fixture(scope="module")
def pretokenizer() -> Pretokenizer:
    return Pretokenizer()


def test_seed_sentence_splits_exactly_at_the_published_morpheme_boundaries(pretokenizer):
    assert pretokenizer.pieces(SEED) == SEED_PIECES


def test_every_boundary_table_row_is_exercised_by_the_seed_sentence(pretokenizer):
    # Each row's example is a cut the seed segmentation shows; a row no example needs is dead.
    for example in BOUNDARY_TABLE.values():
        for pair in example.split(", "):
            left, right = pair.split("|")
            assert any(a.strip() == left and b.startswith(right)
                       for a, b in zip(SEED_PIECES, SEED_PIECES[1:])), pair


def test_particles_preset_cuts_only_substantive_from_particle_and_copula():
    pieces = Pretokenizer(PretokenizerSettings(morpheme_boundaries="particles")).pieces(SEED)
    assert "|".join(pieces) == ("마감|이| 잘| 안돼서| 옆부분|이| 안맞은게| 불편했고| 흰색|이라| 어쩔| 수| 없긴|"
                                " 하지만| 때|도| 잘타요|!")


def test_unknown_boundary_preset_is_an_error_naming_the_known_ones():
    with pytest.raises(ValueError, match="hyperclova"):
        Pretokenizer(PretokenizerSettings(morpheme_boundaries="everything"))


@pytest.mark.parametrize("text, pieces", [
    ("안되고", ["안되고"]),          # 안되다 is one dictionary verb: not cut
    ("안맞고", ["안", "맞고"]),      # negation adverb + verb: cut
    ("공부했다", ["공부", "했다"]),  # substantive | derivational suffix
    ("학교에서", ["학교", "에서"]),  # substantive | particle
    ("먹었습니다", ["먹었습니다"]),  # an inflected predicate stays whole with its endings
])
def test_boundary_rules_on_common_words(pretokenizer, text, pieces):
    assert pretokenizer.pieces(text) == pieces


def test_a_word_segments_the_same_in_any_context(pretokenizer):
    alone = pretokenizer.pieces("불편했고")
    assert pretokenizer.pieces("정말 " + "불편했고" + " 그래서")[1:3] == [" " + alone[0], *alone[1:]]


def test_digits_are_cut_into_groups_of_three_with_the_space_on_the_first():
    assert Pretokenizer(PretokenizerSettings(morpheme_boundaries="none")).pieces(" 1234567원") == [
        " 123", "456", "7", "원"]


def test_indentation_after_a_line_break_is_one_piece_and_the_keyword_starts_clean():
    code = "def f(x):\n        return x  # done\n\n\tpass"
    assert Pretokenizer(PretokenizerSettings(morpheme_boundaries="none")).pieces(code) == [
        "def", " f", "(", "x", "):", "\n        ", "return", " x", " ", " #", " done", "\n\n\t", "pass"]


def test_punctuation_is_separate_from_letters_and_contractions_are_pieces():
    assert Pretokenizer(PretokenizerSettings(morpheme_boundaries="none")).pieces("It's done...") == [
        "It", "'s", " done", "..."]


def test_one_megabyte_of_one_character_becomes_bounded_pieces(pretokenizer):
    text = "가" * (1 << 20)
    pieces = pretokenizer.pieces(text)
    assert "".join(pieces) == text
    assert max(map(len, pieces)) <= MAX_PIECE_CHARS


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_pieces_concatenate_to_the_input_for_any_text(text):
    assert "".join(_SHARED.pieces(text)) == text


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["가", "나", "는", "이", " ", "\n", "ᄀ", "ᅡ", "ᆫ", "a", "1", "!", "\u0301",
                                 "ㅋ", "\u3164", "\t", "요", "했"]), max_size=60).map("".join))
def test_pieces_concatenate_to_the_input_for_dense_hangul_mixtures(text):
    assert "".join(_SHARED.pieces(text)) == text
