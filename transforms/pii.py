"""The ``pii`` curation step: scrub every document with ``pii.Scrubber`` (typed placeholders).

PII is scrubbed, not rejected: every document is kept with its text scrubbed and ``doc.pii`` set
to the number of findings. The one exception is a document the scrubber fails on (a bug, a
pathological input): keeping it unscrubbed would leak whatever it holds, so it is rejected as
``pii:exception`` with the error as detail.

Each kept document also gets ``doc.pii_spans``: where the placeholders this step wrote stand in
its scrubbed text (curated column ``pii_spans``), so that the build encodes exactly those as
reserved ids and a ``<|pii:email|>`` typed in a raw document stays ordinary text.

Outputs: ``kept``, ``rejected`` and ``stats`` (one dict, merged into ``stats.json["steps"]["pii"]``):
documents seen, documents with PII and findings per type, in total and per bucket. Beam counters
(namespace ``pii``): ``docs``, ``docs_with_pii``, ``found:<type>``, ``rejected:exception``.

Side outputs. Rejected documents (every step's, most of them rejected before this step ran) and
read errors would otherwise carry raw input into ``OUT/rejected/`` and ``OUT/errors/``.
``ProtectSideOutputs`` runs just before those writers and applies ``pii.side_output_text``:
``scrubbed`` (default: text, detail, error and excerpt scrubbed with the same types),
``omitted`` (text and excerpt null; input and location re-read the source) or ``raw``.
Counters ``pii/side:<kind>:scrubbed``, ``pii/side:<kind>:unscrubbable`` (the scrubber raised:
the text is dropped, never written raw).
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import apache_beam as beam

from corpus.config import ConfigError
from corpus.counters import LazyCounters
from corpus.document import Document, ReadError, Rejection
from corpus.placeholders import PII_TYPES
from transforms.curate_step import KEPT, REJECTED, STATS

NAME = "pii"
_COUNTS = "counts"
SIDE_OUTPUT_TEXT = ("scrubbed", "omitted", "raw")


@dataclass
class PiiConfig:
    """Which PII types are scrubbed: all of ``corpus.placeholders.PII_TYPES`` by default (PII
    removal is a step of the HyperCLOVA X data pipeline; leaving a type in is an explicit choice).
    ``person`` (names marked by a role word next to an account, registration number or phone)
    is one of them: leave it out of ``types`` to turn name detection off.

    ``side_output_text``: what ``OUT/rejected/`` (text, detail) and ``OUT/errors/`` (error,
    excerpt) hold, whether or not the step is enabled: ``scrubbed`` (default), ``omitted``
    (null text and excerpt) or ``raw``. ``raw`` is SENSITIVE: those rows then hold personal data
    exactly as read (rejected documents are never scrubbed otherwise)."""

    enabled: bool = True
    types: list[str] = field(default_factory=lambda: list(PII_TYPES))
    side_output_text: str = "scrubbed"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.types) - set(PII_TYPES))
        if unknown:
            raise ConfigError(f"pii.types: unknown PII type {unknown[0]!r} (known: {', '.join(PII_TYPES)})")
        if self.side_output_text not in SIDE_OUTPUT_TEXT:
            raise ConfigError(f"pii.side_output_text: {self.side_output_text!r} is not one of "
                              f"{', '.join(SIDE_OUTPUT_TEXT)}")


def _new_scrubber(types: list[str]):
    # Imported here: Presidio pulls in spaCy and transformers (seconds of import), which loading
    # the curate config (transforms/config.py imports PiiConfig) must not pay.
    from pii.scrubber import Scrubber

    return Scrubber(types)


class _ScrubDoFn(beam.DoFn):
    """Scrubs documents with one ``Scrubber`` per worker; counters by name."""

    def __init__(self, types: list[str]):
        self._types = types
        self._counters = LazyCounters(NAME)

    def setup(self) -> None:
        self._scrubber = _new_scrubber(self._types)

    def process(self, doc: Document) -> Iterable:
        self._counters.inc("docs")
        try:
            result = self._scrubber.scrub(doc.text, doc.lang or None, doc.bucket or None)
        except Exception as exc:  # a rejected document is accounted for; a crash loses the run
            self._counters.inc("rejected:exception")
            yield beam.pvalue.TaggedOutput(
                REJECTED, Rejection(doc, f"{NAME}:exception", f"{type(exc).__name__}: {exc}"[:500]))
            return
        counts = result.counts()
        for pii_type, n in counts.items():
            self._counters.inc(f"found:{pii_type}", n)
        if counts:
            self._counters.inc("docs_with_pii")
        yield beam.pvalue.TaggedOutput(_COUNTS, (doc.bucket, counts))
        spans = tuple((span.start, span.length, span.type) for span in result.spans)
        yield dataclasses.replace(doc, text=result.text, pii=len(result.findings), pii_spans=spans)


class _ProtectSideOutputFn(beam.DoFn):
    """Rejection / ReadError -> the same record with its text fields as ``side_output_text`` says.
    The scrubber is built on the first text there is to scrub, not in ``setup``: a phase whose
    side outputs are all text-free (exact duplicates, no read errors) never imports Presidio,
    which costs each worker process seconds."""

    def __init__(self, types: list[str], side_output_text: str):
        self._types, self._mode = types, side_output_text
        self._counters = LazyCounters(NAME)
        self._scrubber = None

    def _scrubbed(self, kind: str, text: str | None, lang: str | None = None, bucket: str | None = None) -> str | None:
        if not text:
            return text
        if self._scrubber is None:
            self._scrubber = _new_scrubber(self._types)
        try:
            result = self._scrubber.scrub(text, lang, bucket)
        except Exception:  # an unscrubbable text is dropped: writing it raw could leak
            self._counters.inc(f"side:{kind}:unscrubbable")
            return None
        self._counters.inc(f"side:{kind}:scrubbed")
        return result.text

    def process(self, record: Rejection | ReadError) -> Iterable[Any]:
        if isinstance(record, Rejection):
            if not record.keep_text:  # no text is stored, and its detail is a location the step wrote
                yield record
                return
            doc = record.doc
            lang, bucket = doc.lang or None, doc.bucket or None
            text = None if self._mode == "omitted" else self._scrubbed("rejected", doc.text, lang, bucket)
            detail = self._scrubbed("rejected", record.detail, lang, bucket) or ""
            yield dataclasses.replace(record, doc=dataclasses.replace(doc, text=text), detail=detail)
        else:
            excerpt = None if self._mode == "omitted" else self._scrubbed("errors", record.excerpt)
            error = self._scrubbed("errors", record.error) or ""
            yield dataclasses.replace(record, error=error, excerpt=excerpt)


class ProtectSideOutputs(beam.PTransform):
    """PCollection[Rejection | ReadError] -> the same, fit to write to ``OUT/rejected/`` or
    ``OUT/errors/`` under ``config.side_output_text`` (module docstring). Apply it on the way to
    the writers only: the funnel counts the characters of what was read."""

    def __init__(self, config: PiiConfig):
        super().__init__()
        self.config = config

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        if self.config.side_output_text == "raw":
            return records
        return records | "Protect" >> beam.ParDo(
            _ProtectSideOutputFn(list(self.config.types), self.config.side_output_text))


class PiiStatsFn(beam.CombineFn):
    """(bucket, {type: n}) per document -> the step's stats dict. Integer sums only, so the
    result is independent of how the runner splits and merges."""

    def create_accumulator(self) -> dict[str, Counter]:
        return {}

    def add_input(self, acc: dict[str, Counter], element: tuple[str, dict[str, int]]) -> dict[str, Counter]:
        bucket, counts = element
        bucket_acc = acc.setdefault(bucket, Counter())
        bucket_acc["docs"] += 1
        bucket_acc["docs_with_pii"] += bool(counts)
        for pii_type, n in counts.items():
            bucket_acc[f"type:{pii_type}"] += n
        return acc

    def merge_accumulators(self, accumulators: Iterable[dict[str, Counter]]) -> dict[str, Counter]:
        merged: dict[str, Counter] = {}
        for acc in accumulators:
            for bucket, counter in acc.items():
                merged.setdefault(bucket, Counter()).update(counter)
        return merged

    def extract_output(self, acc: dict[str, Counter]) -> dict:
        per_bucket = {bucket: _summary(counter) for bucket, counter in sorted(acc.items())}
        total = sum(acc.values(), Counter())
        return {**_summary(total), "per_bucket": per_bucket}


def _summary(counter: Counter) -> dict:
    by_type = {t: counter[f"type:{t}"] for t in PII_TYPES if counter[f"type:{t}"]}
    return {"docs": counter["docs"], "docs_with_pii": counter["docs_with_pii"],
            "findings": sum(by_type.values()), "by_type": by_type}


class PiiStep(beam.PTransform):
    """PCollection[Document] -> {"kept", "rejected", "stats"} (transforms/curate_step.py contract)."""

    def __init__(self, config: PiiConfig):
        super().__init__(label=NAME)
        self.config = config

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        outputs = docs | "Scrub" >> beam.ParDo(_ScrubDoFn(list(self.config.types))).with_outputs(
            REJECTED, _COUNTS, main=KEPT)
        stats = outputs[_COUNTS] | "Stats" >> beam.CombineGlobally(PiiStatsFn())
        return {KEPT: outputs[KEPT], REJECTED: outputs[REJECTED], STATS: stats}
