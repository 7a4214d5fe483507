"""A seeded bijection on [0, n) that maps any position to a row without materialising a permutation.

A 500B-token phase has ~120M rows at 4k; a stored permutation would cost every rank ~1 GB. A Feistel network
over the smallest even-bit power-of-two domain >= n, with cycle-walking back into [0, n), is a bijection that
costs O(1) memory and is computed for a whole batch of positions at once (Black & Rogaway 2002, "Ciphers with
arbitrary finite domains"). The round keys are derived from the seed with BLAKE2b so the order is the same on
every platform and NumPy version.
"""
from __future__ import annotations

import numpy as np

from corpus.hashing import blake2b

_ROUNDS = 6
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


class RowPermutation:
    def __init__(self, n: int, seed: int, salt: str = "") -> None:
        if n <= 0:
            raise ValueError(f"cannot permute an empty range (n={n})")
        self.n = n
        bits = max(2, (n - 1).bit_length())
        self._half_bits = (bits + 1) // 2
        self._half_mask = np.uint64((1 << self._half_bits) - 1)
        digest = blake2b(f"{seed}:{salt}", 8 * _ROUNDS)
        self._keys = [np.uint64(int.from_bytes(digest[8 * i: 8 * i + 8], "little")) for i in range(_ROUNDS)]

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """Row indices for ``positions`` (each in [0, n))."""
        positions = np.asarray(positions, dtype=np.uint64)
        if positions.size and int(positions.max()) >= self.n:
            raise IndexError(f"position {int(positions.max())} outside [0, {self.n})")
        out = self._encrypt(positions)
        outside = out >= self.n
        while outside.any():  # cycle-walk: re-encrypt values that fell outside [0, n); terminates (bijection)
            out[outside] = self._encrypt(out[outside])
            outside = out >= self.n
        return out.astype(np.int64)

    def _encrypt(self, x: np.ndarray) -> np.ndarray:
        shift = np.uint64(self._half_bits)
        left, right = x >> shift, x & self._half_mask
        for key in self._keys:
            left, right = right, left ^ (_mix(right ^ key) & self._half_mask)
        return (left << shift) | right


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele et al. 2014): a fast, well-distributed 64-bit hash."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9) & _MASK64
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB) & _MASK64
        return x ^ (x >> np.uint64(31))
