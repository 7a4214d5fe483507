#!/usr/bin/env python
"""The corpus build CLI: ``curate``, ``tokenizer``, ``build`` (and ``knowledge-train``).

    python beam_pipeline.py curate    --input GLOB [--input GLOB…] [--code-input GLOB…] [--config FILE] --output OUT
    python beam_pipeline.py tokenizer --curated OUT/curated --output OUT/tokenizer [--vocab-size N]
    python beam_pipeline.py build     --curated OUT/curated --tokenizer OUT/tokenizer --output OUT/corpus
                                      [--total-tokens N] [--config FILE]

Arguments this CLI does not know are Beam pipeline options and pass through unchanged
(``--runner``, ``--direct_num_workers``, ``--direct_running_mode=multi_processing``, ...).
The console shows one progress line per phase; Beam's own logging goes to ``OUTPUT/_logs/<command>.log``
unless ``--verbose`` (``corpus.progress``).
Each command's implementation lives in the module named below; this file wires them.

Every command checks its output writable before any work; ``tokenizer`` and ``build`` refuse a
curated directory whose curate did not finish (no ``OUT/_COMPLETE.json``, ``corpus.completion``)
unless ``--allow-incomplete-input``. A full disk, a permission or a missing path ends a command
with one line naming the path (``corpus.io_errors``), exit status 1.
"""
from __future__ import annotations

import argparse
import sys


def _add_curate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("curate", help="curate raw text and code into bucketed Parquet (Beam)")
    p.add_argument("--input", action="append", default=[], metavar="GLOB",
                   help="natural-language input (JSONL[.gz|.zst], Parquet, or a text tree); repeatable")
    p.add_argument("--code-input", action="append", default=[], metavar="GLOB",
                   help="source-code input (JSONL[.gz|.zst], Parquet, or a code tree); repeatable")
    p.add_argument("--config", default=None, metavar="FILE", help="curation config (YAML)")
    p.add_argument("--decontaminate", action="append", default=[], metavar="GLOB",
                   help="evaluation files (JSONL/Parquet/TSV/text); each file is an eval set whose overlapping "
                        "documents are removed (transforms/decontamination.py); repeatable")
    p.add_argument("--output", required=True, metavar="OUT")
    p.set_defaults(handler=_run_curate)


def _add_knowledge_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("knowledge-train", help="train the fastText knowledge classifier (transforms/knowledge_model.py)")
    p.add_argument("--positive", action="append", default=[], metavar="GLOB", help="files of positive examples")
    p.add_argument("--negative", action="append", default=[], metavar="GLOB", help="files of negative examples")
    p.add_argument("--labelled", action="append", default=[], metavar="GLOB",
                   help="JSONL/Parquet records with a `label` field (positive/negative, true/false, 1/0)")
    p.add_argument("--input", action="append", default=[], metavar="GLOB",
                   help="records labelled by source with the config's knowledge.weak_labels")
    p.add_argument("--config", default=None, metavar="FILE", help="curation config (knowledge.train, knowledge.weak_labels)")
    p.add_argument("--output", required=True, metavar="MODEL.bin")
    p.set_defaults(handler=_run_knowledge_train)


def _run_knowledge_train(args: argparse.Namespace, beam_args: list[str]) -> int:
    from corpus.config import load
    from transforms.config import CurateConfig
    from transforms.knowledge_model import ExampleFiles, collect_examples, train_classifier

    if beam_args:
        raise SystemExit(f"knowledge-train: unknown arguments {beam_args}")
    from corpus.storage import split
    from corpus.writable import require_writable

    require_writable(split(args.output)[0] or ".")
    files = ExampleFiles(args.positive, args.negative, args.labelled, args.input)
    if not (files.positive or files.negative or files.labelled or files.weakly_labelled):
        raise SystemExit("knowledge-train: give --positive/--negative, --labelled or --input files")
    try:
        config = load(CurateConfig, args.config).knowledge
        metrics = train_classifier(collect_examples(files, config.weak_labels), config.train, args.output)
    except ValueError as exc:  # ConfigError, RecordFileError, KnowledgeModelError: messages name the cause
        raise SystemExit(f"knowledge-train: {exc}") from exc
    print(f"knowledge model {args.output}: {metrics.summary()}")
    return 0


def curate_steps(config: "CurateConfig") -> list:
    """The curate steps, in order (DESIGN.md data flow). Each is a PTransform
    PCollection[Document] -> {"kept", "rejected"[, "stats"]} (transforms/curate_step.py)."""
    from transforms.decontamination import DecontaminationStep
    from transforms.exact_dedup import exact_dedup_step
    from transforms.fineweb_quality import fineweb_quality_step
    from transforms.knowledge import KnowledgeStep
    from transforms.langid import langid_step
    from transforms.length import length_step
    from transforms.minhash import MinHashDedup
    from transforms.normalize import normalize_step
    from transforms.pii import PiiStep
    from transforms.quality import quality_step
    from transforms.repetition import repetition_step

    steps = [
        normalize_step(config.normalize) if config.normalize.enabled else None,
        langid_step(config.langid) if config.langid.enabled else None,
        length_step(config.length) if config.length.enabled else None,
        repetition_step(config.repetition) if config.repetition.enabled else None,
        fineweb_quality_step(config.fineweb_quality) if config.fineweb_quality.enabled else None,
        quality_step(config.quality) if config.quality.enabled else None,
        exact_dedup_step(config.exact_dedup) if config.exact_dedup.enabled else None,
        MinHashDedup(config.minhash) if config.minhash.enabled else None,
        DecontaminationStep(config.decontamination) if config.decontamination.eval_sets else None,
        PiiStep(config.pii) if config.pii.enabled else None,
        KnowledgeStep(config.knowledge),
    ]
    return [step for step in steps if step is not None]  # a disabled step is None


