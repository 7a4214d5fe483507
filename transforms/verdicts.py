"""The contract of the steps that decide from small per-document records (dedup, duplicate ids).

A per-document step (``transforms/curate_step.py``) sees each document once, as it streams past. A
``VerdictStep`` needs the whole corpus (which documents share a text, a near-duplicate cluster,
a source id), so curate runs it as its own phase (``transforms/curate.py``):

1. the phase before it writes, beside each document, the small columns this step asks for
   (``annotate``: a text hash, a MinHash signature);
2. ``verdicts`` reads only those columns (and ``uid``) and returns ``(uid, Verdict)`` records:
   which documents are removed and why, which survivors get annotations (``cluster_size``);
3. the phase applies the verdicts shard by shard while streaming the previous phase's text
   (``transforms.phase_io.ApplyVerdicts``); ``stats`` then summarizes the step's rejections.

Only ids, hashes, band keys, signatures and verdicts are ever shuffled, never the text.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from corpus.document import Document
from corpus.readers import ShardTable
from corpus.shuffle_meter import ShuffleMeter


@dataclass
class VerdictContext:
    """What a verdict step may use: the shuffle meter, uid -> id, and the previous phase's
    document files per shard (for ``transforms.phase_io.LookupByShard``)."""

    meter: ShuffleMeter
    shards: ShardTable
    files_by_shard: dict[int, list[str]]
    priority: int  # this step's rank among the verdict steps of its phase


class VerdictStep(abc.ABC):
    label: str = ""
    columns: tuple[str, ...] = ()  # phase-file columns ``verdicts`` reads, besides uid
    # False: this step's rejections are stored without their text (``corpus.document.Rejection.keep_text``)
    rejected_text: bool = True

    def annotate(self, doc: Document) -> dict[str, Any]:
        """The small columns the previous phase writes for this step (default: none)."""
        return {}

    @abc.abstractmethod
    def verdicts(self, records: beam.PCollection, context: VerdictContext) -> beam.PCollection:
        """Rows (dicts of ``uid`` + ``columns``) -> ``(uid, transforms.phase_io.Verdict)``."""

    def stats(self, rejected: beam.PCollection, context: VerdictContext) -> beam.PCollection | None:
        """This phase's verdict rejections (all steps' ``Rejection``s) -> one stats dict, or None."""
        return None
