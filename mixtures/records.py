"""The records that flow between the build steps: a tokenized document, one copy of it in the
balanced corpus, the segments a copy becomes once FIM has been applied, and a planned row. They
carry ``Ref``\s (``mixtures.token_store``): on a local build references into spill files, so every
shuffle moves a few hundred bytes per document or row; on an object-store build the bytes inline."""
from __future__ import annotations

from dataclasses import dataclass

from mixtures.token_store import Ref


@dataclass(frozen=True)
class TokenizedDoc:
    """A curated document: its token ids (without ``<|endoftext|>``) in the store; its text too
    (``text`` not None) only if its bucket may be FIM-transformed. ``source`` and ``cluster_size``
    (its MinHash cluster's size, 1 without duplicates) are what ``mixtures/weights.py`` weighs."""

    id: str
    bucket: str
    knowledge: float
    source: str
    cluster_size: int
    n_tokens: int
    tokens: Ref
    text: Ref | None


@dataclass(frozen=True)
class DocCopy:
    """One occurrence of a document in the training corpus (``copy`` counts from 0)."""

    doc: TokenizedDoc
    copy: int
    cost: int


@dataclass(frozen=True)
class Segment:
    """A document (or chunk) as packed: its ``n_tokens`` stored ids, then ``<|endoftext|>``."""

    doc_id: str
    bucket_id: int
    fim: int
    tokens: Ref
    n_tokens: int

    @property
    def packed_length(self) -> int:
        return self.n_tokens + 1


@dataclass(frozen=True)
class PackUnit:
    """What the packer places as a whole: the segments of one document copy, in order; ``key``
    is its hashed position in the stage's shuffled order."""

    key: int
    segments: tuple[Segment, ...]

    @property
    def n_tokens(self) -> int:
        return sum(s.packed_length for s in self.segments)


@dataclass(frozen=True)
class Piece:
    """``take`` tokens of a row: the ``n_tokens`` stored ids ``tokens`` points to, then the segment's
    ``<|endoftext|>`` when ``take`` is one more."""

    tokens: Ref
    n_tokens: int
    take: int


@dataclass(frozen=True)
class RowPlan:
    """A row before its tokens are read: pieces filling exactly ``seq_len`` tokens, in order, and
    the shard columns for its segments."""

    pieces: tuple[Piece, ...]
    seg_starts: tuple[int, ...]
    seg_buckets: tuple[int, ...]
    seg_doc_ids: tuple[str, ...]
    seg_fim: tuple[int, ...]
