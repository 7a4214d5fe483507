"""The records that flow between the build steps: a tokenized document, one copy of it in the
balanced corpus, the pack units a copy becomes once FIM has been applied, and a planned row. They
carry ``Ref``\s (``mixtures.token_store``): on a local build references into spill files, so every
shuffle moves a few hundred bytes per document or row; on an object-store build the bytes inline."""
from __future__ import annotations

from dataclasses import dataclass

from mixtures.token_store import Ref


# A reserved-id span of a document's text: (start, length) in code points, and the token id it is
# encoded as (a ``<|pii:TYPE|>`` placeholder recorded by curate's PII step).
ReservedSpan = tuple[int, int, int]


@dataclass(frozen=True)
class TokenizedDoc:
    """A curated document: its token ids (without ``<|endoftext|>``) in the store; its text too
    (``text`` not None) only if its bucket may be FIM-transformed, and then ``reserved``, the spans
    FIM must re-encode as their reserved ids (``mixtures.tokenize.encode_with_spans``). ``source``
    and ``cluster_size`` (its MinHash cluster's size, 1 without duplicates) are what
    ``mixtures/weights.py`` weighs."""

    id: str
    bucket: str
    knowledge: float
    source: str
    cluster_size: int
    n_tokens: int
    tokens: Ref
    text: Ref | None
    reserved: tuple[ReservedSpan, ...] = ()


@dataclass(frozen=True)
class DocCopy:
    """One occurrence of a document in the training corpus (``copy`` counts from 0)."""

    doc: TokenizedDoc
    copy: int
    cost: int


@dataclass(frozen=True)
class Segment:
    """A document, FIM chunk or row-length piece as packed: its ``n_tokens`` stored ids, then
    ``<|endoftext|>`` if ``eot`` (every piece of a long document but its last has none)."""

    doc_id: str
    bucket_id: int
    fim: int
    tokens: Ref
    n_tokens: int
    eot: bool = True

    @property
    def packed_length(self) -> int:
        return self.n_tokens + int(self.eot)


@dataclass(frozen=True)
class PackUnit:
    """What the packer places whole in one row: a segment of at most ``seq_len`` tokens, piece
    ``piece`` of the ``pieces`` its document copy was cut into (1 for a document that fits a row).
    ``key`` is its hashed position in the phase's order (ties of equal length, pack groups);
    ``fim_without_room`` marks a segment drawn for FIM whose FIM form would not fit a row."""

    key: int
    segment: Segment
    piece: int = 0
    pieces: int = 1
    fim_without_room: bool = False

    @property
    def n_tokens(self) -> int:
        return self.segment.packed_length


@dataclass(frozen=True)
class Piece:
    """``take`` tokens of a row: the ``n_tokens`` stored ids ``tokens`` points to, then the segment's
    ``<|endoftext|>`` when ``take`` is one more."""

    tokens: Ref
    n_tokens: int
    take: int


@dataclass(frozen=True)
class RowPlan:
    """A row before its tokens are read: pieces in order, then ``padding`` ``<|fim_pad|>`` tokens,
    together exactly ``seq_len``, and the shard columns of its segments (the padding segment last)."""

    pieces: tuple[Piece, ...]
    seg_starts: tuple[int, ...]
    seg_buckets: tuple[int, ...]
    seg_doc_ids: tuple[str, ...]
    seg_fim: tuple[int, ...]
    padding: int = 0
