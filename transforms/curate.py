"""``beam_pipeline.py curate``: read → steps → bucketed Parquet, rejections, errors, stats.json.

Outputs under OUT:

- ``curated/{korean,multilingual,code}/part-*.parquet`` (``corpus.parquet.CURATED_SCHEMA``),
- ``rejected/part-*.parquet`` (``REJECTED_SCHEMA``: id, source, bucket, reason, detail, text, ...),
- ``errors/part-*.parquet`` (``ERRORS_SCHEMA``: input, location, error, excerpt),
  both PII-scrubbed by default (``pii.side_output_text``, ``transforms.pii.ProtectSideOutputs``),
- ``report_data.json``: bounded histograms and samples for ``corpus/report.py`` (``transforms/report_samples.py``),
- ``stats.json``: the funnel per input, per bucket and in total, each step's stats, the config,
  the bytes that entered each shuffle, and the accounting check ``read == kept + rejected +
  errors``. ``read`` is counted by the readers independently of the outcomes, per input; a
  mismatch (a step that lost or invented documents) fails the run after stats.json is written.
  Per bucket, ``read`` is the sum of the outcomes (a document's bucket is only known once langid
  ran; text documents rejected or unreadable before that are in bucket ``undetermined``);
- ``_COMPLETE.json`` (``corpus.completion``, step ``curate``), written last: the tokenizer and the
  build refuse a curated OUT without it;
- ``_phases/``: each phase's files and marker (``transforms/phases.py``), kept so that a rerun
  after a crash or a config change starts from the first phase that must run again.

Curate runs as a sequence of Beam jobs, one per phase, then one that publishes the parts
(``transforms/publish.py``). The text never crosses a shuffle: each phase streams documents
shard by shard from the inputs or the previous phase's files, and dedup decisions are made from
small records and applied shard by shard (``transforms/verdicts.py``). Same input + config →
identical bytes (wall time goes to stderr).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from corpus import storage
from corpus.completion import clear_marker, read_marker, write_marker
from corpus.config import to_dict
from corpus.document import BUCKETS, CODE, CODE_KIND, MULTILINGUAL, Document, ReadError, Rejection
from corpus.local_runner import new_pipeline
from corpus.parquet import CURATED_SCHEMA, ERRORS_SCHEMA, REJECTED_SCHEMA
from corpus.progress import ERRORS as TAP_ERRORS
from corpus.progress import INPUT_BYTES as TAP_INPUT_BYTES
from corpus.progress import KEPT as TAP_KEPT
from corpus.progress import READ as TAP_READ
from corpus.progress import REJECTED as TAP_REJECTED
from corpus.progress import Expected, PhaseProgress, Tap, run_pipeline
from corpus.readers import (ERRORS, READ, SKIPPED, InputError, InputShard, ReadDocuments, ResolvedInputs,
                            ShardTable, plan_shards, resolve_inputs)
from corpus.shuffle_meter import ShuffleMeter
from corpus.writable import require_writable
from transforms.phase_io import (DOCS, ERROR_ROWS, REJECTED_ROWS, ApplyVerdicts, ReadColumns, WritePhaseDocs,
                                 WritePhaseRows, WrittenFile, files_by_shard)
from transforms.phases import (PHASE_STATS, Phase, fingerprints, input_listing, is_complete, phase_dir,
                               plan_phases, remove_stale_phases)
from transforms.pii import NAME as PII_STEP
from transforms.pii import ProtectSideOutputs
from transforms.publish import WriteParts, plan_parts
from transforms.curate_step import KEPT, REJECTED, STATS
from transforms.report_samples import REPORT_DATA, ReportSamples, SampleScrub
from transforms.verdicts import VerdictContext

UNDETERMINED = "undetermined"
KEPT_OUTCOME, ERROR_OUTCOME = "kept", "error"
OUTPUT_PARTS = ("curated", "rejected", "errors", REPORT_DATA, "stats.json")
CURATE_STEP = "curate"


class AccountingError(RuntimeError):
    """``read != kept + rejected + errors`` somewhere: a step lost or invented documents."""


@dataclasses.dataclass
class CuratePlan:
    """Everything the phase jobs are built from."""

    inputs: ResolvedInputs
    shards: list[InputShard]
    phases: list[Phase]
    fingerprints: list[str]
    config: Any
    step_order: list[str]
    out: str

    @property
    def publish_fingerprint(self) -> str:
        import hashlib

        body = json.dumps([self.fingerprints[-1], to_dict(self.config.output)], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()


def make_plan(inputs: ResolvedInputs, config: Any, steps: list, out: str) -> CuratePlan:
    shards = plan_shards(inputs.files)
    phases = plan_phases(steps)
    return CuratePlan(inputs, shards, phases, fingerprints(phases, config, shards, inputs.kinds), config,
                      [step.label for step in steps], out)


def run_curate(args: argparse.Namespace, beam_args: list[str], config: Any, steps: list) -> int:
    """Run the curate command; returns the process exit code."""
    if not args.input and not args.code_input:
        print("curate: error: give at least one --input or --code-input glob", file=sys.stderr)
        return 2
    try:
        inputs = resolve_inputs(args.input, args.code_input, config.read.skip)
    except InputError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    require_writable(args.output)  # after the listing (bad globs leave no OUT), before any data is read
    started = time.monotonic()
    plan = make_plan(inputs, config, steps, args.output)
    stats = curate(plan, beam_args)
    print(funnel_summary(stats))
    print(f"curate: wall time {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


def curate(plan: CuratePlan, beam_args: list[str]) -> dict:
    """Runs the phases that are not complete with the same fingerprint, then publishes; returns
    stats.json's dict. A rerun of a finished OUT with the same inputs and config does nothing."""
    out = plan.out
    final = read_marker(out)
    if (final and final.get("step") == CURATE_STEP
            and final.get("produced", {}).get("fingerprint") == plan.publish_fingerprint
            and _published_outputs_present(out, final["produced"])):
        print("curate: every phase and the outputs are complete for this input and config", file=sys.stderr)
        return _read_json(storage.join(out, "stats.json"))
    clear_marker(out)
    remove_stale_phases(out, plan.phases)
    results: list[dict] = []
    for phase, fingerprint in zip(plan.phases, plan.fingerprints):
        directory = phase_dir(out, phase)
        if is_complete(directory, phase.marker_name, fingerprint):
            print(f"curate: phase {phase.dirname} is complete, reused", file=sys.stderr)
        else:
            storage.remove(directory)
            previous = results[-1] if results else None
            options = PipelineOptions(beam_args)
            with PhaseProgress(f"curate {phase.dirname}", options, _expected(plan, previous)) as progress:
                run_pipeline(options, lambda p: build_phase(p, plan, phase, previous, progress.directory), progress)
            write_marker(directory, phase.marker_name, {"fingerprint": fingerprint})
        results.append(_read_json(storage.join(directory, PHASE_STATS)))
    return publish(plan, results, beam_args)


