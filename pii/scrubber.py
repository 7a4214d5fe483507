"""The scrubber: find PII spans with the recognizers, keep the longest of overlapping spans, and
replace each by its typed placeholder.

Presidio's ``AnalyzerEngine`` is not in the loop: with no NLP model its only work besides calling
the recognizers is bookkeeping, and calling them directly is faster (``benchmarks/pii_eval.py``
measures both on the same recognizers). The common document has no PII, so one cheap scan per
distinct trigger (each recognizer's ``TRIGGER``) decides which recognizers run at all, and where:
only on the windows of the text around their trigger's hits. Names are found last, and only next
to an account, registration number or phone (``pii.names``).
"""
from __future__ import annotations

import bisect
import functools
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from corpus.document import CODE
from corpus.placeholders import PII_TYPES, placeholder
from pii.names import ANCHOR_TYPES, RoleWordNames
from pii.recognizers import international_phone, language_independent
from pii.recognizers.base import NOWHERE, ContextPatternRecognizer, Match
from pii.recognizers.shapes import LOOKALIKE_TRIGGER, LOOKALIKES, digit_runs

_TYPE_RANK = {pii_type: rank for rank, pii_type in enumerate(PII_TYPES)}
# Spans already scrubbed (by an earlier pass or upstream) are never matched again, and they are
# seen as letters: the value they replaced was a run of letters/digits, and a neighbour that a
# recognizer's boundary rejected next to it must stay rejected next to its placeholder. Together
# that is what makes ``scrub(scrub(x)) == scrub(x)`` hold, with no new findings.
_PLACEHOLDER = re.compile(r"<\|pii:([a-z_]+)\|>")
_MASK_LETTER = "x"


@dataclass(frozen=True)
class Finding:
    """One PII span of the input text (character offsets into the *input*). The value itself is
    never recorded: the findings travel with the scrubbed text."""

    type: str
    start: int
    end: int
    score: float
    rule: str

    def to_json(self) -> dict:
        return {"type": self.type, "start": self.start, "end": self.end, "score": round(self.score, 2),
                "rule": self.rule}


@dataclass(frozen=True)
class PiiSpan:
    """Where one placeholder stands in the *scrubbed* text, in ``str`` code points:
    ``text[start:start + length] == placeholder(type)``. Only placeholders this scrub wrote are
    spans; a ``<|pii:...|>`` that was already in the input is ordinary text (a raw document must
    not be able to inject a reserved token)."""

    start: int
    length: int
    type: str


@dataclass(frozen=True)
class ScrubResult:
    text: str
    findings: tuple[Finding, ...]
    spans: tuple[PiiSpan, ...] = ()

    def counts(self) -> dict[str, int]:
        """Findings per PII type, in ``PII_TYPES`` order."""
        return dict(sorted(Counter(f.type for f in self.findings).items(), key=lambda kv: _TYPE_RANK[kv[0]]))


