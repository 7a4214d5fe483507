"""Deterministic pseudo-random keys for the build: every "random" choice (repeat rounding, phase-2
fill, FIM decisions and split points, pack order, row shuffle) is a BLAKE2b hash of the build seed,
a purpose tag and the item's identity, never Python's salted ``hash`` or a stateful RNG. The same
input and config therefore give the same corpus on any runner, worker count or bundle order."""
from __future__ import annotations

from corpus.hashing import hash64 as corpus_hash64

_SEP = "\x1f"  # unit separator: cannot appear in a decimal seed or purpose tag, so keys never collide by concatenation
_TWO64 = float(1 << 64)


def hash64(seed: int, purpose: str, *parts: object) -> int:
    """A 64-bit key for (seed, purpose, parts)."""
    return corpus_hash64(_SEP.join([str(seed), purpose, *map(str, parts)]))


def unit(seed: int, purpose: str, *parts: object) -> float:
    """A uniform number in [0, 1) for (seed, purpose, parts)."""
    return hash64(seed, purpose, *parts) / _TWO64
