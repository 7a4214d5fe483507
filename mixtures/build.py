"""``beam_pipeline.py build``: curated Parquet -> packed, balanced Arrow shards per context phase + manifest.

    ReadCurated -> Tokenize -> Balance -> AssignPhases -> per phase: ApplyFim -> PackPhase
                                                                     -> WriteManifest

Every step is a Beam transform (``mixtures/*.py``); global figures (tokens per bucket, length
histograms, row counts) come from combiners and reach the per-document steps as side inputs. The
output directory's phase folders and manifest belong to the build: a rebuild replaces them. With a
local OUT, token ids travel through the pipeline as references into spill files under
``OUT/.build-work``, so shuffles move references, not tokens; with OUT on an object store they
travel inline, through the runner's distributed shuffle (``mixtures/token_store.py``).

Curated input, tokenizer and output may be local paths or URLs of any Beam filesystem (``gs://``,
``s3://``, …): everything the workers read or write goes through ``corpus.storage`` (Beam's
``FileSystems`` for URLs, plain file I/O locally), so that the build can run on Dataflow with OUT
on GCS (tested only with an in-memory test filesystem, ``tests/mixtures/memfs.py``). The output
bytes do not depend on where OUT lies.

The knowledge upsampling mapping (score -> repeat weight) is not a build setting: it is the one
curate's knowledge step recorded in ``OUT/stats.json`` (``steps.knowledge.upsampling``), so that
the build repeats documents exactly as the curate report predicted. A curated input without that
record (no stats.json beside it, or none from the knowledge step) is built without upsampling
(every weight 1, with a warning), as is Parquet without a ``knowledge`` column; the manifest's
``balance.upsampling`` records the mapping used and its source.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from corpus.completion import clear_marker, write_marker
from corpus.config import ConfigError, from_dict, to_dict
from corpus.curate_stats import step_stats
from corpus.document import BUCKETS
from corpus.hashing import sha256_file
from corpus.manifest import MANIFEST_NAME, Manifest, PhaseManifest, TokenizerInfo, file_digests
from corpus.progress import KEPT as TAP_KEPT
from corpus.progress import READ as TAP_READ
from corpus.progress import REJECTED as TAP_REJECTED
from corpus.progress import Expected, PhaseProgress, Tap, run_pipeline
from corpus.storage import exists, is_url, join, open_read, remove, split
from corpus.upsampling import UpsamplingConfig
from mixtures.balance import Balance, BalanceConfig, DocCost, mixture_report
from mixtures.fim import SPECIAL_TOKENS, ApplyFim, FimConfig
from mixtures.context_phases import AssignPhases, ContextPhaseConfig
from mixtures.pack import PackConfig, PackPhase, sum_counts
from mixtures.tokenize import ReadCurated, Tokenize, load_tokenizer
from mixtures.weights import WEIGHT_ONE, cluster_table

_PHASE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
WORK_DIR = ".build-work"  # spill files of a local build (mixtures/token_store.py); deleted when it ends


@dataclass
class BuildConfig:
    """The build's settings. The knowledge upsampling mapping is not one of them: the build applies
    the one the curate run used (curate's ``knowledge.upsampling``, read from its stats.json)."""

    seed: int = 0
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    context_phases: ContextPhaseConfig = field(default_factory=ContextPhaseConfig)
    fim: FimConfig = field(default_factory=FimConfig)
    pack: PackConfig = field(default_factory=PackConfig)
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"stages": "context_phases"}

    def validate(self) -> None:
        """Range checks the type-strict loader cannot express; errors name the key."""
        checks = [
            (self.context_phases.phase1_seq_len > 0 and self.context_phases.phase2_seq_len > 0, "context_phases.*_seq_len: must be > 0"),
            (0.0 <= self.context_phases.phase2_fraction < 1.0, "context_phases.phase2_fraction: must be in [0, 1)"),
            (self.context_phases.phase1_name != self.context_phases.phase2_name
             and all(_PHASE_NAME.match(n) for n in (self.context_phases.phase1_name, self.context_phases.phase2_name)),
             "context_phases.*_name: must be distinct names of [A-Za-z0-9_.-]"),
            (set(self.fim.rate) <= set(BUCKETS), f"fim.rate: keys must be buckets {BUCKETS}"),
            (all(0.0 <= r <= 1.0 for r in self.fim.rate.values()), "fim.rate: rates must be in [0, 1]"),
            (0.0 <= self.fim.spm_fraction <= 1.0, "fim.spm_fraction: must be in [0, 1]"),
            (self.pack.group_tokens > 0 and self.pack.max_open_rows > 0 and self.pack.max_shard_bytes > 0,
             "pack.*: must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self.balance.validate()


def tokenizer_info(tokenizer_dir: str) -> TokenizerInfo:
    """Load the tokenizer once in the driver: fail before the pipeline if it is unusable."""
    tok = load_tokenizer(tokenizer_dir)
    missing = [t for t in SPECIAL_TOKENS if t not in tok.special_tokens or tok.special_tokens[t] is None]
    if missing:
        raise ValueError(f"{tokenizer_dir}: tokenizer lacks special token(s) {missing}")
    return TokenizerInfo(path=tokenizer_dir, sha256=sha256_file(join(tokenizer_dir, "tokenizer.json")),
                         vocab_size=tok.vocab_size, special_tokens=dict(tok.special_tokens),
                         files=file_digests(tokenizer_dir))


def _software() -> dict[str, str]:
    versions = {}
    for package in ("korpus", "apache-beam", "pyarrow", "tokenizers", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def _stats_path(curated_dir: str) -> str:
    return join(split(curated_dir)[0], "stats.json")  # curate writes OUT/stats.json beside OUT/curated


def _input_stats(curated_dir: str) -> dict[str, Any] | None:
    """curate's stats.json, recorded as provenance and read for the upsampling mapping."""
    path = _stats_path(curated_dir)
    if not exists(path):
        return None
    with open_read(path) as fh:
        return json.loads(fh.read().decode("utf-8"))


NO_UPSAMPLING = UpsamplingConfig(max_repeat=1.0)  # every score maps to weight 1
_RECORDED_AT = "steps.knowledge.upsampling"


def curated_upsampling(stats: dict[str, Any] | None, stats_path: str | Path) -> tuple[UpsamplingConfig, str]:
    """The score -> weight mapping curate's knowledge step used, and where it came from (see the
    module docstring). Without a record there is nothing to say which mapping the scores were meant
    for, so no document is upsampled: the same reading as Parquet without a ``knowledge`` column."""
    recorded = step_stats(stats).get("knowledge", {}).get("upsampling")
    if recorded is None:
        reason = "no curate stats.json" if stats is None else f"stats.json has no {_RECORDED_AT}"
        logging.warning("build: %s (%s): building without knowledge upsampling (every weight 1)", reason, stats_path)
        return NO_UPSAMPLING, f"none: {reason}"
    try:
        config = from_dict(UpsamplingConfig, recorded, _RECORDED_AT)
        config.validate()
    except ConfigError as exc:
        raise ConfigError(f"{stats_path}: {exc}") from exc
    return config, f"curate stats.json: {_RECORDED_AT}"


def _shares(tokens: dict[str, int]) -> dict[str, float]:
    total = sum(tokens.values())
    return {b: (tokens[b] / total if total else 0.0) for b in BUCKETS}


def balance_report(mixture: dict[str, dict[str, Any]], phases: list[PhaseManifest], upsampling: dict[str, Any],
                   config: BalanceConfig) -> dict[str, Any]:
    """Planned vs achieved: per bucket the mixture report (``balance.mixture_report``: configured
    share, plan, copies per document, source groups), the tokens in the shards and the achieved
    shares; ``upsampling`` is the knowledge mapping applied, with its source."""
    achieved = {b: sum(s.tokens_per_bucket[b] for s in phases) for b in BUCKETS}
    total = sum(achieved.values())
    shares = _shares(achieved)
    return {
        "total_tokens": total,
        "upsampling": upsampling,
        "max_doc_copies": config.max_doc_copies,
        "cluster_weights": {str(size): weight for size, weight in sorted(cluster_table(config.cluster_weights).items())},
        "buckets": {b: {**mixture[b], "tokens": achieved[b], "share": shares[b]} for b in BUCKETS},
        "phases": {s.name: {"share_of_total": (sum(s.tokens_per_bucket.values()) / total if total else 0.0),
                            "bucket_shares": _shares(s.tokens_per_bucket)} for s in phases},
    }


class _ManifestWriter:
    """Assembles and saves manifest.json from the pipeline's singleton summaries."""

    def __init__(self, output_dir: str, tokenizer: TokenizerInfo, config: BuildConfig, upsampling: dict[str, Any],
                 provenance: dict[str, Any]):
        self.output_dir, self.tokenizer, self.config = output_dir, tokenizer, config
        self.upsampling, self.provenance = upsampling, provenance

    def __call__(self, _: None, balance_plan: dict, copy_counts: dict, phase_plan: dict, phase1: dict, phase2: dict,
                 skipped: dict) -> None:
        phases = []
        planned = {b: {k: v for k, v in phase_plan[b].items() if k != "rules"} for b in BUCKETS}
        for summary, extra in ((phase1, {}), (phase2, {"phase2_plan": planned})):
            stats = {**summary["stats"], **extra}
            phases.append(PhaseManifest(summary["name"], summary["seq_len"], summary["files"],
                                        summary["tokens_per_bucket"], summary["fim"], stats))
        provenance = {**self.provenance, "skipped_documents": dict(sorted(skipped.items()))}
        mixture = mixture_report(balance_plan, copy_counts, self.config.balance)
        manifest = Manifest(self.tokenizer, phases, balance_report(mixture, phases, self.upsampling, self.config.balance),
                            to_dict(self.config), provenance)
        manifest.save(self.output_dir)


def _clear_previous_build(output_dir: str, config: BuildConfig) -> None:
    """Remove what an earlier build wrote here (its phase folders, work dir and manifest), nothing else."""
    for name in (config.context_phases.phase1_name, config.context_phases.phase2_name, WORK_DIR, MANIFEST_NAME):
        remove(join(output_dir, name))


def _location(path: str | Path) -> str:
    """A path as the pipeline carries it: a URL without a trailing ``/`` (``Path`` would fold its
    ``//``), a local path normalized as ``Path`` writes it."""
    return str(path).rstrip("/") if is_url(path) else str(Path(path))


def build_pipeline(p: beam.Pipeline, curated_dir: str, tokenizer_dir: str, output_dir: str,
                   total_tokens: int | None, config: BuildConfig, upsampling: UpsamplingConfig,
                   writer: _ManifestWriter, progress: str | None = None) -> None:
    """The build's graph; ``progress``: the directory its progress taps write to (``corpus.progress``)."""
    seed = config.seed
    fim_buckets = [b for b in BUCKETS if config.fim.rate.get(b, 0.0) > 0.0]
    store = None if is_url(output_dir) else join(output_dir, WORK_DIR)  # see mixtures/token_store.py
    tokenized = (p
                 | "ReadCurated" >> ReadCurated(curated_dir)
                 | "ProgressRead" >> Tap(progress, TAP_READ)
                 | "Tokenize" >> Tokenize(tokenizer_dir, fim_buckets, store))
    _ = tokenized["docs"] | "ProgressKept" >> Tap(progress, TAP_KEPT)
    _ = tokenized["skipped"] | "ProgressSkipped" >> Tap(progress, TAP_REJECTED)
    costs = DocCost(config.fim.rate, config.context_phases.phase1_seq_len)
    balanced = tokenized["docs"] | "Balance" >> Balance(config.balance, upsampling, total_tokens, seed, costs)
    by_phase = balanced["copies"] | "AssignPhases" >> AssignPhases(config.context_phases, seed)
    special = {name: writer.tokenizer.special_tokens[name] for name in SPECIAL_TOKENS}
    summaries = []
    for key, name, seq_len in (("phase1", config.context_phases.phase1_name, config.context_phases.phase1_seq_len),
                               ("phase2", config.context_phases.phase2_name, config.context_phases.phase2_seq_len)):
        units = by_phase[key] | f"Fim[{name}]" >> ApplyFim(config.fim, tokenizer_dir, store, name, seq_len, seed)
        summaries.append(units | f"Pack[{name}]" >> PackPhase(name, seq_len, config.pack, seed, output_dir, store,
                                                              special))
    skipped = (tokenized["skipped"]
               | "SkipReason" >> beam.Map(lambda item: {item[1]: 1})
               | "CountSkipped" >> beam.CombineGlobally(sum_counts))
    side = beam.pvalue.AsSingleton
    _ = (p
         | "ManifestTrigger" >> beam.Create([None])
         | "WriteManifest" >> beam.Map(writer, side(balanced["plan"]), side(balanced["counts"]), side(by_phase["plan"]),
                                       side(summaries[0]), side(summaries[1]), side(skipped)))


def run_build(curated_dir: str | Path, tokenizer_dir: str | Path, output_dir: str | Path,
              total_tokens: int | None, config: BuildConfig, beam_args: list[str]) -> Manifest:
    """Build the corpus; returns the saved manifest (already verified against the files)."""
    config.validate()
    if total_tokens is not None and total_tokens < len(BUCKETS):
        raise ConfigError(f"--total-tokens: must be >= {len(BUCKETS)}, got {total_tokens}")
    curated_dir, tokenizer_dir, output_dir = _location(curated_dir), _location(tokenizer_dir), _location(output_dir)
    tokenizer = tokenizer_info(tokenizer_dir)
    stats = _input_stats(curated_dir)
    upsampling, source = curated_upsampling(stats, _stats_path(curated_dir))
    provenance = {"software": _software(), "input_stats": stats}
    clear_marker(output_dir)  # first: a build that fails from here leaves no complete-looking OUT/corpus
    _clear_previous_build(output_dir, config)
    writer = _ManifestWriter(output_dir, tokenizer, config, {**to_dict(upsampling), "source": source}, provenance)
    try:
        options = PipelineOptions(beam_args)
        curated_docs = (stats or {}).get("totals", {}).get("kept")
        with PhaseProgress("build", options, Expected(documents=curated_docs)) as progress:
            run_pipeline(options, lambda p: build_pipeline(p, curated_dir, tokenizer_dir, output_dir, total_tokens,
                                                           config, upsampling, writer, progress.directory), progress)
    finally:
        remove(join(output_dir, WORK_DIR))
    manifest = Manifest.load(output_dir)
    manifest.verify()
    write_marker(output_dir, "build", {"total_tokens": manifest.balance["total_tokens"],
                                       "phases": {s.name: {"rows": s.rows, "files": len(s.files)} for s in manifest.phases}})
    return manifest


def summary_lines(manifest: Manifest) -> list[str]:
    """What the CLI prints: shares per bucket (achieved and configured), copies per document, source
    weights, per phase rows, tokens and shares per bucket, FIM counts, packing figures and skipped
    documents (all from the manifest)."""
    balance = manifest.balance
    buckets = balance["buckets"]
    lines = [f"corpus: {balance['total_tokens']:,} tokens; bucket shares "
             + ", ".join(f"{b} {buckets[b]['share']:.4f} (target {buckets[b]['target_share']:.4f}, "
                         f"{buckets[b]['epochs']:.2f} epochs)" for b in BUCKETS)]
    lines.append(f"copies per document (max_doc_copies {balance['max_doc_copies']}): "
                 + "; ".join(f"{b} " + " ".join(f"{n}x {docs:,}" for n, docs in buckets[b]["copies"].items())
                             + f" ({buckets[b]['docs_at_cap']:,} at the cap)" for b in BUCKETS))
    for b in BUCKETS:
        entry = buckets[b]
        if entry["copies_per_weight"] is None and entry["weighted_cost"] != entry["unique_tokens"] * WEIGHT_ONE:
            cap = balance["max_doc_copies"]
            lines.append(f"{b}: at {cap} epochs every document has exactly {cap} copies (balance.max_doc_copies), so its "
                         f"knowledge, source and cluster weights change nothing; lower --total-tokens, balance.ratios.{b} "
                         f"or balance.max_epochs (balance.bucket_max_epochs.{b}) to leave them room")
        for source in entry["sources"]:
            if source["rule"] is not None:
                lines.append(f"{b} {source['rule']} {source['pattern']!r} x{source['weight']}: {source['docs']:,} docs, "
                             f"share of the bucket {source['share']:.4f} (planned {source['target_share']:.4f})")
    upsampling = balance["upsampling"]
    lines.append(f"knowledge upsampling: threshold {upsampling['threshold']}, max_repeat {upsampling['max_repeat']} "
                 f"({upsampling['source']})")
    for phase in manifest.phases:
        info = balance["phases"][phase.name]
        lines.append(
            f"{phase.name}: seq_len {phase.seq_len}, {phase.rows:,} rows in {len(phase.files)} files, "
            f"{info['share_of_total']:.4f} of tokens; shares "
            + ", ".join(f"{b} {info['bucket_shares'][b]:.4f}" for b in BUCKETS)
            + "; FIM segments " + ", ".join(f"{mode} {n:,}" for mode, n in phase.fim.items()))
        packing = phase.stats["packing"]
        lines.append(
            f"{phase.name} packing: padding {packing['padding_fraction']:.4%} ({packing['padding_tokens']:,} tokens); "
            f"documents split {packing['documents_split']:,} of {packing['documents']:,} (longer than a row, "
            f"{packing['pieces_of_split_documents']:,} pieces); FIM segments split {packing['fim_segments_split']:,} "
            f"of {packing['fim_segments']:,}; kept plain for lack of room {packing['fim_without_room']:,}")
    skipped = manifest.provenance.get("skipped_documents") or {}
    if skipped:
        lines.append("skipped documents: " + ", ".join(f"{reason} {n:,}" for reason, n in skipped.items()))
    return lines
