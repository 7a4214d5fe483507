"""``beam_pipeline.py run``: curate → tokenizer → build (→ a few training steps) as resumable steps.

Each step is the same CLI command a user would type (so ``run`` adds no second code path). A step is
skipped when its output exists and its fingerprint matches: the sha256 of the step's command line,
the contents of the config files it reads, the fingerprints of its input files, and the fingerprint
of the step before it. A step that crashed wrote no marker and is redone (resuming where the command itself can, as the
trainer does from its checkpoints); a step whose inputs changed starts from an empty output;
``--force`` redoes all.

Input files are fingerprinted by (path, size, mtime_ns) rather than by content: hashing a multi-TB
input on every run would cost more than the run it saves. Touching a file therefore re-runs the steps
after it, which errs on the safe side.

OUT is checked writable before any step and locked for the whole run (``corpus.locks``): a second
``run`` on the same OUT stops at once, naming the first one's PID. Steps run as processes (the
trainer, the export) die with ``run`` (``corpus.child_process``): a rerun after a kill never finds
a live child in the run directory.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from corpus import globs
from corpus.child_process import run_child
from corpus.config import load
from corpus.locks import directory_lock
from corpus.tokenizer.training import DEFAULT_VOCAB_SIZE
from corpus.writable import require_writable

MARKER_DIR = ".steps"


@dataclass
class KnowledgeTrainStep:
    """Optional: train the knowledge classifier before curate (labelled by source, see README)."""

    enabled: bool = False
    input: list[str] = field(default_factory=list)
    config: str | None = None
    output: str = "knowledge/text.bin"  # relative to OUT; the curate config must point at it


@dataclass
class CurateStep:
    input: list[str] = field(default_factory=list)
    code_input: list[str] = field(default_factory=list)
    config: str | None = None
    decontaminate: list[str] = field(default_factory=list)


@dataclass
class TokenizerStep:
    vocab_size: int = DEFAULT_VOCAB_SIZE  # the tokenizer CLI's default


@dataclass
class BuildStep:
    config: str | None = None
    total_tokens: int | None = None


@dataclass
class TrainStep:
    """Optional: a short training run on the built corpus (the demo's proof that it trains)."""

    enabled: bool = False
    preset: str = "tiny"
    max_steps: int = 4
    device: str = "cpu"
    config: str | None = None
    export: bool = True  # then trainer.export to OUT/hf


@dataclass
class RunConfig:
    """The whole run. Paths are relative to the directory ``run`` is started in."""

    knowledge: KnowledgeTrainStep = field(default_factory=KnowledgeTrainStep)
    curate: CurateStep = field(default_factory=CurateStep)
    tokenizer: TokenizerStep = field(default_factory=TokenizerStep)
    build: BuildStep = field(default_factory=BuildStep)
    train: TrainStep = field(default_factory=TrainStep)
    beam_args: list[str] = field(default_factory=list)  # passed to curate and build


@dataclass
class Step:
    name: str
    argv: list[str]  # a beam_pipeline.py command, or a full command when ``module`` is set
    config_files: list[str]
    input_globs: list[str]
    output: Path
    module: str | None = None  # run as ``python -m module argv`` in a subprocess


def plan(config: RunConfig, out: Path) -> list[Step]:
    """The steps of a run, in order, with the exact commands they will execute."""
    curated, tokenizer, corpus = out / "curated", out / "tokenizer", out / "corpus"
    c = config.curate
    curate_argv = ["curate", "--output", str(out)]
    curate_argv += [a for g in c.input for a in ("--input", g)]
    curate_argv += [a for g in c.code_input for a in ("--code-input", g)]
    curate_argv += [a for g in c.decontaminate for a in ("--decontaminate", g)]
    curate_argv += ["--config", c.config] if c.config else []
    build_argv = ["build", "--curated", str(curated), "--tokenizer", str(tokenizer), "--output", str(corpus)]
    build_argv += ["--config", config.build.config] if config.build.config else []
    if config.build.total_tokens is not None:
        build_argv += ["--total-tokens", str(config.build.total_tokens)]
    steps = []
    k = config.knowledge
    if k.enabled:
        knowledge_argv = ["knowledge-train", "--output", str(out / k.output)]
        knowledge_argv += [a for g in k.input for a in ("--input", g)]
        knowledge_argv += ["--config", k.config] if k.config else []
        steps.append(Step("knowledge", knowledge_argv, [k.config] if k.config else [], k.input, out / k.output))
    steps += [
        Step("curate", curate_argv + config.beam_args, [c.config] if c.config else [],
             c.input + c.code_input + c.decontaminate, curated),
        Step("tokenizer", ["tokenizer", "--curated", str(curated), "--output", str(tokenizer),
                           "--vocab-size", str(config.tokenizer.vocab_size)], [], [], tokenizer),
        Step("build", build_argv + config.beam_args, [config.build.config] if config.build.config else [],
             [], corpus),
    ]
    if config.train.enabled:
        t = config.train
        train_argv = ["--corpus", str(corpus), "--preset", t.preset, "--out", str(out / "run"),
                      "--max-steps", str(t.max_steps), "--device", t.device]
        train_argv += ["--config", t.config] if t.config else []
        steps.append(Step("train", train_argv, [t.config] if t.config else [], [], out / "run",
                          module="trainer.train"))
        if t.export:
            steps.append(Step("export", [str(out / "run"), str(out / "hf")], [], [], out / "hf",
                              module="trainer.export"))
    return steps


def _input_fingerprints(patterns: list[str]) -> list[tuple[str, int, int]]:
    found = []
    for pattern in patterns:
        for path in globs.expand(pattern).paths:  # never into a symlink loop
            for file in sorted(Path(path).rglob("*")) if os.path.isdir(path) else [Path(path)]:
                if file.is_file():
                    st = file.stat()
                    found.append((str(file), st.st_size, st.st_mtime_ns))
    return found


def fingerprint(step: Step, previous: str) -> str:
    payload = {
        "argv": step.argv,
        "module": step.module,
        "configs": {f: Path(f).read_text(encoding="utf-8") for f in step.config_files},
        "inputs": _input_fingerprints(step.input_globs),
        "previous": previous,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _marker(out: Path, step: Step) -> Path:
    return out / MARKER_DIR / f"{step.name}.json"


def recorded_fingerprint(out: Path, step: Step) -> str | None:
    """The fingerprint of the step's last successful run, or None (never run, crashed, torn marker)."""
    try:
        return json.loads(_marker(out, step).read_text())["fingerprint"]
    except (OSError, ValueError, KeyError):
        return None


def clear_stale_output(step: Step) -> None:
    """A step whose inputs changed starts from scratch: the trainer, for one, refuses to resume a
    checkpoint of another corpus. A step that crashed (no marker) keeps its output and resumes."""
    if step.output.is_dir():
        shutil.rmtree(step.output)
    elif step.output.exists():
        step.output.unlink()


def execute(step: Step, cli: Callable[[list[str]], int]) -> None:
    if step.module is None:
        rc = cli(step.argv)
    else:
        rc = run_child(step.module, step.argv)
    if rc:
        raise SystemExit(f"run: step {step.name} failed with exit code {rc}")


def run(config_file: str, out: Path, force: bool, cli: Callable[[list[str]], int]) -> int:
    """Run every step that is not up to date; ``cli`` is beam_pipeline.main."""
    config = load(RunConfig, config_file)
    steps = plan(config, out)
    require_writable(out)
    with directory_lock(out, "beam_pipeline.py run"):
        _run_steps(steps, out, force, cli)
        from corpus.report import make_report  # matplotlib: only once the steps are done

        print(f"report: {make_report(out)}", flush=True)
    return 0


def _run_steps(steps: list[Step], out: Path, force: bool, cli: Callable[[list[str]], int]) -> None:
    previous = ""
    for number, step in enumerate(steps, 1):
        digest = fingerprint(step, previous)
        label = f"[{number}/{len(steps)}] {step.name}"
        recorded = recorded_fingerprint(out, step)
        if not force and recorded == digest and step.output.exists():
            print(f"{label}: up to date, skipped ({_marker(out, step)})", flush=True)
        else:
            print(f"{label}: running", flush=True)
            if recorded is not None:
                clear_stale_output(step)
            _marker(out, step).unlink(missing_ok=True)
            started = time.monotonic()
            execute(step, cli)
            marker = _marker(out, step)
            marker.parent.mkdir(parents=True, exist_ok=True)
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(json.dumps({"fingerprint": digest, "argv": step.argv}, indent=1))
            tmp.replace(marker)
            print(f"{label}: done in {time.monotonic() - started:.1f}s", flush=True)
        previous = digest
