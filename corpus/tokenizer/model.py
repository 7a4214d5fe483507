"""The trained tokenizer: our pre-tokenizer in front of an HF ``tokenizers`` byte-level BPE.

A saved tokenizer is a directory (``saved`` describes the two core files):

* ``tokenizer.json`` and ``korpus_tokenizer.json`` - the vocabulary and our config, read by ``load``;
* ``tokenization_korpus.py`` and ``tokenizer_config.json`` - the same pre-tokenizer as a Hugging Face
  tokenizer class (``hf``), so ``AutoTokenizer.from_pretrained(DIR, trust_remote_code=True)`` gives
  the ids of ``encode`` (docs/tokenizer-export.md).
"""
from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import weakref
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import regex
import tokenizers

from corpus.tokenizer.hf_files import write_hf_files
from corpus.tokenizer.pretokenize import Pretokenizer, PretokenizerSettings, fill_cache
from corpus.tokenizer.saved import (CONFIG_FILE, TOKENIZER_FILE, backend_json, guard_plain_loading, read_saved,
                                    saved_config)
from corpus.tokenizer.specials import SPECIAL_TOKENS

# Below this many characters a batch is encoded in-process: starting worker processes costs more.
_PARALLEL_MIN_CHARS = 1 << 20


def _byte_level_table() -> dict[int, str]:
    """``str.translate`` table from Latin-1-decoded bytes to GPT-2's byte-level alphabet (HF
    ``ByteLevel``): printable Latin-1 bytes stand for themselves, the other 68 bytes for U+0100
    onwards in byte order."""
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)}
    substitutes = iter(range(256, 512))
    return str.maketrans({chr(b): chr(b) if b in printable else chr(next(substitutes)) for b in range(256)})


_BYTE_LEVEL = _byte_level_table()


def _require_valid_unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"text is not valid Unicode: lone surrogate {text[exc.start]!r} at index {exc.start}"
        ) from None


