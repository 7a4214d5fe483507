"""Repetition filter: Gopher's duplicate line/paragraph and n-gram rules, per bucket.

Text (Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from Training
Gopher", Table A1): a document is removed when too large a fraction of its lines or paragraphs
(by count or by characters) are repeats, when its most frequent 2/3/4-gram covers too many
characters, or when repeated 5..10-grams cover too many characters. Line and paragraph measures
are datatrove's own helper (``datatrove.pipeline.filters.gopher_repetition_filter``); n-gram
measures give the same values as datatrove's helpers, computed faster (``transforms.ngrams``),
on the words datatrove splits (``corpus.words.filter_word_tokenizer``: Kiwi for Korean, spaCy for
most other languages). So a threshold means the same here as in datatrove/FineWeb-2.

FineWeb-2 turns the paragraph and line-character rules off (its FineWeb quality filter's
duplicated-line characters replace them, ``transforms.fineweb_quality``) and tunes the line and
n-gram limits per language; the text limits here do the same.

Code gets line rules only: n-gram repetition is normal in code (``self.``, ``return err``), and
Gopher's line thresholds would reject ordinary files, whose closing braces and blank-ish lines
repeat. A code file is removed when most of its non-trivial lines are copies (generated
tables, pasted blocks).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates

from corpus.document import Document
from corpus.words import filter_word_tokenizer
from transforms.buckets import LanguageLimits, words_lang
from transforms.ngrams import NGramIndex
from transforms.curate_step import FilterStep, MeasuredFilter

_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAK = re.compile(r"\n+")


def _gopher_top_n_grams() -> dict[int, float]:
    return {2: 0.20, 3: 0.18, 4: 0.16}


def _gopher_dup_n_grams() -> dict[int, float]:
    return {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


@dataclass
class TextRepetitionLimits:
    """Maximum repetition fractions for natural language; 0 disables a rule.

    Line and n-gram defaults are Gopher's Table A1 (Rae et al. 2021). ``top_n_grams`` maps n to
    the maximum character fraction of the most frequent n-gram; ``dup_n_grams`` maps n to the
    maximum character fraction covered by repeated n-grams. The paragraph and line-character
    rules are off as in FineWeb-2 (Gopher: 0.30, 0.20, 0.20), whose FineWeb quality filter covers
    them. ``fineweb2_fields``: for a document whose language FineWeb-2 publishes values for
    (``corpus.fineweb2``), these fields take FineWeb-2's value for it, so the values here apply
    to the other languages only; ``[]`` uses the values here for every language.
    """

    dup_line_frac: float = 0.30
    dup_para_frac: float = 0.0
    dup_line_char_frac: float = 0.0
    dup_para_char_frac: float = 0.0
    top_n_grams: dict[int, float] = field(default_factory=_gopher_top_n_grams)
    dup_n_grams: dict[int, float] = field(default_factory=_gopher_dup_n_grams)
    fineweb2_fields: list[str] = field(default_factory=lambda: ["dup_line_frac", "top_n_grams", "dup_n_grams"])


def _fineweb2_korean_top_n_grams() -> dict[int, float]:
    return {2: 0.282, 3: 0.228, 4: 0.185}


def _fineweb2_korean_dup_n_grams() -> dict[int, float]:
    return {5: 0.201, 6: 0.184, 7: 0.168, 8: 0.154, 9: 0.14, 10: 0.127}


@dataclass
class KoreanRepetitionLimits(TextRepetitionLimits):
    """FineWeb-2's tuned ``kor_Hang`` values (github.com/huggingface/fineweb-2, configs/kor_Hang.yml:
    dup_line_frac 0.374, top 2/3/4-gram 0.282/0.228/0.185, duplicate 5..10-gram
    0.201/0.184/0.168/0.154/0.14/0.127, the intermediate n as published there). A class of its
    own (not a factory) so that a YAML override of one field keeps the other Korean defaults; the
    values are spelled out here, so ``fineweb2_fields`` is empty."""

    dup_line_frac: float = 0.374
    top_n_grams: dict[int, float] = field(default_factory=_fineweb2_korean_top_n_grams)
    dup_n_grams: dict[int, float] = field(default_factory=_fineweb2_korean_dup_n_grams)
    fineweb2_fields: list[str] = field(default_factory=list)


@dataclass
class CodeRepetitionLimits:
    """Maximum duplicate-line fractions for code, over stripped lines of at least
    ``min_line_chars`` characters (shorter ones, ``}``, ``end``, ``*/``, repeat by nature).

    No published standard exists for code; the values sit well above what hand-written files
    show (sample data: median 0.0, 99th percentile 0.34 duplicate-line fraction) and below
    generated tables, which repeat most of their lines (the 4 sample files above 0.5 are Go
    lookup tables and tries)."""

    min_line_chars: int = 10
    dup_line_frac: float = 0.50
    dup_line_char_frac: float = 0.50


@dataclass
class RepetitionConfig:
    enabled: bool = True
    korean: KoreanRepetitionLimits = field(default_factory=KoreanRepetitionLimits)
    multilingual: TextRepetitionLimits = field(default_factory=TextRepetitionLimits)
    code: CodeRepetitionLimits = field(default_factory=CodeRepetitionLimits)


def text_repetition(text: str, lang: str, limits: TextRepetitionLimits) -> tuple[str, float] | None:
    """The first Gopher rule ``text`` breaks and its measured value, or None. Rules run in
    datatrove's order, cheapest first: words are only tokenized if line/paragraph rules pass."""
    n_chars = len(text)
    paragraphs = _PARAGRAPH_BREAK.split(text.strip())
    dup_paras, dup_para_chars = find_duplicates(paragraphs)
    checks = [
        ("dup_para_frac", limits.dup_para_frac, dup_paras / len(paragraphs)),
        ("dup_para_char_frac", limits.dup_para_char_frac, dup_para_chars / n_chars),
    ]
    lines = _LINE_BREAK.split(text)
    dup_lines, dup_line_chars = find_duplicates(lines)
    checks += [
        ("dup_line_frac", limits.dup_line_frac, dup_lines / len(lines)),
        ("dup_line_char_frac", limits.dup_line_char_frac, dup_line_chars / n_chars),
    ]
    for rule, limit, value in checks:
        if limit and value > limit:
            return rule, value

    n_grams = NGramIndex(filter_word_tokenizer(lang).word_tokenize(text))
    for n, limit in sorted(limits.top_n_grams.items()):
        if limit:
            value = n_grams.top_chars(n) / n_chars
            if value > limit:
                return f"top_{n}_gram", value
    for n, limit in sorted(limits.dup_n_grams.items()):
        if limit:
            value = n_grams.duplicate_chars(n) / n_chars
            if value > limit:
                return f"dup_{n}_gram", value
    return None


def code_repetition(text: str, limits: CodeRepetitionLimits) -> tuple[str, float] | None:
    """The code line rule ``text`` breaks and its measured value, or None."""
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if len(line) >= limits.min_line_chars]
    if not lines:
        return None
    dup_lines, dup_chars = find_duplicates(lines)
    checks = [
        ("dup_line_frac", limits.dup_line_frac, dup_lines / len(lines)),
        ("dup_line_char_frac", limits.dup_line_char_frac, dup_chars / sum(map(len, lines))),
    ]
    for rule, limit, value in checks:
        if limit and value > limit:
            return rule, value
    return None


class RepetitionFilter(MeasuredFilter):
    name = "repetition"

    def __init__(self, config: RepetitionConfig):
        self.config = config
        self._limits = LanguageLimits(config)

    def violation(self, doc: Document) -> tuple[str, float] | None:
        limits = self._limits(doc)
        if not doc.text.strip():
            return "empty", 0.0
        if isinstance(limits, CodeRepetitionLimits):
            return code_repetition(doc.text, limits)
        return text_repetition(doc.text, words_lang(doc), limits)


def repetition_step(config: RepetitionConfig) -> FilterStep:
    return FilterStep(RepetitionFilter(config))
