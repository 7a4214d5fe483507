"""``beam_pipeline.py build``: curated Parquet -> packed, balanced, staged Arrow shards + manifest.

    ReadCurated -> Tokenize -> Balance -> AssignStages -> per stage: ApplyFim -> PackStage
                                                                     -> WriteManifest

Every step is a Beam transform (``mixtures/*.py``); global figures (tokens per bucket, length
histograms, row counts) come from combiners and reach the per-document steps as side inputs. The
output directory's stage folders and manifest belong to the build: a rebuild replaces them. With a
local OUT, token ids travel through the pipeline as references into spill files under
``OUT/.build-work``, so shuffles move references, not tokens; with OUT on an object store they
travel inline, through the runner's distributed shuffle (``mixtures/token_store.py``).

Curated input, tokenizer and output may be local paths or URLs of any Beam filesystem (``gs://``,
``s3://``, …): everything the workers read or write goes through ``corpus.storage`` (Beam's
``FileSystems`` for URLs, plain file I/O locally), so that the build can run on Dataflow with OUT
on GCS (tested only with an in-memory test filesystem, ``tests/mixtures/memfs.py``). The output
bytes do not depend on where OUT lies.

The knowledge upsampling mapping (score -> repeat weight) is not a build setting: it is the one
curate's knowledge stage recorded in ``OUT/stats.json`` (``stages.knowledge.upsampling``), so that
the build repeats documents exactly as the curate report predicted. A curated input without that
record (no stats.json beside it, or none from the knowledge stage) is built without upsampling
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
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from corpus.completion import clear_marker, write_marker
from corpus.config import ConfigError, from_dict, to_dict
from corpus.document import BUCKETS
from corpus.manifest import MANIFEST_NAME, Manifest, StageManifest, TokenizerInfo, file_digests
from corpus.shards import sha256_file
from corpus.storage import exists, is_url, join, open_read, remove, split
from mixtures.balance import Balance, BalanceConfig, DocCost, mixture_report
from mixtures.fim import EOT, SPECIAL_TOKENS, ApplyFim, ContextFim, FimConfig
from mixtures.pack import PackConfig, PackStage, sum_counts
from mixtures.staging import AssignStages, StageConfig
from mixtures.tokenize import ReadCurated, Tokenize, load_tokenizer
from mixtures.weights import WEIGHT_ONE, cluster_table
from transforms.knowledge import UpsamplingConfig

_STAGE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
WORK_DIR = ".build-work"  # spill files of a local build (mixtures/token_store.py); deleted when it ends


@dataclass
class BuildConfig:
    """The build's settings. The knowledge upsampling mapping is not one of them: the build applies
    the one the curate run used (curate's ``knowledge.upsampling``, read from its stats.json)."""

    seed: int = 0
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    stages: StageConfig = field(default_factory=StageConfig)
    fim: FimConfig = field(default_factory=FimConfig)
    pack: PackConfig = field(default_factory=PackConfig)

    def validate(self) -> None:
        """Range checks the type-strict loader cannot express; errors name the key."""
        checks = [
            (self.stages.stage1_seq_len > 0 and self.stages.stage2_seq_len > 0, "stages.*_seq_len: must be > 0"),
            (0.0 <= self.stages.stage2_fraction < 1.0, "stages.stage2_fraction: must be in [0, 1)"),
            (self.stages.stage1_name != self.stages.stage2_name
             and all(_STAGE_NAME.match(n) for n in (self.stages.stage1_name, self.stages.stage2_name)),
             "stages.*_name: must be distinct names of [A-Za-z0-9_.-]"),
            (set(self.fim.rate) <= set(BUCKETS), f"fim.rate: keys must be buckets {BUCKETS}"),
            (all(0.0 <= r <= 1.0 for r in self.fim.rate.values()), "fim.rate: rates must be in [0, 1]"),
            (0.0 <= self.fim.spm_fraction <= 1.0, "fim.spm_fraction: must be in [0, 1]"),
            (self.pack.group_tokens > 0 and self.pack.max_shard_bytes > 0, "pack.*: must be > 0"),
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
_RECORDED_AT = "stages.knowledge.upsampling"


def curated_upsampling(stats: dict[str, Any] | None, stats_path: str | Path) -> tuple[UpsamplingConfig, str]:
    """The score -> weight mapping curate's knowledge stage used, and where it came from (see the
    module docstring). Without a record there is nothing to say which mapping the scores were meant
    for, so no document is upsampled: the same reading as Parquet without a ``knowledge`` column."""
    recorded = (stats or {}).get("stages", {}).get("knowledge", {}).get("upsampling")
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


def balance_report(mixture: dict[str, dict[str, Any]], stages: list[StageManifest], upsampling: dict[str, Any],
                   config: BalanceConfig) -> dict[str, Any]:
    """Planned vs achieved: per bucket the mixture report (``balance.mixture_report``: configured
    share, plan, copies per document, source groups), the tokens in the shards and the achieved
    shares; ``upsampling`` is the knowledge mapping applied, with its source."""
    achieved = {b: sum(s.tokens_per_bucket[b] for s in stages) for b in BUCKETS}
    total = sum(achieved.values())
    shares = _shares(achieved)
    return {
        "total_tokens": total,
        "upsampling": upsampling,
        "max_doc_copies": config.max_doc_copies,
        "cluster_weights": {str(size): weight for size, weight in sorted(cluster_table(config.cluster_weights).items())},
        "buckets": {b: {**mixture[b], "tokens": achieved[b], "share": shares[b]} for b in BUCKETS},
        "stages": {s.name: {"share_of_total": (sum(s.tokens_per_bucket.values()) / total if total else 0.0),
                            "bucket_shares": _shares(s.tokens_per_bucket)} for s in stages},
    }


class _ManifestWriter:
    """Assembles and saves manifest.json from the pipeline's singleton summaries."""

    def __init__(self, output_dir: str, tokenizer: TokenizerInfo, config: BuildConfig, upsampling: dict[str, Any],
                 provenance: dict[str, Any]):
        self.output_dir, self.tokenizer, self.config = output_dir, tokenizer, config
        self.upsampling, self.provenance = upsampling, provenance

    def __call__(self, _: None, balance_plan: dict, copy_counts: dict, stage_plan: dict, stage1: dict, stage2: dict,
                 skipped: dict) -> None:
        stages = []
        planned = {b: {k: v for k, v in stage_plan[b].items() if k != "rules"} for b in BUCKETS}
        for summary, extra in ((stage1, {}), (stage2, {"stage2_plan": planned})):
            stats = {**summary["stats"], **extra}
            stages.append(StageManifest(summary["name"], summary["seq_len"], summary["files"],
                                        summary["tokens_per_bucket"], summary["fim"], stats))
        provenance = {**self.provenance, "skipped_documents": dict(sorted(skipped.items()))}
        mixture = mixture_report(balance_plan, copy_counts, self.config.balance)
        manifest = Manifest(self.tokenizer, stages, balance_report(mixture, stages, self.upsampling, self.config.balance),
                            to_dict(self.config), provenance)
        manifest.save(self.output_dir)


def _clear_previous_build(output_dir: str, config: BuildConfig) -> None:
    """Remove what an earlier build wrote here (its stage folders, work dir and manifest), nothing else."""
    for name in (config.stages.stage1_name, config.stages.stage2_name, WORK_DIR, MANIFEST_NAME):
        remove(join(output_dir, name))


def _location(path: str | Path) -> str:
    """A path as the pipeline carries it: a URL without a trailing ``/`` (``Path`` would fold its
    ``//``), a local path normalized as ``Path`` writes it."""
    return str(path).rstrip("/") if is_url(path) else str(Path(path))


def build_pipeline(p: beam.Pipeline, curated_dir: str, tokenizer_dir: str, output_dir: str,
                   total_tokens: int | None, config: BuildConfig, upsampling: UpsamplingConfig,
                   writer: _ManifestWriter) -> None:
    seed = config.seed
    document_fim = config.fim.level == "document"
    fim_buckets = [b for b in BUCKETS if config.fim.rate.get(b, 0.0) > 0.0] if document_fim else []
    context_fim = None if document_fim else ContextFim(config.fim, tokenizer_dir, seed)
    store = None if is_url(output_dir) else join(output_dir, WORK_DIR)  # see mixtures/token_store.py
    tokenized = (p
                 | "ReadCurated" >> ReadCurated(curated_dir)
                 | "Tokenize" >> Tokenize(tokenizer_dir, fim_buckets, store))
    costs = DocCost(config.fim.rate if document_fim else {}, config.stages.stage1_seq_len)
    balanced = tokenized["docs"] | "Balance" >> Balance(config.balance, upsampling, total_tokens, seed, costs)
    staged = balanced["copies"] | "Stage" >> AssignStages(config.stages, seed)
    summaries = []
    for key, name, seq_len in (("stage1", config.stages.stage1_name, config.stages.stage1_seq_len),
                               ("stage2", config.stages.stage2_name, config.stages.stage2_seq_len)):
        units = staged[key] | f"Fim[{name}]" >> ApplyFim(config.fim, tokenizer_dir, store, name, seq_len, seed)
        summaries.append(units | f"Pack[{name}]" >> PackStage(name, seq_len, config.pack, seed, output_dir, store,
                                                              writer.tokenizer.special_tokens[EOT], context_fim))
    skipped = (tokenized["skipped"]
               | "SkipReason" >> beam.Map(lambda item: {item[1]: 1})
               | "CountSkipped" >> beam.CombineGlobally(sum_counts))
    side = beam.pvalue.AsSingleton
    _ = (p
         | "ManifestTrigger" >> beam.Create([None])
         | "WriteManifest" >> beam.Map(writer, side(balanced["plan"]), side(balanced["counts"]), side(staged["plan"]),
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
        with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
            build_pipeline(p, curated_dir, tokenizer_dir, output_dir, total_tokens, config, upsampling, writer)
    finally:
        remove(join(output_dir, WORK_DIR))
    manifest = Manifest.load(output_dir)
    manifest.verify()
    write_marker(output_dir, "build", {"total_tokens": manifest.balance["total_tokens"],
                                       "stages": {s.name: {"rows": s.rows, "files": len(s.files)} for s in manifest.stages}})
    return manifest


def summary_lines(manifest: Manifest) -> list[str]:
    """What the CLI prints: shares per bucket (achieved and configured), copies per document, source
    weights, per stage rows, tokens and shares per bucket, FIM counts (all from the manifest)."""
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
    for stage in manifest.stages:
        info = balance["stages"][stage.name]
        lines.append(
            f"{stage.name}: seq_len {stage.seq_len}, {stage.rows:,} rows in {len(stage.files)} files, "
            f"{info['share_of_total']:.4f} of tokens; shares "
            + ", ".join(f"{b} {info['bucket_shares'][b]:.4f}" for b in BUCKETS)
            + "; FIM segments " + ", ".join(f"{mode} {n:,}" for mode, n in stage.fim.items()))
    return lines
