"""Shingles for near-duplicate detection: normalized word n-grams (text) and token n-grams (code).

Text words come from ``corpus.words.word_tokenizer``: Korean words are MeCab (mecab-ko-dic)
morphemes, so an edited particle or ending changes one shingle instead of a whole eojeol; other
languages use the Unicode word regex (Han/Kana one character per word). Code tokens are runs of
word characters, as in BigCode's near-deduplication of The Stack (Kocetkov et al. 2022), which
splits on non-alphanumeric characters so that formatting and operators do not dominate shingles.

Shingles are represented by 32-bit hashes computed with numpy over the whole document (tokens are
hashed once each, with a cache); building and SHA-1-hashing one string per shingle, as datasketch's
default hash and datatrove do, costs several times more. The same function feeds MinHash
signatures and the exact-Jaccard ground truth of the accuracy benchmark, so both measure
similarity on identical sets.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import regex

from corpus.document import CODE, KOREAN
from corpus.hashing import hash64
from corpus.words import word_tokenizer

_PUNCTUATION = regex.compile(r"[\p{P}\p{S}]+")
_DIGITS = re.compile(r"\d+")
_CODE_TOKEN = re.compile(r"\w+")
_POLY = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime: odd, so the polynomial is invertible per step


@dataclass
class ShingleNormalization:
    """Normalization applied before tokenizing (datatrove's TextNormConfig defaults: lowercase,
    punctuation removed, numbers collapsed to ``0``). Whitespace never matters: shingles are built
    from tokens, so runs of spaces and newlines are always equivalent."""

    lowercase: bool = True
    strip_punctuation: bool = True
    normalize_digits: bool = True


def normalize(text: str, norm: ShingleNormalization) -> str:
    if norm.lowercase:
        text = text.lower()
    if norm.strip_punctuation:
        text = _PUNCTUATION.sub(" ", text)
    if norm.normalize_digits:
        text = _DIGITS.sub("0", text)
    return text


def tokens(text: str, bucket: str, lang: str) -> list[str]:
    """The tokens shingles are made of: code tokens for the code bucket, MeCab morphemes for
    Korean, Unicode words otherwise."""
    if bucket == CODE:
        return _CODE_TOKEN.findall(text)
    return word_tokenizer("ko" if bucket == KOREAN else lang).word_tokenize(text)


@functools.lru_cache(maxsize=1 << 18)  # ~50 MB per worker; Zipf: the head covers most tokens
def _token_hash(token: str) -> int:
    """64-bit hash of one token. Word frequencies are Zipfian, so the cache answers most calls
    and a document costs one dict lookup per token instead of one SHA-1 per shingle."""
    return hash64(token, "little")


def _mix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (fmix64), vectorized: every input bit affects every output bit."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def shingle_hashes(text: str, bucket: str, lang: str, ngram: int, norm: ShingleNormalization) -> np.ndarray:
    """The sorted distinct 32-bit hashes of the ``ngram``-token shingles of ``text``.

    A shingle's hash is a polynomial (mod 2^64) over its tokens' 64-bit hashes, mixed with fmix64
    and folded to 32 bits, the width datasketch's affine32 scheme takes (its default SHA-1 hash is
    also truncated to 32 bits). Computed with numpy over the whole document at once.

    A text with fewer than ``ngram`` tokens is one shingle made of all its tokens, so short
    documents get a signature of their own content. (text-dedup #77: with no shingles at all,
    every short document gets the same all-max signature and they are removed as one cluster.)
    A text without any token has no shingles; callers must not sign it.
    """
    words = tokens(normalize(text, norm), bucket, lang)
    if not words:
        return np.empty(0, dtype=np.uint32)
    token_hashes = np.fromiter((_token_hash(w) for w in words), dtype=np.uint64, count=len(words))
    width = min(ngram, len(words))
    count = len(words) - width + 1
    with np.errstate(over="ignore"):  # wrap-around is the point of the polynomial
        combined = np.zeros(count, dtype=np.uint64)
        for k in range(width):
            combined = combined * _POLY + token_hashes[k : k + count]
        mixed = _mix64(combined + np.uint64(width))
    return np.unique(((mixed >> np.uint64(32)) ^ mixed).astype(np.uint32))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two distinct-shingle arrays (0 for two empty ones)."""
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 0.0
