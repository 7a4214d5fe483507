"""Training: byte-level BPE over the pre-tokenizer's pieces (HF ``tokenizers`` BpeTrainer).

The trainer sees each piece as one word, so no merge crosses a morpheme, script, digit-group or
whitespace boundary. Training is deterministic: the same texts in the same order give a
byte-identical tokenizer.json.
"""
from __future__ import annotations

import collections
import concurrent.futures
import itertools
import multiprocessing
from collections.abc import Iterable, Iterator
from typing import Any

import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from corpus.tokenizer.model import Tokenizer
from corpus.tokenizer.pretokenize import Pretokenizer, PretokenizerSettings
from corpus.tokenizer.specials import SPECIAL_TOKENS

# Production vocabulary: HyperCLOVA X's morpheme-aware byte-level BPE has ~100k entries (HyperCLOVA X
# Technical Report, 2024); 100,352 = 784 x 128 keeps the embedding matrix a multiple of 128.
DEFAULT_VOCAB_SIZE = 100_352
# A pair seen once is noise in a sample of hundreds of MB (HF's byte-level BPE recipes use 2).
DEFAULT_MIN_FREQUENCY = 2


def train(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE, *,
          settings: PretokenizerSettings = PretokenizerSettings(),
          min_frequency: int = DEFAULT_MIN_FREQUENCY,
          metadata: dict[str, Any] | None = None,
          num_workers: int = 1) -> Tokenizer:
    """Train on ``texts``; ``vocab_size`` counts special tokens and the 256 byte tokens.
    ``num_workers`` processes pre-tokenize (MeCab and the regex, ~6 MB/s per core); the result
    does not depend on it."""
    minimum = len(SPECIAL_TOKENS) + 256
    if vocab_size < minimum:
        raise ValueError(f"vocab_size {vocab_size} < {minimum} (special tokens + byte alphabet)")
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    pieces = _pieces_in_parallel(texts, settings, num_workers) if num_workers > 1 else _pieces(texts, settings)
    hf.train_from_iterator((p for p in pieces if p), trainer=trainer)
    return Tokenizer(hf.to_str(), settings, {"training": metadata or {}})


def _pieces(texts: Iterable[str], settings: PretokenizerSettings) -> Iterator[list[str]]:
    pretokenizer = Pretokenizer(settings)
    return map(pretokenizer.pieces, texts)


# Texts per task sent to a pre-tokenizing worker, and tasks in flight per worker: enough to keep
# every worker busy, few enough that only a few chunks of the sample are held at once.
_CHUNK_TEXTS = 256
_TASKS_PER_WORKER = 2
_worker: Pretokenizer | None = None


def _pieces_in_parallel(texts: Iterable[str], settings: PretokenizerSettings,
                        num_workers: int) -> Iterator[list[str]]:
    """``_pieces`` on worker processes, in input order (the trainer's counts, hence its merges,
    are then those of one process)."""
    # spawn, not fork: the caller may hold threads (HF's trainer, Beam) that fork would copy mid-state.
    with concurrent.futures.ProcessPoolExecutor(num_workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_init_worker, initargs=(settings,)) as pool:
        in_flight: collections.deque[concurrent.futures.Future] = collections.deque()
        for chunk in _chunks(texts, _CHUNK_TEXTS):
            in_flight.append(pool.submit(_pieces_of_chunk, chunk))
            if len(in_flight) >= num_workers * _TASKS_PER_WORKER:
                yield from in_flight.popleft().result()
        while in_flight:
            yield from in_flight.popleft().result()


def _chunks(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(texts)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _init_worker(settings: PretokenizerSettings) -> None:
    global _worker
    _worker = Pretokenizer(settings)


def _pieces_of_chunk(texts: list[str]) -> list[list[str]]:
    assert _worker is not None
    return [_worker.pieces(text) for text in texts]
