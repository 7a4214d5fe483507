"""Unique documents at any multiple of the shared sample, for benchmarks that need more input
than the sample without exact copies (which dedup would drop and caches would serve).

The k-th document of a scale takes the paragraph count of a sample document and draws each
paragraph at random (seeded) from all paragraphs of the same language (Korean, each
multilingual language, each programming language), so the corpus grows with the sample's
languages and lengths. A scale is written as JSONL.gz files of about ``file_mb`` MB of text each
under ``folder/text`` (Korean and multilingual) and ``folder/code``, so a larger input is more
files, as a real corpus is. Each source is split into at least ``min_files`` files (the benchmarks
pass their worker count): an input file is one work item, so with fewer files than workers a
worker never reads that source, never loads its language's models, and a comparison between
scales would measure which models got loaded rather than how memory follows the input (the
sample's Korean, 1.2 MB, was one file at 1x and three at 8x).
"""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SOURCES = {"ko": "text", "multi": "text", "code": "code"}


def _sample(name: str) -> list[dict]:
    with gzip.open(SHARED_DATA / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def generate(scale: float, folder: Path, file_mb: float, seed: int = 15, min_files: int = 1) -> int:
    """Writes ``scale`` x the sample as recombined documents; returns the text bytes written."""
    total = 0
    for name, kind in SOURCES.items():
        records = _sample(name)
        pools: dict[str, list[str]] = {}
        for record in records:
            pools.setdefault(record.get("lang", name), []).extend(p for p in record["text"].split("\n\n") if p.strip())
        rng = random.Random(f"{seed}-{name}-{scale}")
        target = int(len(records) * scale)
        (folder / kind).mkdir(parents=True, exist_ok=True)
        part, written, sink = 0, 0, None
        for k in range(target):
            template = records[k % len(records)]
            pool = pools[template.get("lang", name)]
            count = max(1, sum(1 for p in template["text"].split("\n\n") if p.strip()))
            text = "\n\n".join(rng.choice(pool) for _ in range(count))
            size = len(text.encode("utf-8"))
            # the first min_files files also start at even shares of the documents
            starts_share = part < min_files and k * min_files >= part * target
            if sink is None or written >= file_mb * 1e6 or starts_share:
                if sink is not None:
                    sink.close()
                sink = gzip.open(folder / kind / f"{name}-{part:04d}.jsonl.gz", "wt", encoding="utf-8",
                                 compresslevel=1)
                part, written = part + 1, 0
            row = {"id": f"{name}-{k}", "text": text, "source": template.get("source", name)}
            if "lang" in template:
                row["lang"] = template["lang"]
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += size
            total += size
        if sink is not None:
            sink.close()
    return total
