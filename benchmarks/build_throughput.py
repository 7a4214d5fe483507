#!/usr/bin/env python
"""Throughput and peak memory of ``beam_pipeline.py build`` at two input sizes (N and 2N).

Input: unique documents recombined from the shared sample data by ``benchmarks.scaled_input.generate``
(the k-th document takes a sample document's paragraph count and draws each paragraph at random
from all paragraphs of its language; ko -> korean, multi -> multilingual, code -> code), at
``--repeat`` and ``2 * --repeat`` times the sample's document count, so the second input holds
twice the documents and about twice the tokens, and no document is served from a tokenizer cache
because it was seen before (the sample repeated verbatim measured about 4x faster). Written as
curated Parquet (curate's columns the build reads). The build runs as its own process with the
default config (1:1:1, 4,096 / 32,768, FIM 0.5 on code), on Beam's DirectRunner in two modes:
``in_memory`` (one process) and ``multi_processing`` with ``--workers`` processes.

Reported per size: input tokens (documents as read), output tokens (document tokens in the
shards; the rows' padding is reported apart, per context phase, with the documents split and FIM segments
split that best-fit packing records in the manifest), wall time, CPU seconds of the whole process
tree, tokens per CPU-second (= per core), and the peak RSS of the whole process tree (sum over the
build process and all its descendants; both sampled every 0.1 s from /proc, so CPU of a process's
last 0.1 s is missed). The peer, measured in the same run: the same tokenizer's bare
``encode_batch`` over exactly the texts of the size-N input, in tokens per CPU-second, i.e.
tokenization alone; the ratio says what the rest of the build (balance, context phases, FIM
re-tokenization, packing, two shuffles, writing) costs on top. Wall times depend on what else the
machine runs; CPU seconds are the stable figure. The figures are also written to
``benchmarks/results/build_throughput.json`` (``benchmarks.record``: date, machine, command).

    .venv/bin/python benchmarks/build_throughput.py [--repeat 2] [--tokenizer DIR] [--workers 2]
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"

from benchmarks.process_tree import tree_cpu, tree_rss  # noqa: E402
from benchmarks.record import write_result  # noqa: E402

BUCKETS = {"ko": "korean", "multi": "multilingual", "code": "code"}  # generated file prefix -> bucket


def generate_curated(folder: Path, scale: int, work: Path) -> dict[str, list[str]]:
    """``scale`` x the sample as unique recombined documents (``benchmarks.scaled_input.generate``), written
    as curated Parquet, one file per generated JSONL file; returns the texts per bucket."""
    from benchmarks.scaled_input import generate

    generated = work / f"generated_x{scale}"
    generate(scale, generated, file_mb=8.0)
    texts: dict[str, list[str]] = {bucket: [] for bucket in BUCKETS.values()}
    for path in sorted(generated.glob("*/*.jsonl.gz")):
        bucket = BUCKETS[path.name.split("-", 1)[0]]
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh]
        (folder / bucket).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({
            "id": [r["id"] for r in records],
            "text": [r["text"] for r in records],
            "bucket": [bucket] * len(records),
            "knowledge": [0.0] * len(records),
        }), folder / bucket / f"{path.name.split('.')[0]}.parquet")
        texts[bucket] += [r["text"] for r in records]
    shutil.rmtree(generated)
    return texts


def run_build(curated: Path, tokenizer: Path, output: Path, mode: str, workers: int) -> dict[str, float]:
    command = [sys.executable, str(ROOT / "beam_pipeline.py"), "build", "--curated", str(curated),
               "--tokenizer", str(tokenizer), "--output", str(output), f"--direct_running_mode={mode}",
               "--allow-incomplete-input"]  # the curated input is written here, not by a curate run
    command += [f"--direct_num_workers={workers}"] if mode != "in_memory" else []
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    cpu: dict[int, float] = {}  # last CPU seconds seen per process of the tree
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(process.pid))
            cpu.update(tree_cpu(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    log, _ = process.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"build failed ({process.returncode}):\n{log[-3000:]}")
    manifest = json.loads((output / "manifest.json").read_text())
    buckets = manifest["balance"]["buckets"]
    return {
        "input_tokens": sum(b["unique_tokens"] for b in buckets.values()),
        "output_tokens": manifest["balance"]["total_tokens"],
        "wall_s": wall,
        "cpu_s": sum(cpu.values()),
        "peak_rss_mb": peak / 2**20,
        "packing": {phase["name"]: phase["stats"]["packing"] for phase in manifest["phases"]},
        "summary": [line for line in log.strip().splitlines() if line.startswith(("corpus:", "phase"))],
    }


def tokenize_only(tokenizer: Path, texts: list[str]) -> float:
    """The peer: tokens per CPU-second of bare ``encode_batch`` (``num_workers=1``) over exactly the
    texts of the size-N input."""
    from corpus.tokenizer import load

    tok = load(tokenizer)
    start = time.process_time()
    tokens = sum(len(ids) for ids in tok.encode_batch(texts, num_workers=1))
    return tokens / (time.process_time() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2,
                        help="the smaller input's size in sample document counts (unique recombined documents)")
    parser.add_argument("--tokenizer", type=Path, default=None, help="a saved tokenizer (default: train one, vocab 8192)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="build_bench_") as tmp:
        work = Path(tmp)
        sizes = (args.repeat, 2 * args.repeat)
        texts = {repeat: generate_curated(work / f"curated_x{repeat}", repeat, work) for repeat in sizes}
        tokenizer = args.tokenizer
        if tokenizer is None:
            from corpus.tokenizer import train

            tokenizer = work / "tokenizer"
            train([t for bucket_texts in texts[sizes[0]].values() for t in bucket_texts[:300]],
                  vocab_size=8192).save(tokenizer)
        peer = tokenize_only(tokenizer, [t for bucket_texts in texts[sizes[0]].values() for t in bucket_texts])
        print(f"peer: bare tokenization (encode_batch) of the size-x{sizes[0]} texts: {peer:,.0f} tokens per CPU-second")
        figures: dict[str, dict] = {"peer_tokens_per_cpu_s": peer}
        for mode in ("in_memory", "multi_processing"):
            results = {}
            for repeat in sizes:
                r = run_build(work / f"curated_x{repeat}", tokenizer, work / f"corpus_{mode}_x{repeat}", mode, args.workers)
                results[repeat] = r
                per_core = r["input_tokens"] / r["cpu_s"]
                print(f"{mode} input x{repeat}: {r['input_tokens']:,} input tokens -> {r['output_tokens']:,} output "
                      f"tokens; wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s; {per_core:,.0f} input tokens/s per "
                      f"core ({per_core / peer:.2f}x bare tokenization), {r['output_tokens'] / r['cpu_s']:,.0f} output "
                      f"tokens/s per core; peak RSS (process tree) {r['peak_rss_mb']:,.0f} MB")
                for line in r["summary"]:
                    print(f"    {line}")
            small, large = results[sizes[0]], results[sizes[1]]
            print(f"{mode}, input x2: peak RSS x{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}, "
                  f"CPU time x{large['cpu_s'] / small['cpu_s']:.2f}, "
                  f"output tokens x{large['output_tokens'] / small['output_tokens']:.2f}")
            figures[mode] = {f"x{repeat}": {k: v for k, v in r.items() if k != "summary"} for repeat, r in results.items()}
            for repeat, r in results.items():
                figures[mode][f"x{repeat}"]["input_tokens_per_cpu_s"] = r["input_tokens"] / r["cpu_s"]
                figures[mode][f"x{repeat}"]["ratio_to_bare_tokenization"] = r["input_tokens"] / r["cpu_s"] / peer
    write_result("build_throughput", figures,
                 compares="the build (tokenize, balance, context phases, FIM, pack, shards) of unique documents "
                          "recombined from the sample at two sizes, on one process and on 2 worker processes, beside bare tokenization of the "
                          "same texts in the same run: input tokens per CPU-second, peak RSS, packing",
                 headline={"bare tokenization tokens/CPU-s": peer,
                           **{f"{mode} x{sizes[1]} tokens/CPU-s": figures[mode][f"x{sizes[1]}"]["input_tokens_per_cpu_s"]
                              for mode in ("in_memory", "multi_processing")},
                           **{f"{mode} x{sizes[1]} / bare": figures[mode][f"x{sizes[1]}"]["ratio_to_bare_tokenization"]
                              for mode in ("in_memory", "multi_processing")}})
    return 0



if __name__ == "__main__":
    sys.exit(main())
