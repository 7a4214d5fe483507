"""The measures the ablation reports: straddling tokens, and the fewest tokens any vocabulary allows."""
from __future__ import annotations

from collections import Counter

from corpus.tokenizer import train
from corpus.tokenizer.metrics import count_straddling, min_tokens, morpheme_cuts, spans_from_lengths
from corpus.tokenizer.pretokenize import Pretokenizer
from corpus.tokenizer.training import DEFAULT_MIN_FREQUENCY
from tests.conftest import read_sample


def test_a_token_straddles_only_a_cut_strictly_inside_it():
    spans = spans_from_lengths([3, 2, 4])  # [0,3) [3,5) [5,9)
    assert spans == [(0, 3), (3, 5), (5, 9)]
    assert count_straddling(spans, [3, 5]) == 0   # cuts on token edges
    assert count_straddling(spans, [1, 4, 6, 7]) == 3  # one or more cuts inside each token
    assert count_straddling(spans, [9]) == 0


def test_morpheme_cuts_are_byte_offsets_of_the_configured_boundaries():
    # "마감이 잘" -> 마감|이| 잘: one cut after 마감 (2 Hangul syllables = 6 bytes)
    assert morpheme_cuts(Pretokenizer(), "마감이 잘") == [6]
    assert morpheme_cuts(Pretokenizer(), "abc 123") == []


def test_min_tokens_counts_one_per_piece_and_two_for_a_piece_never_learnable():
    train_pieces = Counter({"abc": 3, " 마감": 1})
    held_out = ["abc", "ab", "xyz", "마감", "a"]
    # "xyz" occurs nowhere in training: two tokens at least; "a" is one byte: always one token.
    assert min_tokens(train_pieces, held_out, min_frequency=1) == 6
    # "마감" occurs once (inside " 마감"): with min_frequency 2 no merge can form it.
    assert min_tokens(train_pieces, held_out, min_frequency=2) == 7
    assert min_tokens(train_pieces, ["abcabc"], min_frequency=1) == 2


def test_no_trained_tokenizer_beats_the_min_tokens_bound():
    texts = [record["text"] for record in read_sample("ko", 80)]
    train_texts, held_out = texts[:60], texts[60:]
    # A vocabulary larger than the sample can fill: every merge min_frequency allows is made.
    tokenizer = train(train_texts, 60_000)
    train_pieces = Counter(p for text in train_texts for p in tokenizer.pieces(text))
    held_pieces = [p for text in held_out for p in tokenizer.pieces(text)]
    bound = min_tokens(train_pieces, held_pieces, DEFAULT_MIN_FREQUENCY)
    actual = sum(len(tokenizer.encode(text)) for text in held_out)
    assert len(held_pieces) < bound <= actual
