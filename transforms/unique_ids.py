"""Duplicate source ids: a record's own ``id`` (``Document.source_id``) claimed by several records.

Ids are unique by construction (a document's id is its location, ``corpus.readers``), so a repeated
source id never confuses the pipeline; it usually means a record was ingested twice, and a user
reading ``source_id`` downstream expects it to name one document. Among the documents that reach
the first verdict phase, the first in read order (smallest uid: input path, then line) keeps it,
every other one is rejected ``read:duplicate_id``. Only (source id, uid) pairs are shuffled.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from corpus.readers import ShardTable
from transforms.phase_io import Verdict
from transforms.verdicts import VerdictContext, VerdictStep

REASON = "read:duplicate_id"


class _DuplicatesFn(beam.DoFn):
    def __init__(self, shards: ShardTable, priority: int):
        self._shards, self._priority = shards, priority
        self._duplicates = Metrics.counter("read", "rejected:duplicate_id")

    def process(self, element: tuple[str, Iterable[int]]) -> Iterator[tuple[int, Verdict]]:
        _, uids = element
        uids = sorted(uids)
        if len(uids) < 2:
            return
        detail = f"id first read at {self._shards.location(uids[0])}"
        self._duplicates.inc(len(uids) - 1)
        for uid in uids[1:]:
            yield uid, Verdict(self._priority, REASON, detail)


class UniqueSourceIds(VerdictStep):
    label = "read.unique_ids"
    columns = ("source_id",)

    def verdicts(self, records: beam.PCollection, context: VerdictContext) -> beam.PCollection:
        keyed = (records
                 | f"{self.label} WithSourceId" >> beam.Filter(lambda r: r["source_id"] is not None)
                 | f"{self.label} BySourceId" >> beam.Map(lambda r: (r["source_id"], r["uid"])))
        return (context.meter.group_by_key(keyed, "GroupUidsBySourceId")
                | f"{self.label} Duplicates" >> beam.ParDo(_DuplicatesFn(context.shards, context.priority)))
