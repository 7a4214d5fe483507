"""FineWeb quality filter: line-ending punctuation, duplicated-line characters, newlines per word.

Text (Penedo et al. 2024, "The FineWeb Datasets", section 3.4, as implemented in datatrove's
``FineWebQualityFilter``): a document is removed when too few of its non-blank lines end in
terminal punctuation (``line_punct_thr``), when too many are short (``short_line_thr``), when the
characters of lines that repeat an earlier line are too large a share of its non-newline
characters (``char_duplicates_ratio``), or when it has too many newlines per word
(``new_line_ratio``: lists and menus). FineWeb-2 (github.com/huggingface/fineweb-2,
``fineweb-2-pipeline.py``) runs it for every language with the short-line rule off,
``char_duplicates_ratio`` 0.1 and per-language ``line_punct_thr`` and ``new_line_ratio``; it
replaces Gopher's paragraph and line-character repetition rules, which FineWeb-2 turns off
(``transforms.repetition``). The measures are datatrove's, computed on the same words
(``corpus.words.filter_word_tokenizer``); tests check equality against datatrove's class.

Code is not filtered here: source lines do not end in sentence punctuation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates
from datatrove.utils.text import TERMINAL_PUNCTUATION

from corpus.document import KOREAN, MULTILINGUAL, Document
from corpus.words import filter_word_tokenizer
from transforms.buckets import LanguageLimits, bucket_of, words_lang
from transforms.curate_step import FilterStep, MeasuredFilter

_STOP_CHARS = tuple(TERMINAL_PUNCTUATION)


@dataclass
class FineWebQualityLimits:
    """Limits for natural language; 0 disables a rule. Names are datatrove's.

    Defaults are FineWeb's (datatrove's defaults: ``line_punct_thr`` 0.12, ``new_line_ratio`` 0.3)
    with FineWeb-2's pipeline settings: short-line rule off (FineWeb English: 0.67 of lines of at
    most 30 characters), ``char_duplicates_ratio`` 0.1 (FineWeb English: 0.01).
    ``fineweb2_fields``: for a document whose language FineWeb-2 publishes values for
    (``corpus.fineweb2``), these fields take FineWeb-2's value for it, so the values here apply to
    the other languages only; ``[]`` uses the values here for every language.
    """

    line_punct_thr: float = 0.12
    short_line_thr: float = 0.0
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.1
    new_line_ratio: float = 0.3
    fineweb2_fields: list[str] = field(default_factory=lambda: ["line_punct_thr", "new_line_ratio"])


@dataclass
class KoreanFineWebQualityLimits(FineWebQualityLimits):
    """FineWeb-2 kor_Hang (configs/kor_Hang.yml): line_punct_thr 0.062, new_line_ratio 0.196.
    A class of its own so that a YAML override of one field keeps the other Korean defaults."""

    line_punct_thr: float = 0.062
    new_line_ratio: float = 0.196
    fineweb2_fields: list[str] = field(default_factory=list)


@dataclass
class FineWebQualityConfig:
    enabled: bool = True
    korean: KoreanFineWebQualityLimits = field(default_factory=KoreanFineWebQualityLimits)
    multilingual: FineWebQualityLimits = field(default_factory=FineWebQualityLimits)


def fineweb_quality(text: str, words: list[str], limits: FineWebQualityLimits) -> tuple[str, float] | None:
    """The first FineWeb quality rule ``text`` breaks and its measured value, or None; rules in
    datatrove's order. ``words``: the document's filter words."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return "empty", 0.0
    punct = sum(line.endswith(_STOP_CHARS) for line in lines) / len(lines)
    if limits.line_punct_thr and punct < limits.line_punct_thr:
        return "line_punct_ratio", punct
    if limits.short_line_thr:
        short = sum(len(line) <= limits.short_line_length for line in lines) / len(lines)
        if short > limits.short_line_thr:
            return "short_line_ratio", short
    if limits.char_duplicates_ratio:
        duplicated = find_duplicates(lines)[1] / len(text.replace("\n", ""))
        if duplicated > limits.char_duplicates_ratio:
            return "char_dup_ratio", duplicated
    if not words:
        return "no_words", 0.0
    newlines = text.count("\n") / len(words)
    if limits.new_line_ratio and newlines > limits.new_line_ratio:
        return "list_ratio", newlines
    return None


class FineWebQualityFilter(MeasuredFilter):
    name = "fineweb_quality"

    def __init__(self, config: FineWebQualityConfig):
        self.config = config
        self._limits = LanguageLimits(config)

    def violation(self, doc: Document) -> tuple[str, float] | None:
        if bucket_of(doc) not in (KOREAN, MULTILINGUAL):
            return None
        lang = words_lang(doc)
        return fineweb_quality(doc.text, filter_word_tokenizer(lang).word_tokenize(doc.text), self._limits(doc))


def fineweb_quality_step(config: FineWebQualityConfig) -> FilterStep:
    return FilterStep(FineWebQualityFilter(config))
