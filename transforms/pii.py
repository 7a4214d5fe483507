"""The ``pii`` curation stage: scrub every document with ``pii.Scrubber`` (typed placeholders).

PII is scrubbed, not rejected: every document is kept with its text scrubbed and ``doc.pii`` set
to the number of findings. The one exception is a document the scrubber fails on (a bug, a
pathological input): keeping it unscrubbed would leak whatever it holds, so it is rejected as
``pii:exception`` with the error as detail.

Outputs: ``kept``, ``rejected`` and ``stats`` (one dict, merged into ``stats.json["stages"]["pii"]``):
documents seen, documents with PII and findings per type, in total and per bucket. Beam counters
(namespace ``pii``): ``docs``, ``docs_with_pii``, ``found:<type>``, ``rejected:exception``.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import apache_beam as beam

from corpus.config import ConfigError
from corpus.counters import LazyCounters
from corpus.document import Document, Rejection
from corpus.placeholders import PII_TYPES
from transforms.stage import KEPT, REJECTED, STATS

NAME = "pii"
_COUNTS = "counts"


@dataclass
class PiiConfig:
    """Which PII types are scrubbed: all of ``corpus.placeholders.PII_TYPES`` by default (PII
    removal is a step of the HyperCLOVA X data pipeline; leaving a type in is an explicit choice)."""

    enabled: bool = True
    types: list[str] = field(default_factory=lambda: list(PII_TYPES))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.types) - set(PII_TYPES))
        if unknown:
            raise ConfigError(f"pii.types: unknown PII type {unknown[0]!r} (known: {', '.join(PII_TYPES)})")


class _ScrubDoFn(beam.DoFn):
    def __init__(self, types: list[str]):
        self._types = types
        self._counters = LazyCounters(NAME)

    def setup(self) -> None:
        # Imported here: Presidio pulls in spaCy (seconds of import), which loading the curate
        # config (transforms/config.py imports PiiConfig) must not pay.
        from pii.scrubber import Scrubber

        self._scrubber = Scrubber(self._types)

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
        yield dataclasses.replace(doc, text=result.text, pii=len(result.findings))


class PiiStatsFn(beam.CombineFn):
    """(bucket, {type: n}) per document -> the stage's stats dict. Integer sums only, so the
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


class PiiStage(beam.PTransform):
    """PCollection[Document] -> {"kept", "rejected", "stats"} (transforms/stage.py contract)."""

    def __init__(self, config: PiiConfig):
        super().__init__(label=NAME)
        self.config = config

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        outputs = docs | "Scrub" >> beam.ParDo(_ScrubDoFn(list(self.config.types))).with_outputs(
            REJECTED, _COUNTS, main=KEPT)
        stats = outputs[_COUNTS] | "Stats" >> beam.CombineGlobally(PiiStatsFn())
        return {KEPT: outputs[KEPT], REJECTED: outputs[REJECTED], STATS: stats}
