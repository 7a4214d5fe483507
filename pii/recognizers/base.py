"""The recognizer base: a Presidio ``PatternRecognizer`` that reads its context from the raw text.

Presidio raises a pattern's score when context words appear among the NLP engine's tokens/lemmas.
This project runs no NLP model (offline, and a spaCy pass would cost more than all recognizers
together), so context is looked up as lower-cased substrings in a character window around the
match instead; that also works for Korean, where a context word is glued to its particle
(``계좌번호는``) and a token match would miss it.

Each pattern is a ``Rule`` that may *require* context (weak shapes: a bare digit run that is
only PII when the text says so). Negative context (``주문번호``, ``ISBN``, ``version``) right before
a match, in its sentence and with no other number in between, drops it unless a positive context
word stands nearer in front of it: windows span sentences, and the nearest word is the one that
speaks about this number.
"""
from __future__ import annotations

import re
from typing import NamedTuple, Sequence, Union

import regex

from corpus.optional_imports import without_ml_stacks

with without_ml_stacks():  # Presidio would import transformers and torch for engines this module never runs
    from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
    from presidio_analyzer.nlp_engine import NlpArtifacts
    from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

# How far around a match context words are looked for, in characters. Presidio's default
# context enhancer looks 5 tokens back; 5 Korean eojeol or English words are ~30-40 chars.
CONTEXT_CHARS_BEFORE = 40
CONTEXT_CHARS_AFTER = 12
# Negative context (decoy words) is looked for only this close before the match.
NEGATIVE_CHARS_BEFORE = 24
# Windows up to this long are scanned without Presidio's regex timeout (``matches``).
UNTIMED_CHARS = 4096
# The score a match gets when its context is present (Presidio's LemmaContextAwareEnhancer
# default ``context_similarity_factor``).
CONTEXT_BOOST = 0.35


Trigger = Union[re.Pattern, regex.Pattern]
# A distance to a context word that is not there.
NOWHERE = 1 << 30


class Rule(Pattern):
    """A Presidio ``Pattern`` that may only count when context words are near it."""

    def __init__(self, name: str, regex_text: str, score: float, needs_context: bool = False, bare: bool = False,
                 run: int = 0):
        super().__init__(name, regex_text, score)
        self.needs_context = needs_context
        # A bare digit run (no separators): in code it is more likely a constant than PII, so
        # in strict mode (the code bucket) it needs context too.
        self.bare = bare
        # Every match is one row of at least ``run`` digits (no separators): the scrubber skips
        # the rule on a window without such a row.
        self.run = run


class Match(NamedTuple):
    start: int
    end: int
    score: float
    rule: str
    # Characters from the nearest context word in front of the match to it (NOWHERE: none).
    context_before: int = NOWHERE


