#!/usr/bin/env python
"""The build's peak memory with korpus's glibc malloc settings (``corpus/allocator.py``) and with
glibc's defaults, at growing input sizes.

Input: unique documents recombined from the shared sample (``build_throughput.generate_curated``:
curated Parquet written directly, no curate run, so sizes beyond what curate gets through here in
a session are reachable) at ``--scales`` times the sample. One tokenizer (trained on the smallest
input) serves every size. Each size is built twice by ``beam_pipeline.py build`` (default config,
DirectRunner, 2 worker processes): as shipped (the CLI applies the settings to itself and its
workers) and with ``KORPUS_MALLOC_DEFAULTS=1`` (glibc's defaults: an arena per thread, a dynamic
mmap threshold). Reported per run: wall seconds and the peak PSS of the process tree, of the
launcher and of the largest worker (``benchmarks/process_tree.py``); per size the ratio settings /
defaults, and per variant each size's peak over the smallest's. Figures go to
``benchmarks/results/build_allocator.json``.

    .venv/bin/python benchmarks/build_allocator.py [--scales 1 8 32]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.build_throughput import generate_curated  # noqa: E402
from benchmarks.process_tree import run_measured  # noqa: E402
from benchmarks.record import write_result  # noqa: E402
from corpus.allocator import OPT_OUT, SETTINGS  # noqa: E402

VARIANTS = {"korpus": {}, "glibc_defaults": {OPT_OUT: "1"}}


def build(curated: Path, tokenizer: Path, output: Path, extra_env: dict[str, str]) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS and k != OPT_OUT}
    env.update(extra_env, PYTHONPATH=str(ROOT))
    command = [sys.executable, str(ROOT / "beam_pipeline.py"), "build", "--curated", str(curated),
               "--tokenizer", str(tokenizer), "--output", str(output), "--allow-incomplete-input",
               "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    run = run_measured(command, env=env)
    if run.returncode != 0:
        raise SystemExit(f"build failed ({run.returncode}):\n{run.output_tail}")
    shutil.rmtree(output)
    return {"seconds": round(run.seconds, 2), "peak_pss_mb": round(run.peak_pss_bytes / 1e6, 1),
            "peak_launcher_pss_mb": round(run.peak_root_pss_bytes / 1e6, 1),
            "peak_worker_pss_mb": round(run.peak_child_pss_bytes / 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    scales = sorted(args.scales)
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="build_allocator_") as tmp:
        work = Path(tmp)
        tokenizer = work / "tokenizer"
        for scale in scales:
            curated = work / f"curated_x{scale}"
            texts = generate_curated(curated, scale, work)
            if scale == scales[0]:
                from corpus.tokenizer import train

                train([t for bucket in texts.values() for t in bucket[:300]], vocab_size=8192).save(tokenizer)
            chars = sum(len(t) for bucket in texts.values() for t in bucket)
            del texts
            results[f"{scale}x"] = {"input_chars": chars}
            for variant, env in VARIANTS.items():
                r = build(curated, tokenizer, work / "corpus", env)
                results[f"{scale}x"][variant] = r
                print(f"{scale}x ({chars:,} chars) {variant:<15} {r['seconds']:7.1f} s  peak PSS {r['peak_pss_mb']:7.1f} MB "
                      f"(launcher {r['peak_launcher_pss_mb']:.0f}, largest worker {r['peak_worker_pss_mb']:.0f})", flush=True)
            shutil.rmtree(curated)
    checks = {}
    smallest = results[f"{scales[0]}x"]
    for name, result in results.items():
        checks[name] = {"settings_over_defaults": round(result["korpus"]["peak_pss_mb"] / result["glibc_defaults"]["peak_pss_mb"], 3),
                        **{f"{variant}_over_{scales[0]}x": round(result[variant]["peak_pss_mb"] / smallest[variant]["peak_pss_mb"], 3)
                           for variant in VARIANTS}}
        print(f"{name}: peak PSS with the settings / glibc defaults = {checks[name]['settings_over_defaults']:.2f}; over "
              f"{scales[0]}x: with the settings {checks[name][f'korpus_over_{scales[0]}x']:.2f}, "
              f"glibc defaults {checks[name][f'glibc_defaults_over_{scales[0]}x']:.2f}")
    largest = f"{scales[-1]}x"
    write_result("build_allocator", {"scales": results, "checks": checks, "settings": {k: v for k, (v, _) in SETTINGS.items()}},
                 compares="beam_pipeline.py build (DirectRunner, 2 workers) of unique recombined documents at "
                 f"{' '.join(f'{s}x' for s in scales)} the sample, with korpus's glibc malloc settings and with glibc's "
                 "defaults: peak PSS of the process tree",
                 headline={f"{largest} settings / defaults": checks[largest]["settings_over_defaults"],
                           f"{largest} / {scales[0]}x with the settings": checks[largest][f"korpus_over_{scales[0]}x"],
                           f"{largest} / {scales[0]}x with glibc defaults": checks[largest][f"glibc_defaults_over_{scales[0]}x"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
