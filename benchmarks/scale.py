#!/usr/bin/env python
"""curate → tokenizer → build at 1x, 2x, 4x and 8x the shared sample: wall seconds per MB, peak
memory of the whole process tree, and shuffle bytes per input byte, per step.

Input: ``benchmarks/scaled_input.py`` (unique recombined documents, JSONL.gz files of ``--file-mb``
MB of text each, every source in at least one file per worker, so that each worker reads every
language at every scale).

Each step runs as its own command (``beam_pipeline.py curate|tokenizer|build``, default configs,
DirectRunner with 2 worker processes); its peak PSS is summed over the launcher and every worker
process (``benchmarks/process_tree.py``), and beside it the peak of the command's own process (the
launcher: Beam's, which holds the DirectRunner's in-memory shuffle, or the tokenizer's BPE trainer)
and of its largest other process (a Beam SDK worker, or a pre-tokenizing one). Shuffle bytes come from curate's stats.json (the encoded
size of every record entering a GroupByKey/CoGroupByKey, counted by ``corpus.shuffle_meter``), in
total and per shuffle (those of at least 0.0005 bytes per input byte).
The tokenizer runs twice: with its default sample (below the 300M-character cap the sample is
all of the smallest bucket, so the BPE trainer's memory follows the input at these sizes, as it
does until the cap binds), and as ``tokenizer_fixed_sample`` with ``--sample-chars`` set to the
smallest scale's whole sample, so that every scale trains on equally much text, as every corpus
above the cap does: what that run's memory still does with the input is the sampler's.
Targets (issue 15): peak memory at the largest scale <= 1.3x the smallest for each step; s/MB at
the largest <= s/MB at the smallest; curate's shuffle bytes <= 0.25 per input byte. Figures go to
``benchmarks/results/scale.json``.

With ``--curate-peer``, datatrove's closest pipeline (``benchmarks/curate_end_to_end.py``) also runs
on the smallest and the largest scale's input, and that benchmark's result is written from this
run's curate figures.

``--steps curate`` (with ``--name``, so that ``scale.json`` keeps the full comparison) measures
curate alone at scales whose other steps would take too long here.

    .venv/bin/python benchmarks/scale.py [--scales 1 2 4 8] [--curate-peer] [--steps STEP...] [--name NAME]
        [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from process_tree import run_measured  # noqa: E402  (sibling module)
import curate_end_to_end  # noqa: E402  (sibling module)
from curate_end_to_end import BEAM_ARGS, WORKERS  # noqa: E402
from benchmarks.record import write_result  # noqa: E402
from scaled_input import generate  # noqa: E402  (sibling module)

STEPS = ("curate", "tokenizer", FIXED_SAMPLE := "tokenizer_fixed_sample", "build")


def run_steps(data: Path, out: Path, fixed_sample_chars: int | None,
              steps: tuple[str, ...] = STEPS) -> tuple[dict[str, dict], int | None]:
    """Figures per step, and the per-bucket sample of the ``tokenizer_fixed_sample`` run:
    ``fixed_sample_chars``, or where None the smallest bucket of this run's curated output (its
    whole 1:1:1 sample)."""
    python = sys.executable
    cli = str(ROOT / "beam_pipeline.py")
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def tokenizer(output: str, *extra: str) -> list[str]:
        return [python, cli, "tokenizer", "--curated", str(out / "curated"), "--output", str(out / output),
                "--vocab-size", "16384", "--workers", str(WORKERS), *extra]

    figures = {}
    for step in steps:
        if step == "curate":
            command = curate_end_to_end.curate_command(data, out)
        elif step == "tokenizer":
            command = tokenizer("tokenizer")
        elif step == FIXED_SAMPLE:
            fixed_sample_chars = fixed_sample_chars or smallest_bucket_chars(out)
            command = tokenizer("tokenizer-fixed-sample", "--sample-chars", str(fixed_sample_chars))
        else:
            command = [python, cli, "build", "--curated", str(out / "curated"), "--tokenizer", str(out / "tokenizer"),
                       "--output", str(out / "corpus"), *BEAM_ARGS]
        run = run_measured(command, env=env)
        if run.returncode != 0:
            raise SystemExit(f"{step} failed ({run.returncode}):\n{run.output_tail}")
        figures[step] = {"seconds": round(run.seconds, 2), "peak_pss_mb": round(run.peak_pss_bytes / 1e6, 1),
                         "peak_launcher_pss_mb": round(run.peak_root_pss_bytes / 1e6, 1),
                         "peak_worker_pss_mb": round(run.peak_child_pss_bytes / 1e6, 1)}
        print(f"    {step:<22} {run.seconds:8.1f} s  peak PSS {run.peak_pss_bytes / 1e6:8.1f} MB (launcher "
              f"{run.peak_root_pss_bytes / 1e6:.0f}, largest worker {run.peak_child_pss_bytes / 1e6:.0f})", flush=True)
    stats = _stats(out)
    figures["curate"]["shuffle_bytes_per_input_byte"] = stats["shuffle"]["bytes_per_input_byte"]
    figures["curate"]["shuffle_bytes"] = stats["shuffle"]["total_bytes"]
    # which shuffle grows: stats.json's encoded bytes per phase and label, as bytes per input byte
    input_bytes = stats["shuffle"]["input_text_bytes"] or 1
    figures["curate"]["shuffle_bytes_per_input_byte_by_label"] = {
        f"{phase} {label}": round(count / input_bytes, 6)
        for phase, labels in sorted(stats["shuffle"]["bytes_per_phase"].items())
        for label, count in sorted(labels.items()) if count / input_bytes >= 0.0005}
    figures["curate"]["kept"] = stats["totals"]["kept"]
    figures["curate"]["read"] = stats["totals"]["read"]
    return figures, fixed_sample_chars


def _stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text(encoding="utf-8"))


def smallest_bucket_chars(out: Path) -> int:
    """Characters of the smallest bucket curate kept: the tokenizer's default sample (all of it
    below the 300M-character cap) takes this much from each bucket."""
    return min(bucket["chars_kept"] for name, bucket in _stats(out)["buckets"].items() if name != "undetermined")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--file-mb", type=float, default=4.0, help="text MB per generated input file")
    parser.add_argument("--work", type=Path, default=None, help="keep inputs and outputs here")
    parser.add_argument("--curate-peer", action="store_true",
                        help="also run datatrove's curate pipeline at the smallest and largest scale")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS),
                        help="a subset of the steps (curate always runs: the others read its output; build "
                        "needs tokenizer)")
    parser.add_argument("--name", default="scale",
                        help="result file benchmarks/results/NAME.json (another name keeps scale.json's figures)")
    args = parser.parse_args()
    steps = tuple(step for step in STEPS if step in args.steps or step == "curate")
    if args.curate_peer and args.name != "scale":
        parser.error("--curate-peer writes curate_end_to_end.json, which belongs to the full comparison (--name scale)")
    if "build" in steps and "tokenizer" not in steps:
        parser.error("--steps build needs tokenizer (the build encodes with its tokenizer)")
    work = args.work or Path(tempfile.mkdtemp(prefix="scale_bench_"))
    results, peer_results = {}, {}
    fixed_sample_chars = None  # set by the smallest scale
    args.scales = sorted(args.scales)
    try:
        for scale in args.scales:
            data, out = work / f"input-{scale:g}x", work / f"out-{scale:g}x"
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
            text_bytes = generate(scale, data, args.file_mb, min_files=WORKERS)
            mb = text_bytes / 1e6
            print(f"{scale:g}x: {mb:.1f} MB of text", flush=True)
            figures_per_step, fixed_sample_chars = run_steps(data, out, fixed_sample_chars, steps)
            for figures in figures_per_step.values():
                figures["s_per_mb"] = round(figures["seconds"] / mb, 4)
            results[f"{scale:g}x"] = {"input_text_mb": round(mb, 2), "steps": figures_per_step}
            if args.curate_peer and scale in (min(args.scales), max(args.scales)):
                datatrove = curate_end_to_end.run_datatrove(data, work / f"datatrove-{scale:g}x")
                shutil.rmtree(work / f"datatrove-{scale:g}x", ignore_errors=True)
                ours = {k: figures_per_step["curate"][k] for k in ("seconds", "peak_pss_mb", "kept", "read")}
                peer_results[f"{scale:g}x"] = curate_end_to_end.compare(mb, datatrove, ours)
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(out, ignore_errors=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    small, large = results[f"{min(args.scales):g}x"], results[f"{max(args.scales):g}x"]
    print(f"\n{'step':<22} {'scale':>6} {'s/MB':>8} {'peak PSS MB':>12} {'launcher':>9} {'worker':>7}")
    for step in steps:
        for name, result in results.items():
            f = result["steps"][step]
            print(f"{step:<22} {name:>6} {f['s_per_mb']:8.3f} {f['peak_pss_mb']:12.1f} "
                  f"{f['peak_launcher_pss_mb']:9.0f} {f['peak_worker_pss_mb']:7.0f}")
    checks = {}
    for step in steps:
        a, b = small["steps"][step], large["steps"][step]
        ratios = {"memory_ratio": b["peak_pss_mb"] / a["peak_pss_mb"],
                  "launcher_memory_ratio": b["peak_launcher_pss_mb"] / a["peak_launcher_pss_mb"],
                  "worker_memory_ratio": b["peak_worker_pss_mb"] / a["peak_worker_pss_mb"],
                  "s_per_mb_ratio": b["s_per_mb"] / a["s_per_mb"]}
        checks[step] = {name: round(value, 3) for name, value in ratios.items()}
        # printed from the unrounded ratios: 1.1849 stored as 1.185 would print as 1.19
        print(f"{step}: peak memory {max(args.scales):g}x/{min(args.scales):g}x = {ratios['memory_ratio']:.2f} "
              f"(target <= 1.3; launcher {ratios['launcher_memory_ratio']:.2f}, largest worker "
              f"{ratios['worker_memory_ratio']:.2f}), s/MB ratio = {ratios['s_per_mb_ratio']:.2f} (target <= 1.0)")
    shuffle = large["steps"]["curate"]["shuffle_bytes_per_input_byte"]
    print(f"curate shuffle bytes per input byte at {max(args.scales):g}x: {shuffle:.4f} (target <= 0.25)")
    if FIXED_SAMPLE in steps:
        print(f"tokenizer_fixed_sample: every scale samples {fixed_sample_chars:,} characters per bucket "
              f"(the {min(args.scales):g}x run's whole sample)")
    write_result(args.name, {"scales": results, "checks": checks, "workers": WORKERS, "file_mb": args.file_mb,
                           "fixed_sample_chars_per_bucket": fixed_sample_chars},
                 compares=f"{', '.join(steps)} at {' '.join(f'{x:g}x' for x in args.scales)} the sample "
                 "(unique recombined documents): s/MB and peak PSS of the largest against the smallest scale",
                 headline={**{f"{step} peak memory ratio": c["memory_ratio"] for step, c in checks.items()},
                           **{f"{step} s/MB ratio": c["s_per_mb_ratio"] for step, c in checks.items()},
                           "curate shuffle bytes per input byte": shuffle})
    if peer_results:
        curate_end_to_end.record(peer_results, "fineweb2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
