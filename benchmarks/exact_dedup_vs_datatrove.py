#!/usr/bin/env python
"""Throughput of read → exact dedup → Parquet: our Beam transforms vs datatrove, same documents,
2 workers each.

Input: the text documents of ../shared/data repeated ``--repeat`` times with distinct ids (the
copies are exact duplicates), in 4 JSONL shards (``curate_vs_datatrove.write_inputs``).

Ours: curate itself (``transforms.curate.curate``) with only the normalize and exact-dedup steps:
phase 1 reads, normalizes and writes each shard with its text hash, phase 2 groups (hash, uid)
pairs, applies the verdicts by streaming each shard again, then the parts are published; Beam's
DirectRunner (multi_processing, 2 workers).
datatrove: its three-step exact dedup (``ExactDedupSignature`` → ``ExactFindDedups`` →
``ExactDedupFilter``) on ``LocalPipelineExecutor`` (tasks=4, workers=2), hashing our
``normalize_text`` of each document (so both sides find the same duplicates), then
``ParquetWriter``; it reads with the same stdlib-json step as curate_vs_datatrove.py (its
JsonlReader needs orjson, not installed). Ours does more per document: strict UTF-8/record
checks, the duplicate-source-id check, rejected rows with their text, stats.json and the phase
markers. Wall time includes worker start-up (three Beam jobs).

Both are measured at two sizes, ``--small-repeat`` and ``--repeat`` copies, in the same run, after
a discarded warm-up at the small size (the launching process's lazy imports would otherwise land
in the small measurement only). The two points split each wall time into a fixed cost (start-up,
job planning, the report's imports) and a cost per added copy; the copies are exact duplicates,
so that is the cost of one more duplicate (ours writes a rejected row for it, datatrove drops it),
and the figures say which of the two a ratio at one size is made of.
Figures go to ``benchmarks/results/exact_dedup_vs_datatrove.json``.

    .venv/bin/python benchmarks/exact_dedup_vs_datatrove.py [--repeat N] [--small-repeat M]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate_vs_datatrove import DatatroveJsonlShards, write_inputs  # noqa: E402  (sibling benchmark)
from benchmarks.record import write_result  # noqa: E402

SHARDS = 4


def run_ours(input_glob: str, out: Path) -> tuple[float, int]:
    """Wall seconds and documents written."""
    from corpus.readers import resolve_inputs
    from transforms.config import CurateConfig
    from transforms.curate import curate, make_plan
    from transforms.exact_dedup import ExactDedup
    from transforms.normalize import normalize_step

    config = CurateConfig()
    inputs = resolve_inputs([input_glob], [], config.read.skip)
    plan = make_plan(inputs, config, [normalize_step(config.normalize), ExactDedup(config.exact_dedup)], str(out))
    start = time.perf_counter()
    curate(plan, ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    seconds = time.perf_counter() - start
    return seconds, sum(pq.read_table(out / "curated" / b).num_rows for b in ("korean", "multilingual", "code"))


def normalized_content(doc) -> str:
    from transforms.normalize import normalize_text

    return normalize_text(doc.text)


def run_datatrove(input_folder: Path, work: Path) -> tuple[float, int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.exact_dedup import (ExactDedupConfig, ExactDedupFilter, ExactDedupSignature,
                                                      ExactFindDedups)
    from datatrove.pipeline.writers import ParquetWriter

    from datatrove.utils.hashing import HashConfig

    # sha1 (64-bit): datatrove's default xxhash needs the xxhash package, which is not installed.
    config = ExactDedupConfig(content_getter=normalized_content, hash_config=HashConfig(hash_fc="sha1", precision=64))
    steps = [
        LocalPipelineExecutor(pipeline=[DatatroveJsonlShards(input_folder),
                                        ExactDedupSignature(output_folder=str(work / "sigs"), config=config)],
                              tasks=SHARDS, workers=2, logging_dir=str(work / "logs1"), skip_completed=False),
        LocalPipelineExecutor(pipeline=[ExactFindDedups(data_folder=str(work / "sigs"),
                                                        output_folder=str(work / "dups"), config=config)],
                              tasks=1, workers=1, logging_dir=str(work / "logs2"), skip_completed=False),
        LocalPipelineExecutor(pipeline=[DatatroveJsonlShards(input_folder),
                                        ExactDedupFilter(data_folder=str(work / "dups"), config=config),
                                        ParquetWriter(str(work / "out"), compression="zstd")],
                              tasks=SHARDS, workers=2, logging_dir=str(work / "logs3"), skip_completed=False),
    ]
    start = time.perf_counter()
    for executor in steps:
        executor.run()
    seconds = time.perf_counter() - start
    return seconds, pq.read_table(work / "out").num_rows


def measure(folder: Path, repeat: int) -> dict:
    """Both sides on ``repeat`` copies of the sample: documents, seconds and documents kept."""
    documents = write_inputs(folder / "input", repeat)
    print(f"documents: {documents} (ko + multi sample x{repeat}), 2 workers each")
    dt_seconds, dt_kept = run_datatrove(folder / "input", folder / "datatrove")
    print(f"datatrove exact dedup + ParquetWriter: {dt_seconds:7.1f} s  {documents / dt_seconds:8.1f} docs/s  "
          f"kept {dt_kept}")
    ours_seconds, ours_kept = run_ours(str(folder / "input" / "*.jsonl"), folder / "ours")
    print(f"korpus Beam DirectRunner:              {ours_seconds:7.1f} s  {documents / ours_seconds:8.1f} docs/s  "
          f"kept {ours_kept}")
    if ours_kept != dt_kept:
        print(f"note: kept counts differ by {ours_kept - dt_kept}: ours also rejects documents that normalize "
              "to nothing (normalize:empty)")
    return {"documents": documents, "repeat": repeat,
            "datatrove": {"seconds": round(dt_seconds, 2), "kept": dt_kept},
            "ours": {"seconds": round(ours_seconds, 2), "kept": ours_kept},
            "ratio_docs_per_s": round(dt_seconds / ours_seconds, 3)}


def fixed_and_per_duplicate(small: dict, large: dict, side: str) -> dict:
    """The line through the two sizes: seconds at zero documents and milliseconds per added duplicate."""
    per_duplicate = (large[side]["seconds"] - small[side]["seconds"]) / (large["documents"] - small["documents"])
    return {"fixed_seconds": round(small[side]["seconds"] - per_duplicate * small["documents"], 2),
            "ms_per_added_duplicate": round(per_duplicate * 1000, 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="copies of the sample text documents")
    parser.add_argument("--small-repeat", type=int, default=1, help="copies at the smaller size")
    args = parser.parse_args()
    if not 0 < args.small_repeat < args.repeat:
        parser.error("need 0 < --small-repeat < --repeat")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="dedup_bench_") as tmp:
        print("warm-up (discarded):")
        measure(Path(tmp) / "warm-up", args.small_repeat)
        small = measure(Path(tmp) / "small", args.small_repeat)
        large = measure(Path(tmp) / "large", args.repeat)
    split = {side: fixed_and_per_duplicate(small, large, side) for side in ("datatrove", "ours")}
    per_duplicate_ratio = split["datatrove"]["ms_per_added_duplicate"] / split["ours"]["ms_per_added_duplicate"]
    print(f"ratio ours/datatrove (docs/s): {small['ratio_docs_per_s']:.2f} at {small['documents']} documents, "
          f"{large['ratio_docs_per_s']:.2f} at {large['documents']}")
    for side in ("datatrove", "ours"):
        print(f"{side:9s} fixed {split[side]['fixed_seconds']:6.1f} s + "
              f"{split[side]['ms_per_added_duplicate']:.3f} ms per added duplicate")
    print(f"ratio per added duplicate: {per_duplicate_ratio:.2f}")
    write_result("exact_dedup_vs_datatrove", {
        **large, "workers": 2, "small": small, "fixed_and_per_added_duplicate": split,
        "ratio_per_added_duplicate": round(per_duplicate_ratio, 3)},
        compares="curate (normalize + exact dedup, 3 Beam jobs) vs datatrove's 3-step exact dedup, 2 workers each",
        headline={f"ours/datatrove docs/s at {large['documents']} docs": large["ratio_docs_per_s"],
                  "ours/datatrove per added duplicate": round(per_duplicate_ratio, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
