"""The pre-tokenizer: text -> pieces whose concatenation is exactly the text. BPE merges never
cross a piece boundary.

Rules, in the order the pattern tries them at each position (GPT-2's layout, cl100k's digit rule):

* English contractions ``'s 't 'd 'm 'll 've 're`` (any case) are pieces;
* a Hangul run (optionally with one leading space) is a piece, then split at the morpheme
  boundaries of the configured table (``morphemes.BOUNDARY_PRESETS``, default ``BOUNDARY_TABLE``);
* a run of other letters and combining marks, optionally with one leading space;
* digits: a run of digits is cut left to right into groups of at most 3 (``12345`` -> ``123|45``,
  cl100k_base's rule), the first group taking one leading space; numbers then share a small set of
  tokens instead of memorising frequent ones;
* a run of punctuation/symbols, optionally with one leading space (``->``, ``==``, ``...``);
* whitespace containing a line break is one piece with the indentation that follows it (code:
  ``"\\n    "``, so indentation is a token and the keyword after it starts clean);
* other whitespace: GPT-2's rule, a run minus its last space, which joins the next piece;
* no run is longer than ``MAX_PIECE_CHARS`` (a line-break run: twice that, plus the break).

A single space joins the piece after it (GPT-2), so `` 잘`` and ``잘`` are different tokens and
decoding needs no detokenizer rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any, Callable

import regex

from corpus.tokenizer.morphemes import DEFAULT_PRESET, MorphemeBoundaries, boundary_table

DIGIT_GROUP = 3
# Longest piece: longer runs (base64, hashes, 1 MB of one character) are cut every this many
# characters, which bounds the work of MeCab and BPE per piece; no useful token is that long.
MAX_PIECE_CHARS = 128
# Distinct pieces remembered per cache (the tokenizer has two: regex pieces and morpheme parts;
# a few hundred bytes per entry with its token ids); a full cache is emptied. Word frequencies
# are Zipfian, so the frequent pieces return at once: on 42.5M characters of the 8x scale run's
# curated text, 65,536 entries encoded within 0-7% of the speed of 262,144 (noise on this VM) and
# used ~200 bytes per entry: both caches full hold ~26 MB instead of ~105 MB per process.
CACHE_ENTRIES = 1 << 16


def pattern(digit_group: int = DIGIT_GROUP, max_chars: int = MAX_PIECE_CHARS) -> str:
    """The piece pattern, for Python's ``regex`` (V1: ``&&[^...]`` is set intersection). The
    Hugging Face class shipped with a tokenizer runs this same code (``hf``)."""
    n = f"{{1,{max_chars}}}"
    return (
        r"'(?i:[sdmt]|ll|ve|re)"
        rf"| ?\p{{Hangul}}{n}"
        rf"| ?[\p{{L}}\p{{M}}&&[^\p{{Hangul}}]]{n}"
        rf"| ?\p{{N}}{{1,{digit_group}}}"
        rf"| ?[^\s\p{{L}}\p{{M}}\p{{N}}]{n}"
        rf"|\s{{0,{max_chars}}}[\r\n]\s{{0,{max_chars}}}"
        rf"|\s{n}(?!\S)"
        rf"|\s{n}"
    )


_SPLITTABLE_HANGUL = regex.compile(r" ?\p{Hangul}{2,}")


@dataclass(frozen=True)
class PretokenizerSettings:
    """Recorded in the tokenizer's config: a tokenizer is only valid with the settings it was
    trained with."""

    morpheme_boundaries: str = DEFAULT_PRESET  # a morphemes.BOUNDARY_PRESETS name; "none": regex only
    digit_group: int = DIGIT_GROUP
    max_piece_chars: int = MAX_PIECE_CHARS


class Pretokenizer:
    """Splits text into pieces; holds one MeCab tagger and a piece cache (one per process)."""

    def __init__(self, settings: PretokenizerSettings = PretokenizerSettings()) -> None:
        if settings.digit_group < 1 or settings.max_piece_chars < 1:
            raise ValueError(f"digit_group and max_piece_chars must be >= 1: {settings}")
        self.settings = settings
        self._findall = regex.compile(pattern(settings.digit_group, settings.max_piece_chars), regex.V1).findall
        table = boundary_table(settings.morpheme_boundaries)
        self._morphemes = MorphemeBoundaries(table) if table else None
        self._cache: dict[str, tuple[str, ...]] = {}

    def regex_pieces(self, text: str) -> list[str]:
        """Pieces before the morpheme split (a Hangul run is still one piece)."""
        return self._findall(text)

    def split(self, piece: str) -> tuple[str, ...]:
        """A regex piece cut at its morpheme boundaries (``(piece,)`` when it has none)."""
        if self._morphemes is None or not _SPLITTABLE_HANGUL.fullmatch(piece):
            return (piece,)
        shift = 1 if piece[0] == " " else 0  # a leading space stays with the first morpheme
        offsets = self._morphemes.split_offsets(piece[shift:])
        if not offsets:
            return (piece,)
        cuts = [0, *(offset + shift for offset in offsets), len(piece)]
        return tuple(piece[begin:end] for begin, end in zip(cuts, cuts[1:]))

    def pieces(self, text: str) -> list[str]:
        """The pieces of ``text``: ``"".join(pieces(text)) == text``."""
        regex_pieces = self._findall(text)
        fill_cache(self._cache, regex_pieces, lambda missing: {p: self.split(p) for p in missing})
        return list(chain.from_iterable(map(self._cache.__getitem__, regex_pieces)))


def fill_cache(cache: dict[str, Any], keys: list[str],
               compute: Callable[[set[str]], dict[str, Any]]) -> None:
    """Make every key of ``keys`` present in ``cache``, computing the missing ones in one call.
    A cache that would overflow is emptied first (then all of ``keys`` are computed). Cached values
    are pure functions of their keys, so eviction never changes a result."""
    missing = set(keys).difference(cache)
    if not missing:
        return
    if len(cache) + len(missing) > CACHE_ENTRIES:
        cache.clear()
        missing = set(keys)
    cache.update(compute(missing))
