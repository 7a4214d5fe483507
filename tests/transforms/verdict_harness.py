"""Runs one verdict step (``transforms/verdicts.py``) the way a curate phase does: the documents
are written to a phase file with the step's annotations, the step's verdicts are computed from
the file's small columns and applied by streaming the file again. Outcomes are read back from
files, so multi-process runners work too."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from corpus.document import Document
from corpus.local_runner import new_pipeline
from corpus.readers import make_uid
from corpus.shuffle_meter import ShuffleMeter
from corpus.parquet import ParquetStreamWriter
from transforms.phase_io import PHASE_SCHEMA, ApplyVerdicts, ReadColumns, phase_row, segment_name
from transforms.verdicts import VerdictContext, VerdictStep


@dataclass
class Outcome:
    kept: set[str]
    rejected: dict[str, str]  # id -> the rejection's detail (the survivor's id for dedup)
    reasons: dict[str, str]  # id -> reason
    stored: dict[str, tuple[bool, int]]  # id -> (Rejection.keep_text, Rejection.chars)
    stats: dict | None
    cluster_sizes: dict[str, int]


class _IdTable:
    """uid -> the test document's id (what ``ShardTable.location`` is in a curate run)."""

    def __init__(self, ids: dict[int, str]):
        self._ids = ids

    def location(self, uid: int) -> str:
        return self._ids[uid]


def run_verdict_step(step: VerdictStep, docs: list[Document], tmp: Path, beam_args=(),
                      files_per_shard: int = 1) -> Outcome:
    """Documents get uids in id order (the smallest id is the first read), spread over
    ``files_per_shard`` shards of the phase file layout."""
    ordered = sorted(docs, key=lambda d: d.id)
    files: dict[int, list[str]] = {}
    ids = {}
    per_shard = -(-len(ordered) // files_per_shard)
    for i, doc in enumerate(ordered):
        shard, ordinal = i // per_shard, i % per_shard + 1
        doc.uid = make_uid(shard, ordinal)
        ids[doc.uid] = doc.id
    for shard in range(files_per_shard):
        rows = [d for d in ordered if d.uid >> 32 == shard]
        if not rows:
            continue
        path = tmp / "phase" / "docs" / segment_name(rows[0].uid)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = ParquetStreamWriter(str(path), PHASE_SCHEMA)
        for doc in rows:
            writer.write(phase_row(doc, step.annotate(doc)))
        writer.close()
        files[shard] = [str(path)]
    meter = ShuffleMeter()
    context = VerdictContext(meter, _IdTable(ids), files, 0)
    with new_pipeline(PipelineOptions(list(beam_args))) as pipeline:
        records = pipeline | ReadColumns([p for paths in files.values() for p in paths],
                                         ["uid", *step.columns], meter)
        applied = step.verdicts(records, context) | ApplyVerdicts(files, meter, [step.rejected_text])
        (applied["kept"] | "KeptRows" >> beam.Map(lambda d: json.dumps([d.id, d.cluster_size]))
         | "WriteKept" >> beam.io.WriteToText(str(tmp / "kept")))
        (applied["rejected"] | "RejectedRows" >> beam.Map(lambda r: json.dumps([r.doc.id, r.reason, r.detail,
                                                                                  r.keep_text, r.chars]))
         | "WriteRejected" >> beam.io.WriteToText(str(tmp / "rejected")))
        stats = step.stats(applied["rejected"], context)
        if stats is not None:
            stats | "StatsJson" >> beam.Map(json.dumps) | "WriteStats" >> beam.io.WriteToText(str(tmp / "stats"))

    def lines(prefix: str) -> list[str]:
        return [line for f in sorted(tmp.glob(f"{prefix}-*")) for line in f.read_text("utf-8").splitlines()]

    kept = [json.loads(row) for row in lines("kept")]
    rejected = [json.loads(row) for row in lines("rejected")]
    found_stats = [json.loads(s) for s in lines("stats")]
    return Outcome({doc_id for doc_id, _ in kept}, {doc_id: detail for doc_id, _, detail, _, _ in rejected},
                   {doc_id: reason for doc_id, reason, _, _, _ in rejected},
                   {doc_id: (keep, chars) for doc_id, _, _, keep, chars in rejected},
                   found_stats[0] if found_stats else None, {doc_id: size for doc_id, size in kept})
