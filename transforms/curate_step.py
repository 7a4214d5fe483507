"""The contract every curation step follows, and the wrapper for per-document filters.

A step is a ``beam.PTransform`` from ``PCollection[Document]`` to a dict of PCollections:

- ``kept``: ``Document`` (possibly annotated: bucket, lang, pii count, knowledge score),
- ``rejected``: ``Rejection`` with ``reason == f"{step.name}:{rule}"``,
- ``stats`` (optional): exactly one JSON-able dict, merged into ``stats.json["steps"][name]``.

Nothing leaves a step any other way, so ``read == kept + rejected + errors`` holds by construction.

Per-document decisions (datatrove style: one small class, one method that says why) implement
``DocumentFilter`` and become a step with ``FilterStep``. Steps that need global state (dedup,
decontamination) are composite PTransforms of their own that return the same dict.
"""
from __future__ import annotations

import abc
from typing import Iterable

import apache_beam as beam

from corpus.counters import LazyCounters
from corpus.document import Document, Rejection

KEPT, REJECTED, STATS = "kept", "rejected", "stats"


class DocumentFilter(abc.ABC):
    """Decides about one document. Subclasses set ``name`` (the step name: reason prefix and
    Beam counter namespace) and load heavy resources in ``setup`` (once per worker)."""

    name: str = ""

    def setup(self) -> None:
        """Load models/taggers; called once per worker before any ``apply``."""

    @abc.abstractmethod
    def apply(self, doc: Document) -> Document | str:
        """Return the document to keep (possibly annotated), or the short rule name it failed
        (``"too_short"``), which becomes the rejection reason ``f"{name}:{rule}"``."""

    def detail(self, doc: Document, rule: str) -> str:
        """Optional audit detail for a rejection (e.g. the measured value); empty by default."""
        return ""


class MeasuredFilter(DocumentFilter):
    """A filter that rejects when a measured value breaks a limit. Subclasses implement
    ``violation``; the rejection detail is ``rule=value`` (what the report plots), and the
    measurement runs once per document even though ``apply`` and ``detail`` both need it."""

    _last: tuple[Document, tuple[str, float] | None] | None = None

    @abc.abstractmethod
    def violation(self, doc: Document) -> tuple[str, float] | None:
        """The first rule ``doc`` breaks and its measured value, or None."""

    def apply(self, doc: Document) -> Document | str:
        found = self.violation(doc)
        self._last = (doc, found)
        return doc if found is None else found[0]

    def detail(self, doc: Document, rule: str) -> str:
        found = self._last[1] if self._last is not None and self._last[0] is doc else self.violation(doc)
        return f"{rule}={found[1]:.4f}" if found else ""


class _FilterDoFn(beam.DoFn):
    def __init__(self, doc_filter: DocumentFilter):
        self._filter = doc_filter
        self._counters = LazyCounters(doc_filter.name)

    def setup(self) -> None:
        self._filter.setup()

    def process(self, doc: Document) -> Iterable:
        self._counters.inc("in")
        name = self._filter.name
        try:
            result = self._filter.apply(doc)
        except Exception as exc:  # a bug or a pathological document must not lose the run
            self._counters.inc("rejected:exception")
            yield beam.pvalue.TaggedOutput(
                REJECTED, Rejection(doc, f"{name}:exception", f"{type(exc).__name__}: {exc}"[:500])
            )
            return
        if isinstance(result, Document):
            self._counters.inc("kept")
            yield result
        else:
            self._counters.inc(f"rejected:{result}")
            yield beam.pvalue.TaggedOutput(
                REJECTED, Rejection(doc, f"{name}:{result}", self._filter.detail(doc, result))
            )


class FilterStep(beam.PTransform):
    """Wraps a ``DocumentFilter`` as a step: kept documents and tagged rejections."""

    def __init__(self, doc_filter: DocumentFilter):
        super().__init__(label=doc_filter.name)
        self.doc_filter = doc_filter

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        outputs = docs | "Apply" >> beam.ParDo(_FilterDoFn(self.doc_filter)).with_outputs(REJECTED, main=KEPT)
        return {KEPT: outputs[KEPT], REJECTED: outputs[REJECTED]}
