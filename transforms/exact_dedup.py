"""Exact dedup: documents with identical text keep one survivor, the first in read order.

Key: BLAKE2b-128 of the UTF-8 bytes of ``doc.text`` as this step receives it, i.e. the output
of ``transforms.normalize.normalize_text`` (``\\n`` line breaks, control characters removed, NFC,
trailing whitespace stripped, blank-line runs capped, outer blank lines dropped) — no case
folding or punctuation stripping: that is near-duplicate territory (MinHash). The key is global:
the same text in two buckets is still one document.

A verdict step (``transforms/verdicts.py``): the phase before it writes each document's key
beside it (``annotate``); this step groups only ``(key, uid)`` pairs (16 bytes + an integer per
document, never the text), so a text repeated a million times costs a million integers in one
worker's memory. Per key the smallest uid (the first read: input path, then line) survives; every
other document gets a ``dedup:exact`` verdict naming the survivor's location, applied when its
shard's text is streamed again; ``OUT/rejected/`` records it without a second copy of the text.
The survivor does not depend on arrival order: identical on every runner.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from corpus.document import Document
from corpus.hashing import blake2b
from corpus.readers import ShardTable
from transforms.phase_io import Verdict
from transforms.verdicts import VerdictContext, VerdictStep

NAME = "dedup.exact"
REASON = "dedup:exact"


@dataclass
class ExactDedupConfig:
    enabled: bool = True


def text_key(text: str) -> bytes:
    """The dedup key of an (already normalized) text."""
    return blake2b(text, 16)


def survivor_and_duplicates(uids: Iterable[int]) -> tuple[int, list[int]]:
    """For the uids sharing one text key: the survivor (smallest) and the others."""
    ordered = sorted(uids)
    return ordered[0], ordered[1:]


class _VerdictsFn(beam.DoFn):
    def __init__(self, shards: ShardTable, priority: int):
        self._shards, self._priority = shards, priority
        self._rejected = Metrics.counter(NAME, "rejected:exact")

    def process(self, element: tuple[bytes, Iterable[int]]) -> Iterator[tuple[int, Verdict]]:
        _, uids = element
        survivor, duplicates = survivor_and_duplicates(uids)
        if duplicates:
            detail = self._shards.location(survivor)
            self._rejected.inc(len(duplicates))
            for uid in duplicates:
                yield uid, Verdict(self._priority, REASON, detail)


class ExactDedup(VerdictStep):
    """The ``dedup.exact`` verdict step; stats = duplicates per bucket and the number of
    distinct texts that had duplicates."""

    label = NAME
    columns = ("text_hash",)
    rejected_text = False  # a duplicate's text is its survivor's, which the verdict's detail locates

    def __init__(self, config: ExactDedupConfig | None = None):
        self.config = config or ExactDedupConfig()

    def annotate(self, doc: Document) -> dict:
        return {"text_hash": text_key(doc.text)}

    def verdicts(self, records: beam.PCollection, context: VerdictContext) -> beam.PCollection:
        keyed = records | f"{NAME} ByTextHash" >> beam.Map(lambda r: (r["text_hash"], r["uid"]))
        return (context.meter.group_by_key(keyed, "GroupUidsByTextHash")
                | f"{NAME} Verdicts" >> beam.ParDo(_VerdictsFn(context.shards, context.priority)))

    def stats(self, rejected: beam.PCollection, context: VerdictContext) -> beam.PCollection:
        mine = rejected | f"{NAME} Rejections" >> beam.Filter(lambda r: r.reason == REASON)
        per_bucket = (mine
                      | f"{NAME} Bucket" >> beam.Map(lambda r: r.doc.bucket or "undetermined")
                      | f"{NAME} PerBucket" >> beam.combiners.Count.PerElement()
                      | f"{NAME} AsDict" >> beam.combiners.ToDict())
        survivors = mine | f"{NAME} SurvivorOf" >> beam.Map(lambda r: (r.detail, None))
        texts = (context.meter.group_by_key(survivors, "GroupExactSurvivors")
                 | f"{NAME} CountTexts" >> beam.combiners.Count.Globally())
        return (rejected.pipeline
                | f"{NAME} Once" >> beam.Create([None])
                | f"{NAME} Stats" >> beam.Map(_stats, beam.pvalue.AsSingleton(per_bucket),
                                              beam.pvalue.AsSingleton(texts)))


def _stats(_: None, per_bucket: dict[str, int], groups: int) -> dict:
    return {"duplicates": sum(per_bucket.values()),
            "duplicates_per_bucket": dict(sorted(per_bucket.items())),
            "texts_with_duplicates": groups}


def exact_dedup_step(config: ExactDedupConfig) -> ExactDedup:
    return ExactDedup(config)
