"""Fill-in-the-middle (Bavarian et al. 2022, "Efficient Training of Language Models to Fill in the
Middle", arXiv 2207.14255), applied per document copy before packing.

- Character level: a FIM'd text is split at two positions drawn uniformly from ``[0, len(text)]``
  (sorted) into prefix / middle / suffix, each part is tokenized on its own, then arranged:

    PSM: <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle <|endoftext|>
    SPM: <|fim_prefix|> <|fim_suffix|> suffix <|fim_middle|> prefix middle <|endoftext|>

  SPM is the paper's variant that keeps the prefix and middle contiguous (their Section 3 /
  Appendix D "SPM mode, variant 2"; also the arrangement of bigcode's Megatron FIM), so the model
  continues the prefix into the middle exactly as in left-to-right generation.
- Document level (the paper's default): one decision per document copy. A document of a FIM bucket
  longer than the stage's ``seq_len`` is first cut into ``k = ceil((tokens + 1) / seq_len)`` chunks of
  equal character length (so each chunk fits one context, as the paper's context-level FIM
  guarantees), and each chunk is decided, split and arranged on its own; chunk ``i`` becomes a
  segment with id ``"<doc id>#<i>"``. Documents that fit keep their id.
- Rates per bucket (``rate``; 0.5 for code, the paper's rate that keeps left-to-right performance;
  0 for text by default, which disables FIM there), PSM/SPM mix ``spm_fraction`` (0.5: the paper
  trains both jointly). Every decision and split point is a hash of (seed, document id, copy,
  chunk), so reruns are identical.
- Context level (``level: context``, the paper's alternative): documents are packed unchanged and
  FIM is applied when a row is written, to each document piece inside that row (``ContextFim``):
  the piece's ids are decoded to text, split, re-encoded and arranged, and the suffix is truncated
  or padded with ``<|fim_pad|>`` so the piece keeps its length (bigcode Megatron's rule; a piece
  whose suffix is too short to absorb the growth stays plain). A FIM example then never spans two
  contexts. Decoding a piece that starts or ends inside a multi-byte character gives U+FFFD
  there (as in the paper's token-level implementation), so this mode is not lossless at piece
  edges; decisions are hashes of (seed, row key, piece index).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Literal

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
from mixtures.records import DocCopy, PackUnit, Segment, TokenizedDoc
from mixtures.token_store import StoreReader, StoreWriter
from mixtures.tokenize import load_tokenizer

NAMESPACE = "build.fim"
SPECIAL_TOKENS = (EOT, PREFIX, MIDDLE, SUFFIX, PAD)  # what the build needs from the tokenizer
# Expected extra tokens of a FIM'd text: 3 sentinels, plus about one token lost to BPE merges at
# each of the 2 split points. Only the balance plan uses it; achieved shares are measured.
OVERHEAD_TOKENS = 4


def _default_rates() -> dict[str, float]:
    return {bucket: (0.5 if bucket == CODE else 0.0) for bucket in BUCKETS}


@dataclass
class FimConfig:
    rate: dict[str, float] = field(default_factory=_default_rates)  # Bavarian et al. 2022: 0.5
    spm_fraction: float = 0.5  # share of FIM'd texts in SPM order (the paper trains PSM+SPM jointly)
    level: Literal["document", "context"] = "document"  # the paper's default is document level


def chunk_count(n_tokens: int, seq_len: int) -> int:
    """How many FIM chunks a document of ``n_tokens`` gets in a stage of ``seq_len``."""
    return max(1, math.ceil((n_tokens + 1) / seq_len))


def expected_cost(n_tokens: int, rate: float, seq_len: int) -> int:
    """Expected tokens a document occupies once packed: its tokens and ``<|endoftext|>``; in a FIM
    bucket, one ``<|endoftext|>`` per chunk, about one token lost to BPE merges at each chunk
    boundary, and ``rate`` times the FIM overhead per chunk. Only plans use it; shares are measured."""
    if rate <= 0.0:
        return n_tokens + 1
    chunks = chunk_count(n_tokens, seq_len)
    return n_tokens + chunks + (chunks - 1) + int(round(chunks * rate * OVERHEAD_TOKENS))


def fim_split(text: str, u1: float, u2: float) -> tuple[str, str, str]:
    """prefix, middle, suffix at two uniform character positions (``u1``, ``u2`` in [0, 1))."""
    a, b = sorted((math.floor(u1 * (len(text) + 1)), math.floor(u2 * (len(text) + 1))))
    return text[:a], text[a:b], text[b:]


def arrange(mode: int, prefix: list[int], middle: list[int], suffix: list[int], special: dict[str, int]) -> list[int]:
    """The token sequence of a FIM example (without the trailing ``<|endoftext|>``)."""
    if mode == FIM_PSM:
        return [special[PREFIX], *prefix, special[SUFFIX], *suffix, special[MIDDLE], *middle]
    if mode == FIM_SPM:
        return [special[PREFIX], special[SUFFIX], *suffix, special[MIDDLE], *prefix, *middle]
    raise ValueError(f"not a FIM mode: {mode}")


def chunk_text(text: str, pieces: int) -> list[str]:
    """``text`` cut into ``pieces`` parts of equal character length (the last may be shorter)."""
    size = math.ceil(len(text) / pieces)
    return [text[i:i + size] for i in range(0, len(text), size)] or [text]


class _FimDoFn(beam.DoFn):
    """DocCopy -> PackUnit. Loads the tokenizer once per worker (to encode FIM parts and chunks);
    stores the new token ids per bundle; an unchanged document keeps its stored ids."""

    def __init__(self, config: FimConfig, tokenizer_dir: str, store_dir: str | None, stage: str, seq_len: int, seed: int):
        self._config, self._tokenizer_dir, self._store_dir = config, tokenizer_dir, store_dir
        self._stage, self._seq_len, self._seed = stage, seq_len, seed
        self._counters = LazyCounters(NAMESPACE)

    def setup(self) -> None:
        self._tok = load_tokenizer(self._tokenizer_dir)
        self._special = {name: self._tok.special_tokens[name] for name in SPECIAL_TOKENS}
        self._reader = StoreReader(self._store_dir)

    def teardown(self) -> None:
        self._reader.close()

    def start_bundle(self) -> None:
        self._writer = StoreWriter(self._store_dir)

    def finish_bundle(self) -> None:
        self._writer.close()

    def process(self, copy: DocCopy) -> Iterable[PackUnit]:
        doc = copy.doc
        rate = self._config.rate.get(doc.bucket, 0.0)
        bucket_id = BUCKET_IDS[doc.bucket]
        key = hash64(self._seed, "order", self._stage, doc.id, copy.copy)
        if rate <= 0.0 or doc.text is None or self._config.level == "context":
            self._counters.inc(FIM_MODES[FIM_NONE])
            yield PackUnit(key, (Segment(doc.id, bucket_id, FIM_NONE, doc.tokens, doc.n_tokens),))
            return
        text = self._reader.text(doc.text)
        pieces = chunk_count(doc.n_tokens, self._seq_len)
        chunks = chunk_text(text, pieces) if pieces > 1 else [text]
        segments = []
        for index, chunk in enumerate(chunks):
            seg_id = f"{doc.id}#{index}" if len(chunks) > 1 else doc.id
            segments.append(self._segment(seg_id, bucket_id, chunk, len(chunks) == 1, rate, doc, copy.copy, index))
        yield PackUnit(key, tuple(segments))

    def _segment(self, seg_id: str, bucket_id: int, text: str, whole: bool, rate: float, doc: TokenizedDoc,
                 copy: int, index: int) -> Segment:
        ident = (doc.id, copy, index)
        if unit(self._seed, "fim", *ident) >= rate:
            self._counters.inc(FIM_MODES[FIM_NONE])
            if whole:
                return Segment(seg_id, bucket_id, FIM_NONE, doc.tokens, doc.n_tokens)
            mode, ids = FIM_NONE, self._tok.encode(text)
        else:
            mode = FIM_SPM if unit(self._seed, "fim_mode", *ident) < self._config.spm_fraction else FIM_PSM
            prefix, middle, suffix = fim_split(text, unit(self._seed, "fim_split1", *ident),
                                               unit(self._seed, "fim_split2", *ident))
            ids = arrange(mode, self._tok.encode(prefix), self._tok.encode(middle), self._tok.encode(suffix),
                          self._special)
            self._counters.inc(FIM_MODES[mode])
        return Segment(seg_id, bucket_id, mode, self._writer.put_tokens(ids), len(ids))


class ContextFim:
    """Context-level FIM of the document pieces of one row (see module docstring). Holds the
    tokenizer; ``setup`` loads it (call once per worker)."""

    def __init__(self, config: FimConfig, tokenizer_dir: str, seed: int):
        self._config, self._tokenizer_dir, self._seed = config, tokenizer_dir, seed
        self._rates = {BUCKET_IDS[b]: r for b, r in config.rate.items()}

    def setup(self) -> None:
        self._tok = load_tokenizer(self._tokenizer_dir)
        self._special = {name: self._tok.special_tokens[name] for name in SPECIAL_TOKENS}

    def apply(self, row_key: int, index: int, bucket_id: int, ids: np.ndarray) -> tuple[int, np.ndarray]:
        """(mode, ids of the same length) for the ``index``-th piece of the row with ``row_key``."""
        ident = (row_key, index)
        if ids.shape[0] == 0 or unit(self._seed, "ctx_fim", *ident) >= self._rates.get(bucket_id, 0.0):
            return FIM_NONE, ids
        mode = FIM_SPM if unit(self._seed, "ctx_fim_mode", *ident) < self._config.spm_fraction else FIM_PSM
        prefix, middle, suffix = fim_split(self._tok.decode(ids.tolist()), unit(self._seed, "ctx_fim_split1", *ident),
                                           unit(self._seed, "ctx_fim_split2", *ident))
        p, m, s = self._tok.encode(prefix), self._tok.encode(middle), self._tok.encode(suffix)
        growth = 3 + len(p) + len(m) + len(s) - ids.shape[0]  # 3 sentinels
        if growth > len(s):
            return FIM_NONE, ids
        s = s[:len(s) - growth] if growth > 0 else s + [self._special[PAD]] * -growth
        return mode, np.asarray(arrange(mode, p, m, s, self._special), dtype=np.uint32)


class ApplyFim(beam.PTransform):
    """PCollection[DocCopy] of one stage -> PCollection[PackUnit]."""

    def __init__(self, config: FimConfig, tokenizer_dir: str, store_dir: str | None, stage: str, seq_len: int, seed: int):
        super().__init__()
        self.fn = _FimDoFn(config, str(tokenizer_dir), store_dir, stage, seq_len, seed)

    def expand(self, copies: beam.PCollection) -> beam.PCollection:
        return copies | "Fim" >> beam.ParDo(self.fn)
