#!/usr/bin/env python
"""Peak memory and time of the tokenizer's sample (``corpus/tokenizer/sample.py``) at 1x and 4x input.

Input: the shared sample data (ko -> korean, multi -> multilingual, code -> code) written as
curated Parquet, ``--repeat`` and ``4 * --repeat`` copies with changed ids (``<id>~<k>``, so each
copy ranks differently), one file per copy. The sample size is the same at both sizes
(``--chars-per-bucket``), so a memory that follows the input would show as a ratio above 1.

Each measurement is its own process (peak RSS from ``wait4``'s ``ru_maxrss``): the sampler, which
builds the sample and streams every sampled text once, as the tokenizer command does; and the
peer, a bare streaming read of the same ``id`` and ``text`` columns with pyarrow (batches of the
same size, characters counted by ``utf8_length``), i.e. the I/O and decoding floor of any one-pass
sampler. Printed per size: input MB (UTF-8 of the text column), wall s, s/MB and peak RSS of both,
then the 4x/1x ratios; also written to ``benchmarks/results/tokenizer_sample.json``.

    .venv/bin/python benchmarks/tokenizer_sample.py [--repeat 3] [--chars-per-bucket 2000000]
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SAMPLES = {"korean": "ko", "multilingual": "multi", "code": "code"}
ROW_GROUP_ROWS = 1024  # curate writes row groups of bounded size; a whole-file row group would be read at once

SAMPLER = """
import json, sys
from corpus.tokenizer.sample import BalancedSample
with BalancedSample(sys.argv[1], chars_per_bucket=int(sys.argv[2])) as sample:
    chars = sum(len(t) for t in sample.texts())
    print(json.dumps({"sampled_chars": chars, "docs": {b: s.docs for b, s in sample.buckets.items()}}))
"""
PEER = """
import json, sys
from pathlib import Path
import pyarrow.compute as pc, pyarrow.parquet as pq
chars = 0
for path in sorted(Path(sys.argv[1]).glob("*/*.parquet")):
    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096, columns=["id", "text"]):
        chars += pc.sum(pc.utf8_length(batch.column("text"))).as_py() or 0
print(json.dumps({"read_chars": chars}))
"""


def write_curated(folder: Path, repeat: int) -> int:
    """Curated Parquet of ``repeat`` copies of the sample; returns the UTF-8 bytes of its text."""
    total = 0
    for bucket, name in SAMPLES.items():
        with gzip.open(SHARED_DATA / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh]
        (folder / bucket).mkdir(parents=True, exist_ok=True)
        for k in range(repeat):
            table = pa.table({"id": [f"{r['id']}~{k}" for r in records], "text": [r["text"] for r in records]})
            pq.write_table(table, folder / bucket / f"part-{k:05d}.parquet", row_group_size=ROW_GROUP_ROWS)
        total += repeat * sum(len(r["text"].encode("utf-8")) for r in records)
    return total


def measure(script: str, *args: str) -> dict:
    """Wall seconds, peak RSS (MB) and printed JSON of ``script`` run as its own process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    out, err = process.stdout.read(), process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"measurement failed:\n{err[-3000:]}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, **json.loads(out)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="copies of the sample at 1x (default 3)")
    parser.add_argument("--chars-per-bucket", type=int, default=2_000_000)
    args = parser.parse_args()
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, repeat in (("1x", args.repeat), ("4x", 4 * args.repeat)):
            curated = Path(tmp) / label
            mb = write_curated(curated, repeat) / 1e6
            sampler = measure(SAMPLER, str(curated), str(args.chars_per_bucket))
            peer = measure(PEER, str(curated))
            figures[label] = {"input_mb": mb, "sampler": sampler, "peer_read": peer}
            print(f"{label}: input {mb:8.1f} MB | sampler {sampler['wall_s']:6.2f} s "
                  f"{sampler['wall_s'] / mb * 1e3:6.2f} ms/MB peak {sampler['peak_rss_mb']:6.1f} MB "
                  f"(sampled {sampler['sampled_chars']:,} chars) | peer read {peer['wall_s']:6.2f} s "
                  f"{peer['wall_s'] / mb * 1e3:6.2f} ms/MB peak {peer['peak_rss_mb']:6.1f} MB")
    small, large = figures["1x"], figures["4x"]
    ratios = {
        "sampler_peak_4x_over_1x": large["sampler"]["peak_rss_mb"] / small["sampler"]["peak_rss_mb"],
        "peer_peak_4x_over_1x": large["peer_read"]["peak_rss_mb"] / small["peer_read"]["peak_rss_mb"],
        "sampler_s_per_mb_4x_over_1x": (large["sampler"]["wall_s"] / large["input_mb"])
        / (small["sampler"]["wall_s"] / small["input_mb"]),
        "sampler_over_peer_wall_4x": large["sampler"]["wall_s"] / large["peer_read"]["wall_s"],
    }
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    record = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
              "command": " ".join([Path(sys.executable).name, *sys.argv]), "figures": figures, "ratios": ratios}
    (results / "tokenizer_sample.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
