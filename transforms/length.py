"""Length limits per bucket: characters and words for text, characters and lines for code.

Rules run cheapest first: the character count is checked before any tokenization, so a 20 MB
document costs one ``len()`` before it is rejected ``length:too_long``. Words are counted as
datatrove's Gopher quality filter counts them (FineWeb-2's document length rule): the filter
words of ``corpus.words.filter_word_tokenizer(lang)`` that are not only punctuation. Korean words
are Kiwi morphemes, finer than eojeol (one eojeol is about two morphemes), so a Korean document
reaches the minimum with roughly half the eojeol an English one needs words; Chinese words are
jieba's, Japanese SudachiPy's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from corpus.document import Document
from corpus.words import content_words, filter_word_tokenizer
from transforms.buckets import limits_for, words_lang
from transforms.curate_step import DocumentFilter, FilterStep


@dataclass
class TextLengthLimits:
    """Limits for natural-language buckets.

    ``min_words`` = 50 and ``max_words`` = 100,000 are Gopher's document length bounds (Rae et
    al. 2021, "Scaling Language Models", section A.1.1), as FineWeb-2 applies them. The character
    limits are cheap guards around them: 200 characters is below almost any 50-word English or
    Korean text, and 1,000,000 characters (above 100,000 words at ~6 characters per word) bounds
    the work every later step does on one document.
    """

    min_chars: int = 200
    max_chars: int = 1_000_000
    min_words: int = 50
    max_words: int = 100_000


@dataclass
class CodeLengthLimits:
    """Limits for source files.

    ``max_line_length`` = 1000 is the Codex rule (Chen et al. 2021, section 3.1: files with a
    line longer than 1000 characters are dropped as likely minified or generated); ``max_chars``
    = 1,000,000 follows The Stack's 1 MB file cap (Kocetkov et al. 2022). ``min_lines`` = 3 drops
    stubs that carry no program (a lone import or re-export); ``max_lines`` = 50,000 drops
    data dumps dressed as code (generated tables), well above hand-written files.
    """

    min_chars: int = 20
    max_chars: int = 1_000_000
    min_lines: int = 3
    max_lines: int = 50_000
    max_line_length: int = 1000


@dataclass
class LengthConfig:
    enabled: bool = True
    korean: TextLengthLimits = field(default_factory=TextLengthLimits)
    multilingual: TextLengthLimits = field(default_factory=TextLengthLimits)
    code: CodeLengthLimits = field(default_factory=CodeLengthLimits)


def _count_words(doc: Document) -> int:
    return len(content_words(filter_word_tokenizer(words_lang(doc)).word_tokenize(doc.text)))


def _non_blank_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


class LengthFilter(DocumentFilter):
    name = "length"

    def __init__(self, config: LengthConfig):
        self.config = config

    def apply(self, doc: Document) -> Document | str:
        limits = limits_for(self.config, doc)
        n_chars = len(doc.text)
        if n_chars < limits.min_chars:
            return "too_short"
        if n_chars > limits.max_chars:
            return "too_long"
        if isinstance(limits, CodeLengthLimits):
            return self._code_rule(doc, limits) or doc
        n_words = _count_words(doc)
        if n_words < limits.min_words:
            return "too_few_words"
        if limits.max_words and n_words > limits.max_words:
            return "too_many_words"
        return doc

    @staticmethod
    def _code_rule(doc: Document, limits: CodeLengthLimits) -> str | None:
        lines = _non_blank_lines(doc.text)
        if len(lines) < limits.min_lines:
            return "too_few_lines"
        if len(lines) > limits.max_lines:
            return "too_many_lines"
        if max(map(len, lines), default=0) > limits.max_line_length:
            return "long_line"
        return None

    def detail(self, doc: Document, rule: str) -> str:
        if rule in ("too_short", "too_long"):
            return f"chars={len(doc.text)}"
        if rule in ("too_few_words", "too_many_words"):
            return f"words={_count_words(doc)}"
        lines = _non_blank_lines(doc.text)
        if rule == "long_line":
            return f"max_line_length={max(map(len, lines), default=0)}"
        return f"lines={len(lines)}"


def length_step(config: LengthConfig) -> FilterStep:
    return FilterStep(LengthFilter(config))
