"""Regex fragments shared by the numeric recognizers.

Boundaries are ASCII-only on purpose: in Korean a particle is glued to the number
(``010-1234-5678로``, ``192.168.0.1에서``) and ``\\b`` finds no word boundary between a digit and
a Hangul syllable, since both are ``\\w``.
"""
from __future__ import annotations

import re

import regex

# Not preceded by a letter/digit, nor by a separator that would make this the tail of a longer
# number (``1.010-1234-5678``, ``+010``).
NUM_BEFORE = r"(?<![0-9A-Za-z_+]|[0-9A-Za-z][.\-])"
# Not followed by a letter/digit, nor by a separator that continues the number; a sentence's
# full stop (``...5678.``) is fine.
NUM_AFTER = r"(?![0-9A-Za-z_]|[.\-][0-9])"

# Calendar dates written as digit groups (2024-03-15, 15.03.2024, 2024.3.15): the most common
# decoy for phone, account and card shapes.
_DATE = regex.compile(
    r"(?:19|20)[0-9]{2}[./\- ][01]?[0-9][./\- ][0-3]?[0-9]|[0-3]?[0-9][./\- ][01]?[0-9][./\- ](?:19|20)[0-9]{2}"
)


def looks_like_date(text: str) -> bool:
    return _DATE.fullmatch(text) is not None

# Triggers (``ContextPatternRecognizer.TRIGGER``) are compiled once, each with the engine that
# scans Korean text for it faster: ``regex`` skips to an ASCII digit three to five times faster
# than ``re``, so a trigger with a digit in it is written to start with the digit; ``re`` is the
# faster one for an alternation of literals (it skips to their first letters).
#
# Trigger for every numeric identifier: seven digits, possibly grouped by separators (up to three
# characters: ``010 - 1234 - 5678``, ``02) 123``). The shortest numeric PII (a landline,
# 02-123-4567) has nine. Every numeric match holds seven digits joined so (a registration number
# written with a middle dot has them after it), so it holds one of this trigger's
# (non-overlapping, leftmost) hits.
DIGIT_RUN_TRIGGER = regex.compile(r"[0-9](?:[ .\-()/]{0,3}[0-9]){6}")
# A run of digits joined by the separators any numeric rule writes between two digits (at most
# three: `` - ``, ``) ``, ``-(``): all digits of one numeric match lie in one such run.
_DIGIT_CHAIN = regex.compile(r"[0-9](?:[ .\-()/\u00b7]{0,3}[0-9])*")
# Separators are dropped and chains kept apart by a newline, which no chain holds: one translate
# and one split count the digits of every chain of a window.
_NOT_DIGITS = str.maketrans(dict.fromkeys(" .-()/\u00b7"))
_DIGIT_ROW = regex.compile(r"[0-9]+")


def digit_runs(text: str, pos: int, endpos: int) -> tuple[int, int]:
    """In ``text[pos:endpos]``: the most digits one run of joined digits holds, and the most
    digits in a row. A window whose runs are shorter than a recognizer's ``MIN_DIGITS`` holds
    none of its matches, nor one of a rule's whose ``Rule.run`` is longer than its longest row."""
    chains = _DIGIT_CHAIN.findall(text, pos, endpos)
    if not chains:
        return 0, 0
    joined = max(map(len, "\n".join(chains).translate(_NOT_DIGITS).split("\n")))
    return joined, max(map(len, _DIGIT_ROW.findall(text, pos, endpos)))

# Characters that people (and their input methods) write in place of ASCII digits and hyphens:
# full-width forms (Korean IMEs' full-width mode: ８８０５１４－...), en/em dashes and minus signs
# (word processors' auto-format), the ideographic space. The scrubber matches on a copy of the
# text with each of them mapped to its ASCII twin, one character for one, so offsets do not move.
LOOKALIKES = str.maketrans(
    {**{chr(0xFF10 + d): str(d) for d in range(10)}, "－": "-", "‐": "-", "‑": "-", "‒": "-", "–": "-",
     "—": "-", "−": "-", "．": ".", "（": "(", "）": ")", "\u3000": " ", "＋": "+", "：": ":"})
LOOKALIKE_TRIGGER = re.compile("[\uff0b\uff0d\uff0e\uff08\uff09\uff10-\uff1a\u2010-\u2014\u2212\u3000]")
