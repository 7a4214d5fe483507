"""The saved tokenizer directory's two core files, read and checked the same way by
``corpus.tokenizer.load`` and by the Hugging Face class shipped in the directory (``hf.py``).

* ``tokenizer.json`` - the HF ``tokenizers`` serialisation of the vocabulary, merges, special tokens
  and byte-level decoder. Its ``pre_tokenizer`` is ``PLAIN_LOADING_GUARD``, a type no ``tokenizers``
  release knows, so every loader that would run the BPE without our MeCab pre-split
  (``tokenizers.Tokenizer.from_file``, ``PreTrainedTokenizerFast``, ``AutoTokenizer`` without
  ``trust_remote_code``, Rust servers reading the file) fails loudly instead of giving ids the model
  never saw. ``backend_json`` is the loadable form our code builds its backend from.
* ``korpus_tokenizer.json`` - our config: vocabulary size, special tokens and ids, pre-tokenizer
  settings, the boundary table, the MeCab dictionary version, training provenance, and the sha256
  of ``tokenizer.json`` (checked on load; the natural manifest key).

This module, ``morphemes``, ``pretokenize`` and ``hf`` make up the file ``tokenization_korpus.py``
written beside them (``hf_files``), so they import nothing of korpus but each other.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.tokenizer.morphemes import describe, mecab_dictionary_info
from corpus.tokenizer.pretokenize import PretokenizerSettings

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "korpus_tokenizer.json"
# 1: tokenizer.json carried the regex alone as its pre-tokenizer (loadable by plain HF, other ids on
# Korean). 2: it carries PLAIN_LOADING_GUARD. Both are read; the ids do not depend on it.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

PLAIN_LOADING_GUARD: dict[str, str] = {
    "type": "KorpusMeCabMorphemeSplit",
    "note": "This BPE needs the MeCab morpheme pre-split it was trained with, which tokenizer.json cannot "
            "express. Load the directory with transformers.AutoTokenizer.from_pretrained(DIR, "
            "trust_remote_code=True) (class in tokenization_korpus.py) or corpus.tokenizer.load(DIR).",
}

_log = logging.getLogger(__name__)


def guard_plain_loading(hf_json: str) -> str:
    """``hf_json`` (a ``tokenizers`` serialisation) with ``PLAIN_LOADING_GUARD`` as its pre-tokenizer."""
    data = json.loads(hf_json)
    data["pre_tokenizer"] = PLAIN_LOADING_GUARD
    return json.dumps(data, ensure_ascii=False)


def backend_json(hf_json: str) -> str:
    """A saved ``tokenizer.json`` made loadable by ``tokenizers``: no pre-tokenizer (the caller's code
    splits the text into pieces; the backend maps bytes, runs the BPE model and decodes)."""
    data = json.loads(hf_json)
    data["pre_tokenizer"] = None
    return json.dumps(data, ensure_ascii=False)


@dataclass(frozen=True)
class SavedTokenizer:
    hf_json: str  # tokenizer.json as written (with the guard)
    settings: PretokenizerSettings
    config: dict[str, Any]  # korpus_tokenizer.json


def read_saved(tokenizer_file: str | Path, config_file: str | Path) -> SavedTokenizer:
    """Read and check a saved tokenizer: format version, tokenizer.json's sha256, and the morpheme
    rules against this code's (an error where ids would differ); a different MeCab dictionary is a
    warning (segmentation may differ, but the dictionary is the user's install)."""
    config = json.loads(Path(config_file).read_text(encoding="utf-8"))
    data = Path(tokenizer_file).read_bytes()
    if config.get("format_version") not in READABLE_VERSIONS:
        raise ValueError(f"{config_file}: format_version {config.get('format_version')}, this code reads "
                         f"{', '.join(map(str, READABLE_VERSIONS))}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != config["tokenizer_json_sha256"]:
        raise ValueError(f"{tokenizer_file}: sha256 {digest} does not match {CONFIG_FILE} "
                         f"({config['tokenizer_json_sha256']}); the files were changed")
    recorded = dict(config["pretokenizer"])
    rules = recorded.pop("rules")
    try:
        settings = PretokenizerSettings(**recorded)
    except TypeError as exc:
        raise ValueError(f"{config_file}: pretokenizer settings {recorded} are not this code's: {exc}") from None
    if rules != describe(settings.morpheme_boundaries):
        raise ValueError(f"{config_file}: trained with morpheme rules {rules}, this code's "
                         f"{settings.morpheme_boundaries!r} preset differs; ids would not match training")
    current = mecab_dictionary_info()
    if settings.morpheme_boundaries != "none" and config["mecab"] != current:
        _log.warning("%s: trained with MeCab %s, running %s: Korean segmentation may differ",
                     config_file, config["mecab"], current)
    return SavedTokenizer(data.decode("utf-8"), settings, config)


def saved_config(hf_json: str, settings: PretokenizerSettings, special_tokens: dict[str, int],
                 vocab_size: int, metadata: dict[str, Any]) -> dict[str, Any]:
    """The korpus_tokenizer.json of a tokenizer about to be saved with ``hf_json``."""
    return {
        **metadata,
        "format_version": FORMAT_VERSION,
        "vocab_size": vocab_size,
        "special_tokens": special_tokens,
        "pretokenizer": {**vars(settings), "rules": describe(settings.morpheme_boundaries)},
        "mecab": mecab_dictionary_info(),
        "tokenizer_json_sha256": hashlib.sha256(hf_json.encode("utf-8")).hexdigest(),
    }