class ContextPatternRecognizer(PatternRecognizer):
    """Subclasses set ``PII_TYPE`` (a name from ``corpus.placeholders.PII_TYPES``), ``RULES``,
    ``CONTEXT`` and optionally ``NEGATIVE_CONTEXT``, and may override Presidio's
    ``validate_result`` / ``invalidate_result`` and ``needs_context``. ``TRIGGER`` is a cheap
    compiled pattern (or a tuple of them; ``pii.recognizers.shapes`` says which engine) that every
    match holds a hit of; the scrubber runs the recognizer only around its trigger's hits.

    Two entry points with the same results: Presidio's ``analyze`` (``RecognizerResult``s, for an
    ``AnalyzerEngine``), and ``matches``, which the scrubber calls: the same patterns, Presidio's
    validation and scoring rules and the same context check, without Presidio's per-pattern
    bookkeeping (timestamps, explanation objects), which costs more than the matching on the
    short windows the scrubber passes."""

    PII_TYPE: str = ""
    RULES: Sequence[Rule] = ()
    CONTEXT: Sequence[str] = ()
    NEGATIVE_CONTEXT: Sequence[str] = ()
    TRIGGER: Trigger | tuple[Trigger, ...]
    # How far (characters before, after) a match can reach beyond the trigger hit it holds: the
    # scrubber runs the patterns on those windows of the text only, so a long document with one
    # number costs one short scan (look-behinds and context words still read the whole text; a
    # window ends where a token does). The default covers the numeric rules: the longest, ``+CC``
    # and six groups of up to five digits, is under 60 characters. None: the whole text (PEM key
    # blocks of thousands of characters).
    WINDOW: tuple[int, int] | None = (64, 64)
    # The fewest digits any match of a numeric recognizer holds (0: no such bound); the scrubber
    # skips a window with no longer run of joined digits (``shapes.digit_runs``), and tells
    # ``matches`` the most digits in a row there (``Rule.run``).
    MIN_DIGITS = 0
    # Patterns are case-sensitive unless they say (?i): token prefixes such as AKIA are upper-case.
    FLAGS = regex.MULTILINE

    def __init__(self, strict: bool = False) -> None:
        rules = [Rule(r.name, r.regex, r.score, r.needs_context, r.bare, r.run) for r in self.RULES]
        super().__init__(
            supported_entity=self.PII_TYPE,
            name=type(self).__name__,
            supported_language="any",
            patterns=rules,
            context=list(self.CONTEXT),
            global_regex_flags=self.FLAGS,
        )
        self.strict = strict
        self._rules = {rule.name: rule for rule in rules}
        self._compiled = [(rule, regex.compile(rule.regex, flags=self.FLAGS)) for rule in rules]
        self._context = tuple(word.lower() for word in self.CONTEXT)
        self._negative = tuple(word.lower() for word in self.NEGATIVE_CONTEXT)

    def needs_context(self, rule: Rule, matched: str) -> bool:
        """Whether this match only counts with context; by default the rule decides."""
        return rule.needs_context

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        kept = []
        for result in super().analyze(text, entities, nlp_artifacts, regex_flags):
            rule = self._rules[result.analysis_explanation.pattern_name]
            scored = self._in_context(text, rule, result.start, result.end, result.score)
            if scored is not None:
                result.score = scored[0]
                kept.append(result)
        return kept

    def matches(self, text: str, pos: int = 0, endpos: int | None = None, digit_row: int | None = None) -> list[Match]:
        """What ``analyze`` finds, as (start, end, score, rule name); with ``pos``/``endpos``,
        the matches that lie in ``text[pos:endpos]``. Look-behinds and context words still see
        the whole text (a window is not a new text: its first digit may continue a number before
        it), but look-aheads stop at ``endpos``, so it must fall where a token ends.
        ``digit_row``: the most digits in a row in the window, if known (``Rule.run``)."""
        found = []
        endpos = len(text) if endpos is None else endpos
        # Presidio's timeout guards a scan of a long text; on a window of a few hundred
        # characters it costs more than the matching (a timed call takes twice an untimed one).
        timeout = REGEX_TIMEOUT_SECONDS if endpos - pos > UNTIMED_CHARS else None
        for rule, compiled in self._compiled:
            if digit_row is not None and rule.run > digit_row:
                continue
            for match in compiled.finditer(text, pos, endpos, timeout=timeout):
                start, end = match.span()
                if start == end:
                    continue
                matched = text[start:end]
                valid = self.validate_result(matched)  # Presidio: True -> 1.0, False -> dropped
                if valid is False or self.invalidate_result(matched):
                    continue
                scored = self._in_context(text, rule, start, end, EntityRecognizer.MAX_SCORE if valid else rule.score)
                if scored is not None:
                    found.append(Match(start, end, scored[0], rule.name, scored[1]))
        return found

    def _in_context(self, text: str, rule: Rule, start: int, end: int, score: float) -> tuple[float, int] | None:
        """The match's score after its context and the distance to its nearest context word in
        front of it, or None when the context drops it."""
        before = text[max(0, start - CONTEXT_CHARS_BEFORE):start].lower()
        # Context after the number belongs to its own sentence (``... 1234 (생년월일)``), not the next.
        after = _SENTENCE_END.split(text[end:end + CONTEXT_CHARS_AFTER], 1)[0].lower()
        positive_before = _distance_before(before, self._context)
        # A decoy word counts only in front of the number (``ISBN 978-...``, ``버전 1.2.3.4``),
        # and only a context word nearer in front of it overrules it.
        negative = _decoy_distance(before, self._negative)
        if negative < NOWHERE and negative <= positive_before:
            return None
        if positive_before < NOWHERE or any(word in after for word in self._context):
            return min(1.0, score + CONTEXT_BOOST), positive_before
        if self.needs_context(rule, text[start:end]) or (self.strict and rule.bare):
            return None
        return score, NOWHERE


_SENTENCE_END = regex.compile(r"[.!?。\n](?:\s|$)|\n")


def _decoy_distance(before: str, words: Sequence[str]) -> int:
    """Distance to the nearest decoy word in front of a match, counted only when it speaks about
    this match: within ``NEGATIVE_CHARS_BEFORE``, in the same sentence, and with no other number
    between them (``ISBN 978-89-... 5180 7923 ...``: the ISBN word is about the first number)."""
    window = _SENTENCE_END.split(before[-NEGATIVE_CHARS_BEFORE:])[-1]
    distance = _distance_before(window, words)
    if distance < NOWHERE and any("0" <= ch <= "9" for ch in window[len(window) - distance:]):
        return NOWHERE
    return distance


def _distance_before(before: str, words: Sequence[str]) -> int:
    """Characters between the end of ``before`` and the nearest of ``words`` in it (``NOWHERE``
    if none)."""
    nearest = NOWHERE
    for word in words:
        at = before.rfind(word)
        if at >= 0:
            nearest = min(nearest, len(before) - at - len(word))
    return nearest