def _published_outputs_present(out: str, produced: dict) -> bool:
    """Every output directory the marker records still holds its files and stats.json is there
    (``run --force`` or a user may have deleted ``curated/`` and left the marker)."""
    if not storage.exists(storage.join(out, "stats.json")):
        return False
    return all(len(storage.list_files(storage.join(out, directory))) >= count
               for directory, count in produced.get("parquet_files", {}).items())


def _read_json(path: str) -> dict:
    with storage.open_read(path) as handle:
        return json.loads(handle.read())


def build_curate(pipeline: beam.Pipeline, inputs: ResolvedInputs, config: Any, steps: list, out: str) -> None:
    """Wires the first phase's graph onto ``pipeline`` (what a runner is handed first)."""
    plan = make_plan(inputs, config, steps, out)
    build_phase(pipeline, plan, plan.phases[0], None)


def _expected(plan: CuratePlan, previous: dict | None) -> Expected:
    """What a phase reads in all, for its ETA: the input files' bytes, or the previous phase's documents."""
    if previous is None:
        sizes = _input_sizes(plan.shards)
        return Expected(input_bytes=sum(total for total, _ in sizes.values()) if sizes else None)
    return Expected(documents=sum(f["rows"] for f in previous["files"] if f["path"].startswith(DOCS + "/")))


