#!/usr/bin/env python
"""Throughput of read → exact dedup → Parquet: our Beam transforms vs datatrove, same documents,
2 workers each.

Input: the text documents of ../shared/data repeated ``--repeat`` times with distinct ids (the
copies are exact duplicates), in 4 JSONL shards (``curate_vs_datatrove.write_inputs``).

Ours: ``corpus.readers.ReadDocuments`` → ``UniqueIds`` → ``normalize`` → ``ExactDedup`` →
``WriteParquetShards`` (4 shards) on Beam's DirectRunner (multi_processing, 2 workers).
datatrove: its three-step exact dedup (``ExactDedupSignature`` → ``ExactFindDedups`` →
``ExactDedupFilter``) on ``LocalPipelineExecutor`` (tasks=4, workers=2), hashing our
``normalize_text`` of each document (so both sides find the same duplicates), then
``ParquetWriter``; it reads with the same stdlib-json step as curate_vs_datatrove.py (its
JsonlReader needs orjson, not installed). Ours does more per document: strict UTF-8/record
checks, the unique-id shuffle, and writes the normalized text. Wall time includes worker start-up.

    .venv/bin/python benchmarks/exact_dedup_vs_datatrove.py [--repeat N]
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
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from corpus.parquet import CURATED_SCHEMA, WriteParquetShards, curated_row
    from corpus.readers import ReadDocuments, ReaderConfig, UniqueIds, resolve_inputs
    from transforms.exact_dedup import ExactDedup
    from transforms.normalize import NormalizeConfig, normalize_stage

    config = ReaderConfig()
    files = resolve_inputs([input_glob], [], config.skip).files
    options = PipelineOptions(runner="DirectRunner", direct_num_workers=2, direct_running_mode="multi_processing")
    start = time.perf_counter()
    with beam.Pipeline(options=options) as pipeline:
        docs = (pipeline | ReadDocuments(files, config))["docs"]
        docs = (docs | UniqueIds())["kept"]
        docs = (docs | normalize_stage(NormalizeConfig()))["kept"]
        docs = (docs | ExactDedup())["kept"]
        _ = docs | beam.Map(curated_row) | WriteParquetShards(str(out), CURATED_SCHEMA, SHARDS)
    seconds = time.perf_counter() - start
    return seconds, pq.read_table(out).num_rows


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="copies of the sample text documents")
    args = parser.parse_args()
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="dedup_bench_") as tmp:
        tmp_path = Path(tmp)
        n_docs = write_inputs(tmp_path / "input", args.repeat)
        print(f"documents: {n_docs} (ko + multi sample x{args.repeat}), 2 workers each")
        dt_seconds, dt_kept = run_datatrove(tmp_path / "input", tmp_path / "datatrove")
        print(f"datatrove exact dedup + ParquetWriter: {dt_seconds:7.1f} s  {n_docs / dt_seconds:8.1f} docs/s  "
              f"kept {dt_kept}")
        ours_seconds, ours_kept = run_ours(str(tmp_path / "input" / "*.jsonl"), tmp_path / "ours")
        print(f"korpus Beam DirectRunner:              {ours_seconds:7.1f} s  {n_docs / ours_seconds:8.1f} docs/s  "
              f"kept {ours_kept}")
        print(f"ratio ours/datatrove (docs/s): {dt_seconds / ours_seconds:.2f}")
        if ours_kept != dt_kept:
            print(f"note: kept counts differ by {ours_kept - dt_kept}: ours also rejects documents that normalize "
                  "to nothing (normalize:empty)")
    write_result(
        "exact_dedup_vs_datatrove",
        compares="read -> normalize -> exact dedup -> Parquet: our Beam transforms (DirectRunner, 2 workers) vs datatrove's "
        "exact-dedup stages + ParquetWriter (4 tasks, 2 workers), the sample's text documents repeated",
        headline={"ours/datatrove docs/s": dt_seconds / ours_seconds},
        figures={"documents": n_docs, "repeat": args.repeat,
                 "ours": {"wall_s": ours_seconds, "docs_per_s": n_docs / ours_seconds, "kept": ours_kept},
                 "datatrove": {"wall_s": dt_seconds, "docs_per_s": n_docs / dt_seconds, "kept": dt_kept},
                 "ratio_ours_over_datatrove_docs_per_s": dt_seconds / ours_seconds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