class Tokenizer:
    """Encode/decode with exactly the segmentation the vocabulary was trained on.

    Not thread-safe (one MeCab tagger and one cache per instance): use one per thread or process.
    """

    def __init__(self, hf_json: str, settings: PretokenizerSettings, metadata: dict[str, Any]) -> None:
        self._hf_json = guard_plain_loading(hf_json)  # idempotent: a loaded tokenizer saves identical bytes
        self.settings = settings
        self.metadata = metadata
        self._pretokenizer = Pretokenizer(settings)
        # Encoding calls the BPE model on our pieces (special tokens are matched by us, only
        # with allow_special); the HF pipeline is used for decoding.
        self._hf = tokenizers.Tokenizer.from_str(backend_json(hf_json))
        self._bpe = self._hf.model
        self.special_tokens: dict[str, int] = {t: self._hf.token_to_id(t) for t in SPECIAL_TOKENS}
        self.vocab_size: int = self._hf.get_vocab_size(with_added_tokens=True)
        self._special_pattern = regex.compile("|".join(regex.escape(t) for t in SPECIAL_TOKENS))
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pool_workers = 0
        self._ids: dict[str, tuple[int, ...]] = {}  # regex piece -> its token ids
        self._part_ids: dict[str, tuple[int, ...]] = {}  # piece after the morpheme split -> its ids

    def __reduce__(self):
        # Picklable (Beam DoFn constructors, multiprocessing): rebuilt from the vocabulary and
        # settings; the MeCab tagger and caches are per process.
        return (Tokenizer, (self._hf_json, self.settings, self.metadata))

    # -- encoding -------------------------------------------------------------------------------
    def pieces(self, text: str) -> list[str]:
        """The pre-tokenizer's pieces (no merge crosses them)."""
        return self._pretokenizer.pieces(text)

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        """Token ids. Special-token strings in ``text`` are ordinary bytes unless ``allow_special``."""
        _require_valid_unicode(text)
        if not allow_special:
            return self._encode_ordinary(text)
        ids: list[int] = []
        start = 0
        for match in self._special_pattern.finditer(text):
            ids += self._encode_ordinary(text[start:match.start()])
            ids.append(self.special_tokens[match.group()])
            start = match.end()
        return ids + self._encode_ordinary(text[start:])

    def _encode_ordinary(self, text: str) -> list[int]:
        regex_pieces = self._pretokenizer.regex_pieces(text)
        fill_cache(self._ids, regex_pieces, self._piece_ids)
        return list(chain.from_iterable(map(self._ids.__getitem__, regex_pieces)))

    def _piece_ids(self, regex_pieces: set[str]) -> dict[str, tuple[int, ...]]:
        """Token ids of regex pieces: the morpheme split, then each part's ids. Parts recur far
        more than the pieces they come from (`` 선택`` + ``합니다``), so they have a cache too."""
        parts_of = {key: self._pretokenizer.split(key) for key in regex_pieces}
        fill_cache(self._part_ids, list(chain.from_iterable(parts_of.values())), self._bpe_ids)
        lookup = self._part_ids.__getitem__
        return {key: tuple(chain.from_iterable(map(lookup, parts))) for key, parts in parts_of.items()}

    def _bpe_ids(self, parts: set[str]) -> dict[str, tuple[int, ...]]:
        """Byte-level mapping, then the BPE model on each part directly (HF's full ``encode``
        pipeline costs ~0.1 ms per call, more than the model on a few new parts)."""
        tokenize = self._bpe.tokenize
        return {part: tuple(token.id for token in
                            tokenize(part.encode("utf-8").decode("latin-1").translate(_BYTE_LEVEL)))
                for part in parts}

    def encode_batch(self, texts: Sequence[str], allow_special: bool = False,
                     num_workers: int | None = None) -> list[list[int]]:
        """``[encode(t) for t in texts]`` on ``num_workers`` processes (default: all cores).

        Inside a Beam DoFn pass ``num_workers=1``: the runner already runs one worker per core.
        """
        workers = num_workers or os.cpu_count() or 1
        if workers > 1 and len(texts) > 1 and sum(map(len, texts)) >= _PARALLEL_MIN_CHARS:
            return self._encode_parallel(list(texts), allow_special, workers)
        return self._encode_local(texts, allow_special)

    def _encode_local(self, texts: Sequence[str], allow_special: bool) -> list[list[int]]:
        return [self.encode(text, allow_special) for text in texts]

    def _encode_parallel(self, texts: list[str], allow_special: bool, workers: int) -> list[list[int]]:
        if self._pool is None or self._pool_workers != workers:
            self.close()
            # spawn, not fork: the caller may hold threads (Beam, torch) that fork would copy mid-state.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self._hf_json, self.settings, self.metadata))
            self._pool_workers = workers
            self._pool_shutdown = weakref.finalize(self, self._pool.shutdown, cancel_futures=True)
        chunk = max(1, len(texts) // (workers * 8))
        chunks = [texts[i:i + chunk] for i in range(0, len(texts), chunk)]
        out: list[list[int]] = []
        for ids in self._pool.map(_encode_in_worker, chunks, [allow_special] * len(chunks)):
            out.extend(ids)
        return out

    def close(self) -> None:
        """Stop encode_batch's worker processes (also done when collected, and at exit)."""
        if self._pool is not None:
            self._pool_shutdown()
            self._pool = None

    # -- decoding -------------------------------------------------------------------------------
    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids`` (any int sequence, e.g. a NumPy uint32 shard row);
        ``decode(encode(s)) == s`` for every valid str."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token id {bad[0]} outside the vocabulary [0, {self.vocab_size})")
        return self._hf.decode(ids, skip_special_tokens=False)

    def id_to_token(self, token_id: int) -> str | None:
        return self._hf.id_to_token(token_id)

    # -- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path, model_max_length: int | None = None) -> Path:
        """Write tokenizer.json, korpus_tokenizer.json and the Hugging Face class with its
        tokenizer_config.json (``model_max_length``: the longest context, when a model is known)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / TOKENIZER_FILE).write_bytes(self._hf_json.encode("utf-8"))
        config = saved_config(self._hf_json, self.settings, self.special_tokens, self.vocab_size, self.metadata)
        (directory / CONFIG_FILE).write_text(
            json.dumps(config, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        write_hf_files(directory, self.special_tokens, model_max_length)
        return directory


def load(directory: str | Path) -> Tokenizer:
    """Load a tokenizer saved by ``Tokenizer.save`` (checks tokenizer.json against its sha256)."""
    directory = Path(directory)
    saved = read_saved(directory / TOKENIZER_FILE, directory / CONFIG_FILE)
    metadata = {"training": saved.config["training"]} if "training" in saved.config else {}
    return Tokenizer(saved.hf_json, saved.settings, metadata)


_worker: Tokenizer | None = None


def _init_worker(hf_json: str, settings: PretokenizerSettings, metadata: dict[str, Any]) -> None:
    global _worker
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core already
    _worker = Tokenizer(hf_json, settings, metadata)


def _encode_in_worker(texts: list[str], allow_special: bool) -> list[list[int]]:
    assert _worker is not None
    return _worker._encode_local(texts, allow_special)  # noqa: SLF001