class Scrubber:
    """Reusable and cheap per call; build once per worker (recognizers compile their regexes
    on first use)."""

    def __init__(self, types: Sequence[str] = PII_TYPES) -> None:
        unknown = sorted(set(types) - set(PII_TYPES))
        if unknown:
            raise ValueError(f"unknown PII types {unknown} (known: {', '.join(PII_TYPES)})")
        self.types = frozenset(types)
        self._recognizers = {strict: language_independent(self.types, strict) for strict in (False, True)}
        self._plans: dict[tuple[str | None, bool], _Plan] = {}
        self._names = RoleWordNames() if "person" in self.types else None

    def recognizers(self, lang: str | None = None, bucket: str | None = None) -> list[ContextPatternRecognizer]:
        """The recognizers a document of this language and bucket gets: code is strict (bare
        digit runs need context: they are usually constants there)."""
        return list(self._plan(lang, bucket).recognizers)

    def _plan(self, lang: str | None, bucket: str | None) -> _Plan:
        key = (lang, bucket == CODE)
        plan = self._plans.get(key)
        if plan is None:
            recognizers = list(self._recognizers[key[1]])
            if "phone" in self.types:
                recognizers.append(international_phone(lang, key[1]))
            plan = self._plans[key] = _Plan(recognizers)
        return plan

    def find(self, text: str, lang: str | None = None, bucket: str | None = None) -> list[Finding]:
        """Non-overlapping findings, in text order."""
        placeholders = list(_PLACEHOLDER.finditer(text)) if "<|pii:" in text else []
        scrubbed = [m.span() for m in placeholders]
        if scrubbed:
            text = _mask(text, scrubbed)
        if LOOKALIKE_TRIGGER.search(text):
            text = text.translate(LOOKALIKES)
        matches = []
        for recognizer, windows in self._plan(lang, bucket).fired(text):
            for pos, endpos, digit_row in windows:
                matches += [(recognizer.PII_TYPE, match) for match in recognizer.matches(text, pos, endpos, digit_row)]
        if not matches and not placeholders:
            return []  # the common document: no identifier, so no name next to one either
        candidates = [Finding(pii_type, m.start, m.end, m.score, m.rule) for pii_type, m in _nearest_context_wins(matches)]
        if scrubbed:
            taken = _Spans(scrubbed)
            candidates = [c for c in candidates if not taken.overlaps(c.start, c.end)]
        findings = resolve_overlaps(candidates)
        if self._names is None:
            return findings
        # An identifier scrubbed upstream (a placeholder in the input) still anchors its holder's name.
        anchors = [(f.start, f.end) for f in findings if f.type in ANCHOR_TYPES]
        anchors += [m.span() for m in placeholders if m.group(1) in ANCHOR_TYPES]
        names = [Finding("person", start, end, 0.7, "role_word_name") for start, end in self._names.find(text, anchors)]
        return resolve_overlaps(findings + names) if names else findings

    def scrub(self, text: str, lang: str | None = None, bucket: str | None = None) -> ScrubResult:
        findings = self.find(text, lang, bucket)
        scrubbed, spans = replace_with_spans(text, findings)
        return ScrubResult(scrubbed, tuple(findings), spans)


def _nearest_context_wins(matches: list[tuple[str, Match]]) -> list[tuple[str, Match]]:
    """Of matches of one span that context words in front of it raised (a licence number's word
    on the line before, an account's word next to it), those whose word stands nearest: as for
    decoy words, the nearest word is the one that speaks about this number."""
    nearest: dict[tuple[int, int], int] = {}
    for _, m in matches:
        if m.context_before < NOWHERE:
            nearest[m.start, m.end] = min(nearest.get((m.start, m.end), NOWHERE), m.context_before)
    return [(t, m) for t, m in matches if m.context_before >= NOWHERE or m.context_before == nearest[m.start, m.end]]


def resolve_overlaps(candidates: Iterable[Finding]) -> list[Finding]:
    """Greedy longest-span-first: of overlapping findings the longest wins; ties go to the higher
    score, then to the earlier type in ``PII_TYPES`` (deterministic for any input order)."""
    ordered = sorted(candidates, key=lambda f: (f.start - f.end, -f.score, _TYPE_RANK[f.type], f.start, f.rule))
    chosen, taken = [], _Spans()
    for finding in ordered:
        if not taken.overlaps(finding.start, finding.end):
            taken.add(finding.start, finding.end)
            chosen.append(finding)
    return sorted(chosen, key=lambda f: f.start)


def replace(text: str, findings: Sequence[Finding]) -> str:
    """``text`` with each (non-overlapping, ordered) finding replaced by its placeholder."""
    return replace_with_spans(text, findings)[0]


def replace_with_spans(text: str, findings: Sequence[Finding]) -> tuple[str, tuple[PiiSpan, ...]]:
    """``replace`` and where each placeholder landed in its result."""
    spans, shift = [], 0
    for f in findings:
        new = placeholder(f.type)
        spans.append(PiiSpan(f.start + shift, len(new), f.type))
        shift += len(new) - (f.end - f.start)
    return _splice(text, [(f.start, f.end, placeholder(f.type)) for f in findings]), tuple(spans)


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    return _splice(text, [(start, end, _MASK_LETTER * (end - start)) for start, end in spans])


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """``text`` with each ``(start, end, new)`` (ordered, non-overlapping) applied."""
    pieces, position = [], 0
    for start, end, new in edits:
        pieces += [text[position:start], new]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


