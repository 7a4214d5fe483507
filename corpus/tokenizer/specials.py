"""Reserved special tokens and their fixed ids.

Special tokens take the lowest ids, in the order below, so every tokenizer this project trains,
whatever its vocabulary size or training data, gives ``<|endoftext|>`` id 0, the FIM sentinels
ids 1-4, and so on; the byte alphabet and BPE merges follow from ``NUM_SPECIAL_TOKENS``.

    0  <|endoftext|>     document separator used by packing
    1  <|fim_prefix|>    2 <|fim_middle|>   3 <|fim_suffix|>   4 <|fim_pad|>
    5  <|user|>          6 <|assistant|>    7 <|endofturn|>
    8… <|pii:TYPE|>      one per ``corpus.placeholders.PLACEHOLDERS`` entry, in that order
    …63 <|reserved_N|>   spare ids for tokens a later version needs without retraining

They are never produced from plain text: ``encode`` treats a literal ``<|endoftext|>`` in a
document as ordinary bytes unless the caller passes ``allow_special=True`` (tiktoken's rule), so a
web page cannot inject a document boundary or a FIM sentinel.
"""
from __future__ import annotations

from corpus.placeholders import PLACEHOLDERS


ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
FIM_PAD = "<|fim_pad|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
ENDOFTURN = "<|endofturn|>"

# A block of 64 keeps the byte alphabet at a fixed offset and leaves room for new placeholders.
NUM_SPECIAL_TOKENS = 64

_NAMED: tuple[str, ...] = (
    ENDOFTEXT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD, USER, ASSISTANT, ENDOFTURN, *PLACEHOLDERS,
)
if len(_NAMED) > NUM_SPECIAL_TOKENS:
    raise ImportError(f"{len(_NAMED)} named special tokens do not fit the {NUM_SPECIAL_TOKENS}-id block")

SPECIAL_TOKENS: tuple[str, ...] = _NAMED + tuple(
    f"<|reserved_{i}|>" for i in range(NUM_SPECIAL_TOKENS - len(_NAMED))
)
