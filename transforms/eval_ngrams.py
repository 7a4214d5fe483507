"""Evaluation-set n-grams for decontamination: normalized words, 64-bit n-gram hashes, and the
lookup table that workers receive as a side input.

Normalization is the same on both sides: eval items are first put in curate's canonical form
(``transforms.normalize.normalize_text``: NFC, line breaks), which the training documents already
have from the normalize step; both are split into words, and each word is NFKC-normalized and
case-folded. Punctuation and whitespace never reach a
word, so "Hello,  world" and "hello\\nworld" give the same n-grams. Texts containing Hangul are
split into MeCab morphemes, all others with the Unicode word regex (``corpus.words``). The choice
is by script, not by the document's language label, so that a Korean eval passage quoted inside
a document that language ID called English is still split the same way as the eval item.

Hashes: every word gets a 64-bit BLAKE2b hash; an n-gram's hash is the polynomial
``sum(h[i] * P**(n-1-i)) mod 2**64`` over its words, computed for all positions of a document at
once with numpy. For E eval n-grams and T training n-grams about ``E*T/2**64`` false matches are
expected: ~0.5 for 10 million eval n-grams against 10**12 training n-grams (a 1T-token corpus).
"""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import numpy as np
import regex

from corpus.hashing import hash64
from corpus.words import word_tokenizer
from transforms.normalize import normalize_text

_HANGUL = regex.compile(r"\p{Hangul}")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio): a bijective multiply


@dataclass(frozen=True)
class Words:
    """The normalized words of a text and each word's ``[start, end)`` in it."""

    text: str
    words: list[str]
    spans: list[tuple[int, int]]


def eval_item_words(item: str) -> Words:
    """An eval item's words, after the normalization training text got in curate."""
    return words_of(normalize_text(item))


def words_of(text: str) -> Words:
    tokenizer = word_tokenizer("ko" if _HANGUL.search(text) else "xx")
    words, spans, position = [], [], 0
    for token in tokenizer.word_tokenize(text):
        start = text.find(token, position)
        if start < 0:  # a tokenizer that rewrote its input; such a token cannot be located, skip it
            continue
        position = start + len(token)
        words.append(fold(token))
        spans.append((start, position))
    return Words(text, words, spans)


@functools.lru_cache(maxsize=1 << 18)
def fold(word: str) -> str:
    """One word's normalized form: NFKC (full-width -> ASCII, compatibility forms), case-folded,
    typographic apostrophe -> ASCII."""
    return unicodedata.normalize("NFKC", word).casefold().replace("\u2019", "'")


# word -> 64-bit hash. A plain dict read in a list comprehension is ~3x faster than an
# lru_cache'd function here (word hashing is the hot loop of decontamination); it is emptied when
# full, which costs only recomputation (hashes are deterministic).
_WORD_HASHES: dict[str, int] = {}
_WORD_HASHES_MAX = 1 << 20


def _word_hash(word: str) -> int:
    if len(_WORD_HASHES) >= _WORD_HASHES_MAX:
        _WORD_HASHES.clear()
    value = _WORD_HASHES[word] = hash64(word, "little")
    return value


def word_hashes(words: list[str]) -> np.ndarray:
    cached = _WORD_HASHES.get
    return np.array([cached(w) or _word_hash(w) for w in words], dtype=np.uint64)


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """Hash of every n-word window (``len(hashes) - n + 1`` values; none if fewer words)."""
    windows = len(hashes) - n + 1
    if windows <= 0:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic mod 2**64 is the point
        acc = hashes[:windows].copy()
        for offset in range(1, n):
            acc = acc * _MULTIPLIER + hashes[offset : offset + windows]
    return acc


@dataclass
class NgramTable:
    """Sorted eval n-gram hashes per n-gram length, with the eval set (index into ``names``) of
    each. The same hash may appear once per eval set that contains it."""

    names: list[str]
    hashes: dict[int, np.ndarray]
    sets: dict[int, np.ndarray]

    def lengths(self) -> list[int]:
        return sorted(self.hashes)

    def size(self) -> int:
        return sum(len(h) for h in self.hashes.values())

    def match(self, doc_hashes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(window positions, eval set indexes)``: one pair per (window, eval set) whose n-gram
        hash is in the table, positions ascending (vectorized: no Python loop per window)."""
        table = self.hashes.get(n)
        if table is None or not len(table) or not len(doc_hashes):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        left = np.searchsorted(table, doc_hashes, side="left")
        positions = np.flatnonzero(table[np.minimum(left, len(table) - 1)] == doc_hashes)
        if not len(positions):
            return positions, positions
        # Only matching windows (rare in clean data) pay for the second search: a hash shared by
        # several eval sets has one row per set.
        per_window = np.searchsorted(table, doc_hashes[positions], side="right") - left[positions]
        # Table rows left[p], left[p]+1, ... for every matching window p (one per eval set).
        starts = np.repeat(left[positions], per_window)
        offsets = np.arange(per_window.sum()) - np.repeat(np.cumsum(per_window) - per_window, per_window)
        return np.repeat(positions, per_window), self.sets[n][starts + offsets].astype(np.int64)


def build_table(names: list[str], chunks: list[tuple[int, int, np.ndarray]]) -> NgramTable:
    """The table from ``(n-gram length, eval set index, hashes)`` chunks, de-duplicated."""
    hashes, sets = {}, {}
    for n in sorted({n for n, _, _ in chunks}):
        parts = [(h, np.full(len(h), s, dtype=np.uint16)) for length, s, h in chunks if length == n]
        all_hashes = np.concatenate([h for h, _ in parts])
        all_sets = np.concatenate([s for _, s in parts])
        order = np.lexsort((all_sets, all_hashes))
        all_hashes, all_sets = all_hashes[order], all_sets[order]
        keep = np.ones(len(all_hashes), dtype=bool)
        keep[1:] = (all_hashes[1:] != all_hashes[:-1]) | (all_sets[1:] != all_sets[:-1])
        hashes[n], sets[n] = all_hashes[keep], all_sets[keep]
    return NgramTable(list(names), hashes, sets)