class _Spans:
    """Disjoint half-open spans, sorted: overlap queries in O(log n) (a log file can hold
    thousands of IP addresses)."""

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in spans:
            self.add(start, end)

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self._starts, end)  # spans starting before ``end``
        return i > 0 and self._ends[i - 1] > start

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)


Window = tuple[int, int]


class _Plan:
    """The recognizers one kind of document gets, and how to find where each runs: every distinct
    trigger is scanned once per text (several recognizers share the digit-run trigger), and each
    recognizer runs on the merged ``WINDOW``s around its trigger's hits that hold enough digits
    for one of its matches.

    Recognizers with the same triggers and window form one group, worked out here once: most
    documents hit no trigger, and what a document costs then is the scans alone."""

    def __init__(self, recognizers: list[ContextPatternRecognizer]) -> None:
        self.recognizers = tuple(recognizers)
        triggers = [r.TRIGGER if isinstance(r.TRIGGER, tuple) else (r.TRIGGER,) for r in recognizers]
        self._patterns = list(dict.fromkeys(p for patterns in triggers for p in patterns))
        groups: dict[tuple, list[ContextPatternRecognizer]] = {}
        for recognizer, patterns in zip(recognizers, triggers):
            groups.setdefault((patterns, recognizer.WINDOW), []).append(recognizer)
        self._groups = [(tuple(self._patterns.index(p) for p in patterns), window, tuple(members))
                        for (patterns, window), members in groups.items()]

    def fired(self, text: str) -> list[tuple[ContextPatternRecognizer, list[tuple[int, int, int | None]]]]:
        """The recognizers whose trigger occurs in ``text``, each with the windows to run on
        (start, end, and for a numeric recognizer the most digits in a row there)."""
        hits = []
        for pattern in self._patterns:
            # A search that finds nothing is the common case and the cheapest call; a hit is
            # scanned on from where it stands.
            first = pattern.search(text)
            hits.append([m.span() for m in pattern.finditer(text, first.start())] if first else None)
        fired = []
        for indices, window, members in self._groups:
            spans = [span for i in indices if hits[i] for span in hits[i]]
            if not spans:
                continue
            windows = _windows(text, spans, window)
            runs = None
            for recognizer in members:
                if not recognizer.MIN_DIGITS:
                    fired.append((recognizer, [(pos, endpos, None) for pos, endpos in windows]))
                    continue
                if runs is None:
                    runs = [(pos, endpos, *digit_runs(text, pos, endpos)) for pos, endpos in windows]
                held = [(pos, endpos, row) for pos, endpos, joined, row in runs if joined >= recognizer.MIN_DIGITS]
                if held:
                    fired.append((recognizer, held))
        return fired


def _windows(text: str, hits: list[Window], window: Window | None) -> list[Window]:
    """The merged ``window``s around ``hits`` (None: all of ``text``)."""
    if window is None:
        return [(0, len(text))]
    before, after = window
    spans = sorted((max(0, start - before), _run_end(text, end + after)) for start, end in hits)
    merged: list[Window] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


_RUN_END = re.compile(r"[\s\"'`]")


def _run_end(text: str, position: int) -> int:
    """``position``, moved on to the end of the unbroken token it falls in (a window never cuts
    a token: a pattern's look-ahead would read the cut as the token's end)."""
    if position >= len(text):
        return len(text)
    boundary = _RUN_END.search(text, position)
    return boundary.start() if boundary else len(text)


@functools.cache
def default_scrubber() -> Scrubber:
    return Scrubber()


def scrub(text: str, lang: str | None = None, bucket: str | None = None) -> ScrubResult:
    """Scrub ``text`` with every PII type (see ``corpus.placeholders.PII_TYPES``)."""
    return default_scrubber().scrub(text, lang, bucket)