def _run_curate(args: argparse.Namespace, beam_args: list[str]) -> int:
    from corpus.config import load
    from transforms.config import CurateConfig
    from transforms.curate import run_curate
    from transforms.decontamination import with_cli_eval_sets

    try:  # config, eval-set and model errors stop here, before any data is read
        config = load(CurateConfig, args.config)
        config.decontamination = with_cli_eval_sets(config.decontamination, args.decontaminate)
        steps = curate_steps(config)
    except ValueError as exc:  # ConfigError, RecordFileError, KnowledgeModelError: messages name the cause
        raise SystemExit(f"curate: {exc}") from exc
    return run_curate(args, beam_args, config, steps)


def _add_tokenizer(sub: argparse._SubParsersAction) -> None:
    from corpus.tokenizer.cli import add_arguments

    p = sub.add_parser("tokenizer", help="train the morpheme-aware byte-level BPE on a 1:1:1 sample of curated text")
    add_arguments(p)
    p.set_defaults(handler=_run_tokenizer)


def _run_tokenizer(args: argparse.Namespace, beam_args: list[str]) -> int:
    from corpus.tokenizer.cli import run

    if beam_args:
        raise SystemExit(f"tokenizer: unknown arguments {beam_args} (this step is not a Beam pipeline)")
    return run(args)


def _add_build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="tokenize, balance (1:1:1 by default), split into context phases, FIM, pack into Arrow shards (Beam)")
    p.add_argument("--curated", required=True, metavar="OUT/curated", help="curate's <bucket>/*.parquet")
    p.add_argument("--tokenizer", required=True, metavar="OUT/tokenizer")
    p.add_argument("--output", required=True, metavar="OUT/corpus")
    p.add_argument("--total-tokens", type=int, default=None, metavar="N",
                   help="target tokens, split by balance.ratios (default: the most reachable within each bucket's epoch limit)")
    p.add_argument("--config", default=None, metavar="FILE", help="build config (YAML, mixtures/build.py BuildConfig)")
    p.add_argument("--allow-incomplete-input", action="store_true",
                   help="build from a curated directory whose curate run did not finish (no completion marker)")
    p.set_defaults(handler=_run_build)


def _run_build(args: argparse.Namespace, beam_args: list[str]) -> int:
    from corpus.completion import IncompleteInputError, require_complete
    from corpus.config import load
    from corpus.storage import exists, join
    from corpus.tokenizer.cli import curate_output
    from corpus.writable import require_writable
    from mixtures.build import BuildConfig, run_build, summary_lines

    try:
        config = load(BuildConfig, args.config)
        require_complete(curate_output(args.curated), "curate", args.allow_incomplete_input)
        if not exists(join(args.tokenizer, "tokenizer.json")):
            raise SystemExit(f"build: error: {args.tokenizer}: no tokenizer.json there (train one with "
                             f"`beam_pipeline.py tokenizer --curated ... --output {args.tokenizer}`)")
        require_writable(args.output)
        manifest = run_build(args.curated, args.tokenizer, args.output, args.total_tokens, config, beam_args)
    except IncompleteInputError:
        raise  # main() names the override flag
    except ValueError as exc:  # ConfigError, BalanceError, CuratedInputError, ManifestError: messages name the cause
        raise SystemExit(f"build: {exc}") from exc
    print("\n".join(summary_lines(manifest)))
    return 0


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="curate -> tokenizer -> build (-> train) in one resumable command")
    p.add_argument("--config", required=True, metavar="FILE", help="run config (YAML, corpus/steps.py RunConfig)")
    p.add_argument("--output", required=True, metavar="OUT")
    p.add_argument("--force", action="store_true", help="redo every step even if up to date")
    p.set_defaults(handler=_run_run)


def _run_run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pathlib import Path

    from corpus.steps import run

    if beam_args:
        raise SystemExit(f"run: unknown arguments {beam_args} (put Beam options in the run config's beam_args)")
    def step_cli(argv: list[str]) -> int:
        return main([*argv, "--verbose"] if args.verbose else argv)

    return run(args.config, Path(args.output), args.force, step_cli)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beam_pipeline.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_curate(sub)
    _add_knowledge_train(sub)
    _add_tokenizer(sub)
    _add_build(sub)
    _add_run(sub)
    for command in sub.choices.values():
        command.add_argument("--verbose", action="store_true",
                             help="show Beam's own logging on the console (default: OUTPUT/_logs/<command>.log)")
    args, beam_args = parser.parse_known_args(argv)
    if args.command in ("curate", "build"):
        from corpus import allocator

        allocator.apply()  # before Beam starts threads and worker processes
    from corpus import io_errors
    from corpus.progress import configure_logging

    configure_logging(args.command, getattr(args, "output", None), args.verbose)
    from corpus.completion import IncompleteInputError
    from corpus.locks import LockedError

    try:
        with io_errors.reported(args.command, getattr(args, "output", None)):
            return args.handler(args, beam_args)
    except IncompleteInputError as exc:  # one line naming the directory
        raise SystemExit(f"{args.command}: error: {exc} [--allow-incomplete-input]") from exc
    except LockedError as exc:
        raise SystemExit(f"{args.command}: error: {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())
