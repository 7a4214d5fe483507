"""``beam_pipeline.py curate``: read → stages → bucketed Parquet, rejections, errors, stats.json.

Outputs under OUT (stale ones are deleted first, so a rerun never mixes runs):

- ``curated/{korean,multilingual,code}/part-*.parquet`` (``corpus.parquet.CURATED_SCHEMA``),
- ``rejected/part-*.parquet`` (``REJECTED_SCHEMA``: id, source, bucket, reason, detail, text, ...),
- ``errors/part-*.parquet`` (``ERRORS_SCHEMA``: input, location, error, excerpt),
  both PII-scrubbed by default (``pii.side_output_text``, ``transforms.pii.ProtectSideOutputs``),
- ``report_data.json``: bounded histograms and samples for ``corpus/report.py`` (``transforms/report_samples.py``),
- ``stats.json``: the funnel per input, per bucket and in total, each stage's stats, the config,
  and the accounting check ``read == kept + rejected + errors``. ``read`` is counted by the readers
  independently of the outcomes, per input; a mismatch (a stage that lost or invented documents)
  fails the run after stats.json is written. Per bucket, ``read`` is the sum of the outcomes
  (a document's bucket is only known once langid ran; text documents rejected or unreadable
  before that are in bucket ``undetermined``).

All figures come from Beam combiners; one final step writes the small stats dict, after every
Parquet file is written (it takes their paths as a side input), so stats.json marks a complete
run. It holds no timestamps: same input + config → identical bytes (wall time goes to stderr).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from corpus.completion import clear_marker, write_marker
from corpus.config import to_dict
from corpus.document import BUCKETS, CODE, CODE_KIND, MULTILINGUAL, Document, ReadError, Rejection
from corpus.parquet import (CURATED_SCHEMA, ERRORS_SCHEMA, REJECTED_SCHEMA, WriteParquetShards, curated_row,
                            error_row, rejected_row)
from corpus.readers import ERRORS, READ, SKIPPED, InputError, ReadDocuments, ResolvedInputs, UniqueIds, resolve_inputs
from transforms.pii import ProtectSideOutputs
from transforms.report_samples import REPORT_DATA, ReportSamples
from transforms.stage import KEPT, REJECTED, STATS

UNDETERMINED = "undetermined"
KEPT_OUTCOME, ERROR_OUTCOME = "kept", "error"
OUTPUT_PARTS = ("curated", "rejected", "errors", REPORT_DATA, "stats.json")


class AccountingError(RuntimeError):
    """``read != kept + rejected + errors`` somewhere: a stage lost or invented documents."""


def run_curate(args: argparse.Namespace, beam_args: list[str], config: Any, stages: list) -> int:
    """Run the curate command; returns the process exit code."""
    if not args.input and not args.code_input:
        print("curate: error: give at least one --input or --code-input glob", file=sys.stderr)
        return 2
    try:
        inputs = resolve_inputs(args.input, args.code_input, config.read.skip)
    except InputError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    clear_outputs(args.output)
    started = time.monotonic()
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        build_curate(pipeline, inputs, config, stages, args.output)
    with FileSystems.open(FileSystems.join(args.output, "stats.json")) as handle:
        stats = json.loads(handle.read())
    print(funnel_summary(stats))
    print(f"curate: wall time {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


def clear_outputs(out: str) -> None:
    """Delete this command's outputs from a previous run (and nothing else under OUT). Object
    stores have no directories: there every object under each output prefix is deleted."""
    clear_marker(out)  # first: an interrupted rerun must not look like the previous complete run
    stale = []
    for part in OUTPUT_PARTS:
        path = FileSystems.join(out, part)
        if "://" in out and part != "stats.json":
            stale += [m.path for r in FileSystems.match([path + "/**"]) for m in r.metadata_list]
        elif FileSystems.exists(path):
            stale.append(path)
    if stale:
        FileSystems.delete(stale)


def build_curate(pipeline: beam.Pipeline, inputs: ResolvedInputs, config: Any, stages: list, out: str) -> None:
    """Wires the curate graph onto ``pipeline``: read, unique ids, the stages, outputs, stats."""
    read = pipeline | "Read" >> ReadDocuments(inputs.files, config.read)
    unique = read["docs"] | "UniqueIds" >> UniqueIds()
    docs, rejected, stage_stats = unique[KEPT], [unique[REJECTED]], []
    for stage in stages:
        result = docs | stage.label >> stage
        docs = result[KEPT]
        rejected.append(result[REJECTED])
        if STATS in result:
            stage_stats.append(result[STATS] | f"Name {stage.label} stats" >> beam.Map(lambda s, n=stage.label: (n, s)))
    kept = docs | "FinalBucket" >> beam.Map(_with_final_bucket)
    rejections = rejected | "AllRejected" >> beam.Flatten()
    # Side outputs leave scrubbed (pii.side_output_text); the funnel below counts what was read.
    protected = [pcoll | f"Protect {name}" >> ProtectSideOutputs(config.pii)
                 for name, pcoll in (("rejected", rejections), ("errors", read[ERRORS]))]
    written = _write_outputs(kept, *protected, config.output, out)
    written.append((kept, rejections) | "ReportSamples" >> ReportSamples(out))  # empty; stats.json waits for it
    settings = {"config": to_dict(config), "stage_order": [stage.label for stage in stages],
                "listing_skips": inputs.skipped, "kinds": inputs.kinds, "out": out}
    _write_stats_last(pipeline, settings, kept, rejections, read, stage_stats, written)


def _write_stats_last(pipeline: beam.Pipeline, settings: dict[str, Any], kept: beam.PCollection,
                      rejections: beam.PCollection, read: dict[str, beam.PCollection],
                      stage_stats: list[beam.PCollection], written: list[beam.PCollection]) -> None:
    """Combines every figure into small lists and writes stats.json in one step. The written
    Parquet paths are a side input, so stats.json comes last and marks a complete run."""
    out = settings["out"]
    outcomes = (
        (kept | "KeptOutcome" >> beam.Map(lambda d: ((d.input, d.bucket, KEPT_OUTCOME), (1, len(d.text)))),
         rejections | "RejectedOutcome" >> beam.Map(_rejected_outcome),
         read[ERRORS] | "ErrorOutcome" >> beam.Map(_error_outcome, settings["kinds"]))
        | "AllOutcomes" >> beam.Flatten()
        | "SumOutcomes" >> beam.CombinePerKey(beam.combiners.TupleCombineFn(sum, sum))
        | "OutcomeList" >> beam.combiners.ToList())
    read_counts = read[READ] | "SumRead" >> beam.CombinePerKey(sum) | "ReadList" >> beam.combiners.ToList()
    skipped = (read[SKIPPED] | "CountSkipped" >> beam.combiners.Count.PerElement()
               | "SkippedList" >> beam.combiners.ToList())
    stats_pcolls = stage_stats or [pipeline | "NoStageStats" >> beam.Create([])]
    stages_stats = stats_pcolls | "AllStageStats" >> beam.Flatten() | "StageStatsList" >> beam.combiners.ToList()
    files_per_dir = (written
                     | "AllWritten" >> beam.Flatten()
                     | "WrittenDir" >> beam.Map(lambda path: path[len(out):].lstrip("/").rsplit("/", 1)[0])
                     | "CountWritten" >> beam.combiners.Count.PerElement()
                     | "WrittenList" >> beam.combiners.ToList())
    _ = (pipeline
         | "StatsOnce" >> beam.Create([settings])
         | "WriteStats" >> beam.Map(write_stats, beam.pvalue.AsSingleton(outcomes),
                                    beam.pvalue.AsSingleton(read_counts), beam.pvalue.AsSingleton(skipped),
                                    beam.pvalue.AsSingleton(stages_stats),
                                    written=beam.pvalue.AsSingleton(files_per_dir)))


def _with_final_bucket(doc: Document) -> Document:
    """Every kept document lands in a bucket: with langid disabled a text document without a
    given ``lang`` goes to multilingual (it is not known to be Korean)."""
    if doc.bucket in BUCKETS:
        return doc
    return dataclasses.replace(doc, bucket=CODE if doc.kind == CODE_KIND else MULTILINGUAL)


def _rejected_outcome(rejection: Rejection) -> tuple:
    doc = rejection.doc
    return (doc.input, doc.bucket or UNDETERMINED, rejection.reason), (1, len(doc.text))


def _error_outcome(error: ReadError, kind_of_input: dict[str, str]) -> tuple:
    bucket = CODE if kind_of_input.get(error.input) == CODE_KIND else UNDETERMINED
    return (error.input, bucket, ERROR_OUTCOME), (error.records, 0)


def _write_outputs(kept: beam.PCollection, rejections: beam.PCollection, errors: beam.PCollection,
                   output_config: Any, out: str) -> list[beam.PCollection]:
    """Writes the three Parquet outputs; returns the PCollections of written file paths."""
    written = []
    by_bucket = kept | "ByBucket" >> beam.Partition(lambda d, n: BUCKETS.index(d.bucket), len(BUCKETS))
    for bucket, docs in zip(BUCKETS, by_bucket):
        rows = docs | f"CuratedRows {bucket}" >> beam.Map(curated_row)
        written.append(rows | f"WriteCurated {bucket}" >> WriteParquetShards(
            FileSystems.join(out, "curated", bucket), CURATED_SCHEMA, output_config.curated_shards))
    rows = rejections | "RejectedRows" >> beam.Map(rejected_row)
    written.append(rows | "WriteRejected" >> WriteParquetShards(
        FileSystems.join(out, "rejected"), REJECTED_SCHEMA, output_config.rejected_shards,
        sort_fields=("id", "reason", "input", "location")))
    rows = errors | "ErrorRows" >> beam.Map(error_row)
    written.append(rows | "WriteErrors" >> WriteParquetShards(
        FileSystems.join(out, "errors"), ERRORS_SCHEMA, output_config.errors_shards,
        shard_field="location", sort_fields=("location", "error", "excerpt")))
    return written


def _empty_funnel() -> dict[str, Any]:
    return {"read": 0, "kept": 0, "rejected": {}, "rejected_total": 0, "errors": 0,
            "chars_kept": 0, "chars_rejected": 0}


def _add_outcome(funnel: dict[str, Any], outcome: str, count: int, chars: int) -> None:
    if outcome == KEPT_OUTCOME:
        funnel["kept"] += count
        funnel["chars_kept"] += chars
    elif outcome == ERROR_OUTCOME:
        funnel["errors"] += count
    else:
        funnel["rejected"][outcome] = funnel["rejected"].get(outcome, 0) + count
        funnel["rejected_total"] += count
        funnel["chars_rejected"] += chars


def build_stats(settings: dict[str, Any], outcomes: Iterable[tuple], read_counts: Iterable[tuple[str, int]],
                skipped: Iterable[tuple[tuple[str, str], int]], stage_stats: Iterable[tuple[str, dict]],
                written: Iterable[tuple[str, int]] = ()) -> dict:
    """The stats.json dict (pure: tested directly). See the module docstring."""
    inputs = {name: dict(_empty_funnel(), kind=kind, skipped_files={})
              for name, kind in settings["kinds"].items()}
    buckets = {name: _empty_funnel() for name in (*BUCKETS, UNDETERMINED)}
    totals = _empty_funnel()
    for (input_name, bucket, outcome), (count, chars) in outcomes:
        for funnel in (inputs[input_name], buckets[bucket], totals):
            _add_outcome(funnel, outcome, count, chars)
    for funnel in buckets.values():
        funnel["read"] = funnel["kept"] + funnel["rejected_total"] + funnel["errors"]
    for input_name, count in read_counts:
        inputs[input_name]["read"] += count
        totals["read"] += count
    for input_name, rules in settings["listing_skips"].items():
        for rule, count in rules.items():
            inputs[input_name]["skipped_files"][rule] = count
    for (input_name, rule), count in skipped:
        files = inputs[input_name]["skipped_files"]
        files[rule] = files.get(rule, 0) + count
    mismatches = [f"{name}: read {f['read']} != kept {f['kept']} + rejected {f['rejected_total']} + errors {f['errors']}"
                  for name, f in [*sorted(inputs.items()), ("total", totals)]
                  if f["read"] != f["kept"] + f["rejected_total"] + f["errors"]]
    return {
        "accounting": {"rule": "read == kept + rejected + errors (per input and total)",
                       "ok": not mismatches, "mismatches": mismatches},
        "totals": totals,
        "buckets": {name: f for name, f in buckets.items() if name != UNDETERMINED or f["read"]},
        "inputs": inputs,
        "stages": _one_dict_per_stage(stage_stats),
        "stage_order": settings["stage_order"],
        "outputs": {"parquet_files": dict(sorted(written))},
        "config": settings["config"],
    }


def _one_dict_per_stage(stage_stats: Iterable[tuple[str, dict]]) -> dict[str, dict]:
    """The stage contract (transforms/stage.py) is exactly one stats dict per stage; two would make
    stats.json depend on which one a runner delivered last."""
    merged: dict[str, dict] = {}
    for name, stats in stage_stats:
        if name in merged:
            raise ValueError(f"stage {name!r} emitted more than one stats dict (the contract is exactly one)")
        merged[name] = stats
    return merged


def write_stats(settings: dict[str, Any], outcomes: list, read_counts: list, skipped: list,
                stage_stats: list, written: Iterable[tuple[str, int]] = ()) -> None:
    stats = build_stats(settings, outcomes, read_counts, skipped, stage_stats, written)
    path = FileSystems.join(settings["out"], "stats.json")
    temp = FileSystems.join(settings["out"], ".stats.json.tmp")
    with FileSystems.create(temp) as handle:
        handle.write(json.dumps(stats, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    FileSystems.rename([temp], [path])
    if not stats["accounting"]["ok"]:
        raise AccountingError("accounting broken: " + "; ".join(stats["accounting"]["mismatches"]))
    write_marker(settings["out"], "curate", {"totals": stats["totals"], **stats["outputs"]})  # last: OUT is complete


def funnel_summary(stats: dict[str, Any]) -> str:
    """A few lines for the terminal: totals, per bucket, the top rejection reasons."""
    t = stats["totals"]
    lines = [f"curate: read {t['read']:,}  kept {t['kept']:,}  rejected {t['rejected_total']:,}  "
             f"errors {t['errors']:,}  (accounting {'ok' if stats['accounting']['ok'] else 'BROKEN'})"]
    for name, f in stats["buckets"].items():
        lines.append(f"  {name:<13} kept {f['kept']:>9,} docs {f['chars_kept']:>14,} chars   "
                     f"rejected {f['rejected_total']:>9,}   errors {f['errors']:>7,}")
    reasons = sorted(t["rejected"].items(), key=lambda kv: (-kv[1], kv[0]))
    if reasons:
        lines.append("  rejected by reason: " + ", ".join(f"{r} {n:,}" for r, n in reasons))
    return "\n".join(lines)
