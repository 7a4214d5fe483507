"""Measurements on tokenizations, used by the tests and the ablation benchmark.

* Which tokens straddle a configured morpheme boundary. Offsets are in UTF-8 bytes, the unit a
  byte-level token covers (a token may hold part of a character). Our tokens never straddle; the
  benchmark reports how often plain byte-level BPE and char-level BPE do.
* ``min_tokens``: the fewest tokens *any* byte-level BPE trained on a sample's pieces can spend on
  held-out pieces, whatever its vocabulary size: how much compression the pieces themselves allow.
"""
from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import accumulate

from corpus.tokenizer.pretokenize import Pretokenizer


def morpheme_cuts(pretokenizer: Pretokenizer, text: str) -> list[int]:
    """Byte offsets of the configured morpheme boundaries inside Hangul runs of ``text``."""
    cuts: list[int] = []
    offset = 0
    for piece in pretokenizer.regex_pieces(text):
        parts = pretokenizer.split(piece)
        for part in parts[:-1]:
            offset += len(part.encode("utf-8"))
            cuts.append(offset)
        offset += len(parts[-1].encode("utf-8"))
    return cuts


def spans_from_lengths(byte_lengths: Iterable[int]) -> list[tuple[int, int]]:
    ends = list(accumulate(byte_lengths))
    return list(zip([0, *ends[:-1]], ends))


def count_straddling(spans: Sequence[tuple[int, int]], cuts: Sequence[int]) -> int:
    """Tokens whose byte span ``[start, end)`` has a cut strictly inside it."""
    count = 0
    for start, end in spans:
        i = bisect.bisect_right(cuts, start)
        if i < len(cuts) and cuts[i] < end:
            count += 1
    return count


def min_tokens(train_pieces: Counter[str], held_out_pieces: Iterable[str], min_frequency: int = 1) -> int:
    """A lower bound on the tokens a byte-level BPE trained on ``train_pieces`` (piece -> count)
    with ``min_frequency`` needs for ``held_out_pieces``, for every vocabulary size.

    No token crosses a piece, so each piece costs at least one token. A token is a byte or the
    result of merges inside training pieces, each merge seen at least ``min_frequency`` times;
    so a piece of two or more bytes can be a single token only if it occurs, as a substring of
    training pieces, at least ``min_frequency`` times (counted without overlap within a piece,
    the most times it can be a unit there). Every other such piece costs at least two tokens.
    """
    held = Counter(held_out_pieces)
    total = sum(held.values())
    rare = [p for p in held if len(p.encode("utf-8")) >= 2 and train_pieces.get(p, 0) < min_frequency]
    if not rare:
        return total
    # Substring counts over all distinct training pieces at once: one regex scan per rare piece.
    joined = "\x00".join(train_pieces)
    starts = [0]
    for piece in train_pieces:
        starts.append(starts[-1] + len(piece) + 1)
    weights = list(train_pieces.values())
    for piece in rare:
        seen = 0
        for match in re.finditer(re.escape(piece), joined):
            seen += weights[bisect.bisect_right(starts, match.start()) - 1]
            if seen >= min_frequency:
                break
        if seen < min_frequency:
            total += held[piece]
    return total
