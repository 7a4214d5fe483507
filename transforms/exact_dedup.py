"""Exact dedup: documents with identical text keep one survivor, the one with the smallest id.

Key: BLAKE2b-128 of the UTF-8 bytes of ``doc.text`` as this stage receives it, i.e. the output
of ``transforms.normalize.normalize_text`` (NFC, ``\\n`` line breaks, control characters removed,
trailing whitespace stripped, blank-line runs capped, outer blank lines dropped) — no case
folding or punctuation stripping: that is near-duplicate territory (MinHash). The key is global:
the same text in two buckets is still one document.

Pattern (after TFDS C4's keyed dedup): only ``(key, id)`` pairs are grouped by text key, so a
text repeated a million times costs a million ids in one worker's memory, never a million
documents; each id learns its key's survivor (the smallest id), and a join by id (ids are unique,
``corpus.readers.UniqueIds``) brings every document to its verdict, one document per group. The
survivor does not depend on arrival order, so the result is identical on every runner.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from corpus.document import Rejection
from corpus.hashing import blake2b
from transforms.stage import KEPT, REJECTED, STATS

NAME = "dedup.exact"


@dataclass
class ExactDedupConfig:
    enabled: bool = True


def text_key(text: str) -> bytes:
    """The dedup key of an (already normalized) text."""
    return blake2b(text, 16)


def _survivor_per_id(element: tuple[bytes, Iterable[str]]) -> Iterable[tuple[str, str]]:
    """For one text key: ``(id, survivor id)`` for every id sharing that text."""
    _, ids = element
    ids = list(ids)
    survivor = min(ids)
    return [(doc_id, survivor) for doc_id in ids]


class _VerdictFn(beam.DoFn):
    def __init__(self):
        self._kept = Metrics.counter(NAME, "kept")
        self._rejected = Metrics.counter(NAME, "rejected:exact")

    def process(self, element: tuple[str, dict[str, list]]) -> Iterable:
        doc_id, joined = element
        (survivor,) = joined["survivor"]
        for doc in joined["doc"]:  # exactly one: ids are unique
            if doc_id == survivor:
                self._kept.inc()
                yield doc
            else:
                self._rejected.inc()
                yield beam.pvalue.TaggedOutput(REJECTED, Rejection(doc, "dedup:exact", survivor))


class ExactDedup(beam.PTransform):
    """PCollection[Document] -> {"kept", "rejected", "stats"}; stats = duplicates per bucket and
    the number of distinct texts that had duplicates."""

    def __init__(self, config: ExactDedupConfig | None = None):
        super().__init__(label=NAME)
        self.config = config or ExactDedupConfig()

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        survivors = (docs
                     | "KeyIdByText" >> beam.Map(lambda d: (text_key(d.text), d.id))
                     | "GroupIdsByText" >> beam.GroupByKey()
                     | "SurvivorPerId" >> beam.FlatMap(_survivor_per_id))
        verdicts = ({"doc": docs | "KeyById" >> beam.Map(lambda d: (d.id, d)), "survivor": survivors}
                    | "JoinById" >> beam.CoGroupByKey()
                    | "Verdict" >> beam.ParDo(_VerdictFn()).with_outputs(REJECTED, main=KEPT))
        rejected = verdicts[REJECTED]
        per_bucket = (rejected
                      | "Bucket" >> beam.Map(lambda r: r.doc.bucket or "undetermined")
                      | "PerBucket" >> beam.combiners.Count.PerElement()
                      | "AsDict" >> beam.combiners.ToDict())
        texts = (rejected
                 | "SurvivorOf" >> beam.Map(lambda r: r.detail)
                 | "DistinctTexts" >> beam.Distinct()
                 | "CountTexts" >> beam.combiners.Count.Globally())
        stats = (docs.pipeline
                 | "Once" >> beam.Create([None])
                 | "Stats" >> beam.Map(_stats, beam.pvalue.AsSingleton(per_bucket), beam.pvalue.AsSingleton(texts)))
        return {KEPT: verdicts[KEPT], REJECTED: rejected, STATS: stats}


def _stats(_: None, per_bucket: dict[str, int], groups: int) -> dict:
    return {"duplicates": sum(per_bucket.values()),
            "duplicates_per_bucket": dict(sorted(per_bucket.items())),
            "texts_with_duplicates": groups}


def exact_dedup_stage(config: ExactDedupConfig) -> ExactDedup:
    return ExactDedup(config)