def _input_sizes(shards: list[InputShard]) -> dict[str, tuple[int, int]] | None:
    """input -> (bytes of its files, number of files); None where a size is unknown (object stores)."""
    sizes: dict[str, list[int]] = {}
    for _, _, name, _, size, _ in input_listing(shards):
        if size is None:
            return None
        entry = sizes.setdefault(name, [0, 0])
        entry[0] += size
        entry[1] += 1
    return {name: (total, files) for name, (total, files) in sizes.items()}


class _FileBytes:
    """Weighs a reader's per-file ``(input, records)`` record as the average file size of that input."""

    def __init__(self, sizes: dict[str, tuple[int, int]] | None):
        self._sizes = sizes or {}

    def __call__(self, element: tuple[str, int]) -> tuple[int, int]:
        total, files = self._sizes.get(element[0], (0, 1))
        return 1, total // files


def build_phase(pipeline: beam.Pipeline, plan: CuratePlan, phase: Phase, previous: dict | None,
                progress: str | None = None) -> None:
    """One phase's job: its source (the inputs, or the previous phase's files with this phase's
    verdicts applied), its per-document steps, its files and its ``phase.json``. ``progress``: the
    directory its progress taps write to (``corpus.progress``), or None."""
    meter = ShuffleMeter()
    directory = phase_dir(plan.out, phase)
    last = phase.index == len(plan.phases) - 1
    parts: dict[str, Any] = {"read": [], "skipped": [], "input_bytes": []}
    rejected, step_stats, written = [], [], []
    row_group = plan.config.output.row_group_bytes
    if previous is None:
        read = pipeline | "Read" >> ReadDocuments(plan.shards, plan.config.read, meter)
        docs = read["docs"] | "ProgressRead" >> Tap(progress, TAP_READ)
        _ = read[READ] | "ProgressInput" >> Tap(progress, TAP_INPUT_BYTES, weigh=_FileBytes(_input_sizes(plan.shards)))
        _ = read[ERRORS] | "ProgressErrors" >> Tap(progress, TAP_READ, TAP_ERRORS)
        # Side outputs leave scrubbed (pii.side_output_text); the funnel counts what was read.
        written.append(read[ERRORS] | "Protect errors" >> ProtectSideOutputs(plan.config.pii)
                       | "WriteErrors" >> WritePhaseRows(directory, ERROR_ROWS, row_group))
        parts["errors"] = read[ERRORS]
        parts["read"] = [read[READ] | "SumRead" >> beam.CombinePerKey(sum)]
        parts["skipped"] = [read[SKIPPED] | "CountSkipped" >> beam.combiners.Count.PerElement()]
        parts["input_bytes"] = [docs | "TextBytes" >> beam.Map(lambda d: len(d.text.encode("utf-8")))]
    else:
        previous_dir = phase_dir(plan.out, plan.phases[phase.index - 1])
        previous_files = [WrittenFile(f["path"], f["rows"], [tuple(g) for g in f["row_groups"]])
                          for f in previous["files"]]
        by_shard = files_by_shard(previous_dir, previous_files)
        columns = sorted({"uid", *(c for s in phase.verdict_steps for c in s.columns)})
        records = pipeline | "ReadRecords" >> ReadColumns(
            [storage.join(previous_dir, f.path) for f in previous_files if f.path.startswith(DOCS + "/")],
            columns, meter)
        contexts = [VerdictContext(meter, ShardTable(plan.shards), by_shard, priority)
                    for priority in range(len(phase.verdict_steps))]
        verdicts = [step.verdicts(records, context) for step, context in zip(phase.verdict_steps, contexts)]
        applied = (verdicts | "AllVerdicts" >> beam.Flatten()) | "ApplyVerdicts" >> ApplyVerdicts(
            by_shard, meter, [step.rejected_text for step in phase.verdict_steps])
        docs = applied[KEPT] | "ProgressRead" >> Tap(progress, TAP_READ)
        rejected.append(("00-verdicts", applied[REJECTED] | "ProgressVerdicts" >> Tap(progress, TAP_READ, TAP_REJECTED)))
        for step, context in zip(phase.verdict_steps, contexts):
            stats = step.stats(applied[REJECTED], context)
            if stats is not None:
                step_stats.append(stats | f"Name {step.label} stats" >> beam.Map(lambda s, n=step.label: (n, s)))
    for position, step in enumerate(phase.doc_steps, start=1):
        result = docs | step.label >> step
        docs = result[KEPT]
        rejected.append((f"{position:02d}-{step.label}",
                         result[REJECTED] | f"Progress {step.label}" >> Tap(progress, TAP_REJECTED)))
        if STATS in result:
            step_stats.append(result[STATS] | f"Name {step.label} stats" >> beam.Map(lambda s, n=step.label: (n, s)))
    outcomes = []
    for source, rejections in rejected:
        written.append(rejections | f"Protect {source}" >> ProtectSideOutputs(plan.config.pii)
                       | f"WriteRejected {source}" >> WritePhaseRows(directory, REJECTED_ROWS, row_group, source))
        outcomes.append(rejections | f"RejectedOutcome {source}" >> beam.Map(_rejected_outcome))
    if previous is None:
        outcomes.append(parts["errors"] | "ErrorOutcome" >> beam.Map(_error_outcome, plan.inputs.kinds))
    docs = docs | "ProgressKept" >> Tap(progress, TAP_KEPT)
    if last:
        docs = docs | "FinalBucket" >> beam.Map(_with_final_bucket)
        outcomes.append(docs | "KeptOutcome" >> beam.Map(lambda d: ((d.input, d.bucket, KEPT_OUTCOME), (1, len(d.text)))))
        written.append(docs | "WriteKept" >> WritePhaseDocs(directory, by_bucket=True, row_group_bytes=row_group))
    else:
        following = plan.phases[phase.index + 1].verdict_steps
        written.append(docs | "WriteDocs" >> WritePhaseDocs(directory, _annotations(following), row_group_bytes=row_group))
    _write_phase_stats(pipeline, directory, {
        "outcomes": _flatten(pipeline, "Outcomes", outcomes)
        | "SumOutcomes" >> beam.CombinePerKey(beam.combiners.TupleCombineFn(sum, sum)),
        "read": _flatten(pipeline, "Read", parts["read"]),
        "skipped": _flatten(pipeline, "Skipped", parts["skipped"]),
        "step_stats": _flatten(pipeline, "StepStats", step_stats),
        "files": written | "AllWritten" >> beam.Flatten() | "FileRecord" >> beam.Map(dataclasses.asdict),
        "input_bytes": _flatten(pipeline, "InputBytes", parts["input_bytes"]) | "SumInputBytes" >> beam.CombineGlobally(sum),
        "shuffle_bytes": meter.totals(pipeline),
    })


