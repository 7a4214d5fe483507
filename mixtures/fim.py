"""Fill-in-the-middle (Bavarian et al. 2022, "Efficient Training of Language Models to Fill in the
Middle", arXiv 2207.14255), applied per document copy before packing, and the cutting of documents
longer than a row into the pieces the packer places (``PackUnit``: each fits one row whole).

- Character level: a FIM'd text is split at two positions drawn uniformly from ``[0, len(text)]``
  (sorted) into prefix / middle / suffix, each part is tokenized on its own, then arranged:

    PSM: <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle <|endoftext|>
    SPM: <|fim_prefix|> <|fim_suffix|> suffix <|fim_middle|> prefix middle <|endoftext|>

  SPM is the paper's variant that keeps the prefix and middle contiguous (their Section 3 /
  Appendix D "SPM mode, variant 2"; also the arrangement of bigcode's Megatron FIM), so the model
  continues the prefix into the middle exactly as in left-to-right generation. A split position
  inside a reserved span (a ``<|pii:TYPE|>`` placeholder) moves to the span's start: a placeholder
  is one token and is re-encoded as its reserved id (``mixtures.tokenize.encode_with_spans``).
- Document level (the paper's default): one decision per document copy that fits a row. A
  document of a FIM bucket longer than a row is cut, at token boundaries that are also character
  boundaries, into the fewest chunks of about equal token count with at most ``seq_len - FIM_ROOM``
  tokens each (room for the 3 sentinels, ``<|endoftext|>`` and the tokens BPE loses at the split
  points); each chunk is decided, split and arranged on its own and becomes a segment with id
  ``"<doc id>#<i>"`` and its own ``<|endoftext|>``. A plain chunk keeps the document's own ids
  (a slice), so the chunks' texts concatenate to the document. A FIM example therefore always lies
  whole in one row. One whose FIM form would still not fit (a document within a few tokens of
  ``seq_len``, or a chunk whose parts re-encode much longer) stays plain and is counted
  (``fim_without_room``), bigcode Megatron's rule for pieces too short to absorb the sentinels.
- Rates per bucket (``rate``; 0.5 for code, the paper's rate that keeps left-to-right performance;
  0 for text by default, which disables FIM there), PSM/SPM mix ``spm_fraction`` (0.5: the paper
  trains both jointly). Every decision and split point is a hash of (seed, document id, copy,
  chunk), so reruns are identical.
- A document of a bucket without FIM that is longer than a row is cut at row length (Ding et al.
  2024): ``ceil((tokens + 1) / seq_len)`` pieces under the document's id, each but the last
  exactly one row without ``<|endoftext|>``, the last ending with it (``row_pieces``).

Context-level FIM (FIM applied to row pieces when rows are written) is gone: with documents packed
whole it had nothing left to fix, and it was not lossless at piece edges.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Sequence

import apache_beam as beam
import numpy as np

from corpus.counters import LazyCounters
from corpus.document import BUCKET_IDS, BUCKETS, CODE
from corpus.shards import FIM_MODES, FIM_NONE, FIM_PSM, FIM_SPM
from corpus.tokenizer.specials import ENDOFTEXT as EOT
from corpus.tokenizer.specials import FIM_MIDDLE as MIDDLE
from corpus.tokenizer.specials import FIM_PAD as PAD
from corpus.tokenizer.specials import FIM_PREFIX as PREFIX
from corpus.tokenizer.specials import FIM_SUFFIX as SUFFIX
from mixtures.keys import hash64, unit
from mixtures.records import DocCopy, PackUnit, ReservedSpan, Segment
from mixtures.token_store import StoreReader, StoreWriter, slice_tokens
from mixtures.tokenize import encode_with_spans, load_tokenizer

NAMESPACE = "build.fim"
SPECIAL_TOKENS = (EOT, PREFIX, MIDDLE, SUFFIX, PAD)  # what the build needs from the tokenizer
# Expected extra tokens of a FIM'd text: 3 sentinels, plus about one token lost to BPE merges at
# each of the 2 split points. Only the balance plan uses it; achieved shares are measured.
OVERHEAD_TOKENS = 4
# Tokens a FIM chunk leaves free in its row: 3 sentinels, <|endoftext|>, and slack for the merges
# the two split points break (each costs about one token; 8 covers the rare worse cases).
FIM_ROOM = 12


def _default_rates() -> dict[str, float]:
    return {bucket: (0.5 if bucket == CODE else 0.0) for bucket in BUCKETS}


@dataclass
class FimConfig:
    rate: dict[str, float] = field(default_factory=_default_rates)  # Bavarian et al. 2022: 0.5
    spm_fraction: float = 0.5  # share of FIM'd texts in SPM order (the paper trains PSM+SPM jointly)
    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "level": "context-level FIM was removed: documents are packed whole (best-fit) and long ones "
                 "are FIM'd per row-sized chunk, so every FIM example already lies in one row"}


def chunk_count(n_tokens: int, seq_len: int) -> int:
    """About how many chunks a FIM-bucket document of ``n_tokens`` becomes at ``seq_len`` (one more
    when character boundaries shorten the cuts; only plans use it)."""
    if n_tokens + 1 <= seq_len:
        return 1
    return math.ceil(n_tokens / (seq_len - FIM_ROOM))


def expected_cost(n_tokens: int, rate: float, seq_len: int) -> int:
    """Expected tokens a document occupies once packed: its tokens and ``<|endoftext|>``; in a FIM
    bucket, one ``<|endoftext|>`` per chunk and ``rate`` times the FIM overhead per chunk (plain
    chunks are slices of the document's ids: no merge is lost at a chunk boundary). Only plans use
    it; shares are measured."""
    if rate <= 0.0:
        return n_tokens + 1
    chunks = chunk_count(n_tokens, seq_len)
    return n_tokens + chunks + int(round(chunks * rate * OVERHEAD_TOKENS))


def row_pieces(n_tokens: int, seq_len: int) -> list[tuple[int, int, bool]]:
    """(start, stop, ends with <|endoftext|>) of the pieces of a document without FIM: the whole
    document if it fits a row, else cut at row length (every piece but the last fills a row)."""
    pieces = math.ceil((n_tokens + 1) / seq_len)
    return [(k * seq_len, min((k + 1) * seq_len, n_tokens), k == pieces - 1) for k in range(pieces)]


def chunk_bounds(token_bytes: np.ndarray, text: bytes, max_tokens: int) -> list[tuple[int, int]]:
    """Token ranges of about equal length, each at most ``max_tokens``, cut only where a character
    starts. ``token_bytes``: the UTF-8 length of each of the document's tokens, which spell ``text``
    (a byte-level token may hold part of a character)."""
    ends = np.cumsum(token_bytes)
    if ends.size == 0 or int(ends[-1]) != len(text):
        raise ValueError(f"tokens spell {int(ends[-1]) if ends.size else 0} bytes, the text has {len(text)}")
    data = np.frombuffer(text, dtype=np.uint8)
    following = data[np.minimum(ends, len(text) - 1)]
    cuts = np.flatnonzero((ends == len(text)) | ((following & 0xC0) != 0x80)) + 1  # cut after this many tokens
    n = int(ends.size)
    size = math.ceil(n / math.ceil(n / max_tokens))
    bounds, start = [], 0
    while start < n:
        target = start + size
        if target >= n:
            stop = n
        else:
            at = int(np.searchsorted(cuts, target, side="right")) - 1  # the last cut <= target
            if at < 0 or cuts[at] <= start:  # no character starts within: the first cut after start
                at = int(np.searchsorted(cuts, start, side="right"))
            stop = int(cuts[at])
        bounds.append((start, stop))
        start = stop
    return bounds


def fim_split(text: str, u1: float, u2: float,
              spans: Sequence[ReservedSpan] = ()) -> tuple[tuple[str, tuple[ReservedSpan, ...]], ...]:
    """(prefix, middle, suffix), each with its reserved spans, at two uniform character positions
    (``u1``, ``u2`` in [0, 1)); a position inside a span moves to the span's start."""
    a, b = sorted(_outside(math.floor(u * (len(text) + 1)), spans) for u in (u1, u2))
    return tuple((text[lo:hi], tuple((s - lo, n, t) for s, n, t in spans if lo <= s < hi))
                 for lo, hi in ((0, a), (a, b), (b, len(text))))


def _outside(position: int, spans: Sequence[ReservedSpan]) -> int:
    for start, length, _ in spans:
        if start < position < start + length:
            return start
    return position


def arrange(mode: int, prefix: list[int], middle: list[int], suffix: list[int], special: dict[str, int]) -> list[int]:
    """The token sequence of a FIM example (without the trailing ``<|endoftext|>``)."""
    if mode == FIM_PSM:
        return [special[PREFIX], *prefix, special[SUFFIX], *suffix, special[MIDDLE], *middle]
    if mode == FIM_SPM:
        return [special[PREFIX], special[SUFFIX], *suffix, special[MIDDLE], *prefix, *middle]
    raise ValueError(f"not a FIM mode: {mode}")


def token_byte_lengths(tok: Any) -> np.ndarray:
    """UTF-8 bytes each id of the vocabulary spells (byte-level BPE: one alphabet character per
    byte; special tokens are ASCII, and a reserved id stands for exactly its placeholder's text)."""
    return np.array([len(tok.id_to_token(i) or "") for i in range(tok.vocab_size)], dtype=np.int64)


@dataclass(frozen=True)
class _Chunk:
    index: int
    text: str
    reserved: tuple[ReservedSpan, ...]
    tokens: Any  # Ref of the chunk's ids
    n_tokens: int


class _FimDoFn(beam.DoFn):
    """DocCopy -> PackUnit(s). Loads the tokenizer once per worker (to encode FIM parts); stores the
    new token ids per bundle; plain documents, pieces and chunks keep (slices of) their stored ids."""

    def __init__(self, config: FimConfig, tokenizer_dir: str, store_dir: str | None, phase: str, seq_len: int, seed: int):
        self._config, self._tokenizer_dir, self._store_dir = config, tokenizer_dir, store_dir
        self._phase, self._seq_len, self._seed = phase, seq_len, seed
        self._counters = LazyCounters(NAMESPACE)

    def setup(self) -> None:
        self._tok = load_tokenizer(self._tokenizer_dir)
        self._special = {name: self._tok.special_tokens[name] for name in SPECIAL_TOKENS}
        self._token_bytes: np.ndarray | None = None  # built on the first long FIM document
        self._reader = StoreReader(self._store_dir)

    def teardown(self) -> None:
        self._reader.close()

    def start_bundle(self) -> None:
        self._writer = StoreWriter(self._store_dir)

    def finish_bundle(self) -> None:
        self._writer.close()

    def _key(self, copy: DocCopy, piece: int) -> int:
        return hash64(self._seed, "order", self._phase, copy.doc.id, copy.copy, piece)

    def process(self, copy: DocCopy) -> Iterable[PackUnit]:
        doc = copy.doc
        rate = self._config.rate.get(doc.bucket, 0.0)
        bucket_id = BUCKET_IDS[doc.bucket]
        if rate <= 0.0 or doc.text is None:
            pieces = row_pieces(doc.n_tokens, self._seq_len)
            for index, (start, stop, eot) in enumerate(pieces):
                self._counters.inc(FIM_MODES[FIM_NONE])
                tokens = doc.tokens if len(pieces) == 1 else slice_tokens(doc.tokens, start, stop)
                yield PackUnit(self._key(copy, index), Segment(doc.id, bucket_id, FIM_NONE, tokens, stop - start, eot),
                               index, len(pieces))
            return
        chunks = list(self._chunks(doc.n_tokens, doc.tokens, self._reader.text(doc.text), doc.reserved))
        for chunk in chunks:
            seg_id = doc.id if len(chunks) == 1 else f"{doc.id}#{chunk.index}"
            segment, without_room = self._segment(seg_id, bucket_id, chunk, rate, (doc.id, copy.copy, chunk.index))
            yield PackUnit(self._key(copy, chunk.index), segment, chunk.index, len(chunks), without_room)

    def _chunks(self, n_tokens: int, tokens: Any, text: str, reserved: tuple[ReservedSpan, ...]) -> Iterable[_Chunk]:
        if n_tokens + 1 <= self._seq_len:
            yield _Chunk(0, text, reserved, tokens, n_tokens)
            return
        if self._token_bytes is None:
            self._token_bytes = token_byte_lengths(self._tok)
        data = text.encode("utf-8")
        lengths = self._token_bytes[self._reader.tokens(tokens)]
        ends = np.concatenate([[0], np.cumsum(lengths)])
        char_start = 0
        for index, (start, stop) in enumerate(chunk_bounds(lengths, data, self._seq_len - FIM_ROOM)):
            piece = data[ends[start]:ends[stop]].decode("utf-8")
            char_stop = char_start + len(piece)
            spans = tuple((s - char_start, n, t) for s, n, t in reserved if char_start <= s < char_stop)
            yield _Chunk(index, piece, spans, slice_tokens(tokens, start, stop), stop - start)
            char_start = char_stop

    def _segment(self, seg_id: str, bucket_id: int, chunk: _Chunk, rate: float,
                 ident: tuple[str, int, int]) -> tuple[Segment, bool]:
        """The chunk's segment, and whether it was drawn for FIM but kept plain for lack of room."""
        plain = Segment(seg_id, bucket_id, FIM_NONE, chunk.tokens, chunk.n_tokens)
        if unit(self._seed, "fim", *ident) >= rate:
            self._counters.inc(FIM_MODES[FIM_NONE])
            return plain, False
        mode = FIM_SPM if unit(self._seed, "fim_mode", *ident) < self._config.spm_fraction else FIM_PSM
        parts = fim_split(chunk.text, unit(self._seed, "fim_split1", *ident), unit(self._seed, "fim_split2", *ident),
                          chunk.reserved)
        prefix, middle, suffix = encode_with_spans(self._tok, parts)
        ids = arrange(mode, prefix, middle, suffix, self._special)
        if len(ids) + 1 > self._seq_len:
            self._counters.inc("fim_without_room")
            return plain, True
        self._counters.inc(FIM_MODES[mode])
        return Segment(seg_id, bucket_id, mode, self._writer.put_tokens(ids), len(ids)), False


class ApplyFim(beam.PTransform):
    """PCollection[DocCopy] of one phase -> PCollection[PackUnit]."""

    def __init__(self, config: FimConfig, tokenizer_dir: str, store_dir: str | None, phase: str, seq_len: int, seed: int):
        super().__init__()
        self.fn = _FimDoFn(config, str(tokenizer_dir), store_dir, phase, seq_len, seed)

    def expand(self, copies: beam.PCollection) -> beam.PCollection:
        return copies | "Fim" >> beam.ParDo(self.fn)