def _annotations(steps: list):
    def annotate(doc: Document) -> dict:
        columns: dict = {}
        for step in steps:
            columns.update(step.annotate(doc))
        return columns
    return annotate


def _flatten(pipeline: beam.Pipeline, label: str, pcolls: list) -> beam.PCollection:
    if not pcolls:
        return pipeline | f"No{label}" >> beam.Create([])
    return pcolls | f"All{label}" >> beam.Flatten()


def _write_phase_stats(pipeline: beam.Pipeline, directory: str, parts: dict[str, beam.PCollection]) -> None:
    """One small JSON per phase, written after every file of the phase (they are a side input)."""
    singletons = {}
    for name, pcoll in parts.items():
        if name in ("input_bytes", "shuffle_bytes"):
            singletons[name] = beam.pvalue.AsSingleton(pcoll)
        else:
            singletons[name] = beam.pvalue.AsList(pcoll)
    _ = (pipeline
         | "PhaseStatsOnce" >> beam.Create([directory])
         | "WritePhaseStats" >> beam.Map(_write_phase_json, **singletons))


def _write_phase_json(directory: str, **parts: Any) -> None:
    body = {
        "outcomes": sorted([list(key), list(value)] for key, value in parts["outcomes"]),
        "read": sorted([k, v] for k, v in parts["read"]),
        "skipped": sorted([list(k), v] for k, v in parts["skipped"]),
        "step_stats": sorted([n, s] for n, s in parts["step_stats"]),
        "files": sorted(parts["files"], key=lambda f: f["path"]),
        "input_bytes": parts["input_bytes"],
        "shuffle_bytes": dict(sorted(parts["shuffle_bytes"].items())),
    }
    with storage.create_atomic(storage.join(directory, PHASE_STATS)) as sink:
        sink.write(json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")


def _outputs(plan: CuratePlan, results: list[dict]) -> list[tuple[str, list[tuple[str, WrittenFile]], Any]]:
    """(output directory, its source files in order, schema) for every published output."""
    def files(index: int, prefix: str) -> list[tuple[str, WrittenFile]]:
        directory = phase_dir(plan.out, plan.phases[index])
        chosen = [WrittenFile(f["path"], f["rows"], [tuple(g) for g in f["row_groups"]])
                  for f in results[index]["files"] if f["path"].startswith(prefix + "/")]
        return [(storage.join(directory, f.path), f) for f in sorted(chosen, key=lambda f: f.path)]

    last = len(plan.phases) - 1
    outputs = [(storage.join(plan.out, "curated", bucket), files(last, f"kept/{bucket}"), CURATED_SCHEMA)
               for bucket in BUCKETS]
    rejected = [source for i in range(len(plan.phases)) for source in files(i, REJECTED_ROWS)]
    outputs.append((storage.join(plan.out, "rejected"), rejected, REJECTED_SCHEMA))
    outputs.append((storage.join(plan.out, "errors"), files(0, ERROR_ROWS), ERRORS_SCHEMA))
    return outputs


def _report_inputs(pipeline: beam.Pipeline, plan: CuratePlan, results: list[dict],
                   meter: ShuffleMeter) -> tuple[beam.PCollection, beam.PCollection]:
    """The kept documents and the rejections, streamed from the phase files, for the report's
    bounded samples and histograms (``transforms/report_samples.py``)."""
    outputs = _outputs(plan, results)
    kept = [path for _, sources, schema in outputs if schema is CURATED_SCHEMA for path, _ in sources]
    rejected = [path for directory, sources, _ in outputs if directory.endswith("rejected") for path, _ in sources]
    kept_docs = (pipeline
                 | "ReportKept" >> ReadColumns(kept, ["id", "text", "bucket", "lang", "knowledge"], meter, 256)
                 | "KeptDocument" >> beam.Map(lambda r: Document(r["id"], r["text"], "", bucket=r["bucket"],
                                                                 lang=r["lang"], knowledge=r["knowledge"])))
    rejections = (pipeline
                  | "ReportRejected" >> ReadColumns(rejected, ["id", "text", "bucket", "reason", "detail", "chars"],
                                                    meter, 256)
                  | "Rejection" >> beam.Map(_rejection_of_row))
    return kept_docs, rejections


def _rejection_of_row(row: dict) -> Rejection:
    """A rejected row as the report sees it: a null text is one ``rejected/`` did not store."""
    doc = Document(row["id"], row["text"] or "", "", bucket=row["bucket"])
    return Rejection(doc, row["reason"], row["detail"], keep_text=row["text"] is not None, chars=row["chars"])


def publish(plan: CuratePlan, results: list[dict], beam_args: list[str]) -> dict:
    """Cuts and writes the part files, then stats.json, then the curate marker."""
    clear_outputs(plan.out)
    target = plan.config.output.target_shard_bytes
    parts = [part for directory, sources, schema in _outputs(plan, results)
             for part in plan_parts(directory, sources, schema, target)]
    meter = ShuffleMeter()
    with new_pipeline(PipelineOptions(beam_args)) as pipeline:
        _ = pipeline | "Publish" >> WriteParts(parts, meter)
        _ = _report_inputs(pipeline, plan, results, meter) | "ReportSamples" >> ReportSamples(plan.out, SampleScrub(
            kept=PII_STEP not in plan.step_order, rejected=plan.config.pii.side_output_text == "raw"))
    files_per_dir: dict[str, int] = {}
    for part in parts:
        name = storage.relative(storage.split(part.destination)[0], plan.out)
        files_per_dir[name] = files_per_dir.get(name, 0) + 1
    shuffle = {phase.dirname: result["shuffle_bytes"] for phase, result in zip(plan.phases, results)}
    total = sum(sum(by_label.values()) for by_label in shuffle.values())
    input_bytes = results[0]["input_bytes"] or 0
    settings = {"config": to_dict(plan.config), "step_order": plan.step_order,
                "listing_skips": plan.inputs.skipped, "kinds": plan.inputs.kinds, "out": plan.out}
    extra = {"phases": [p.dirname for p in plan.phases],
             "shuffle": {"bytes_per_phase": shuffle, "total_bytes": total, "input_text_bytes": input_bytes,
                         "bytes_per_input_byte": round(total / input_bytes, 6) if input_bytes else 0.0}}
    outcomes = [(tuple(key), tuple(value)) for result in results for key, value in result["outcomes"]]
    step_stats = [(name, stats) for result in results for name, stats in result["step_stats"]]
    stats = write_stats(settings, outcomes, [tuple(r) for r in results[0]["read"]],
                        [(tuple(k), v) for k, v in results[0]["skipped"]], step_stats,
                        sorted(files_per_dir.items()), extra=extra)
    write_marker(plan.out, CURATE_STEP, {"fingerprint": plan.publish_fingerprint,
                                         "parquet_files": dict(sorted(files_per_dir.items())),
                                         "kept": stats["totals"]["kept"]})
    return stats


def clear_outputs(out: str) -> None:
    """Delete the published outputs of a previous run (and nothing else under OUT)."""
    for part in OUTPUT_PARTS:
        storage.remove(storage.join(out, part))


def _with_final_bucket(doc: Document) -> Document:
    """Every kept document lands in a bucket: with langid disabled a text document without a
    given ``lang`` goes to multilingual (it is not known to be Korean)."""
    if doc.bucket in BUCKETS:
        return doc
    return dataclasses.replace(doc, bucket=CODE if doc.kind == CODE_KIND else MULTILINGUAL)


def _rejected_outcome(rejection: Rejection) -> tuple:
    doc = rejection.doc
    return (doc.input, doc.bucket or UNDETERMINED, rejection.reason), (1, rejection.chars)


def _error_outcome(error: ReadError, kind_of_input: dict[str, str]) -> tuple:
    bucket = CODE if kind_of_input.get(error.input) == CODE_KIND else UNDETERMINED
    return (error.input, bucket, ERROR_OUTCOME), (error.records, 0)


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
                skipped: Iterable[tuple[tuple[str, str], int]], step_stats: Iterable[tuple[str, dict]],
                written: Iterable[tuple[str, int]] = (), extra: dict[str, Any] | None = None) -> dict:
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
        "steps": _one_dict_per_step(step_stats),
        "step_order": settings["step_order"],
        "outputs": {"parquet_files": dict(sorted(written))},
        "config": settings["config"],
        **(extra or {}),
    }


def _one_dict_per_step(step_stats: Iterable[tuple[str, dict]]) -> dict[str, dict]:
    """The step contract (transforms/curate_step.py) is exactly one stats dict per step; two would make
    stats.json depend on which one a runner delivered last."""
    merged: dict[str, dict] = {}
    for name, stats in step_stats:
        if name in merged:
            raise ValueError(f"step {name!r} emitted more than one stats dict (the contract is exactly one)")
        merged[name] = stats
    return merged


def write_stats(settings: dict[str, Any], outcomes: list, read_counts: list, skipped: list,
                step_stats: list, written: Iterable[tuple[str, int]] = (), extra: dict[str, Any] | None = None) -> dict:
    stats = build_stats(settings, outcomes, read_counts, skipped, step_stats, written, extra)
    with storage.create_atomic(storage.join(settings["out"], "stats.json")) as sink:
        sink.write(json.dumps(stats, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    if not stats["accounting"]["ok"]:
        raise AccountingError("accounting broken: " + "; ".join(stats["accounting"]["mismatches"]))
    return stats


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
