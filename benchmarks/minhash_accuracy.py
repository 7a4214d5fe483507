#!/usr/bin/env python
"""Accuracy and throughput of the dedup.minhash step, beside datatrove's MinHash, on one corpus.

Corpus: every document of ../shared/data (Korean, multilingual, code; bucket by file) plus generated
near-duplicates: copies of randomly chosen documents with a random share of their words replaced,
so that their true Jaccard spans the threshold (about 0.5 to 1.0).

Ground truth: exact Jaccard of every pair of documents in a bucket, computed on the very shingles the
step hashes (``transforms.shingles.shingles``) with a sparse shingle matrix product; documents
linked at Jaccard >= threshold form components and every component member but the smallest id is a
true duplicate. Precision and recall are those of the set of removed documents against that set.

Peer: datatrove 0.10.1's MinhashDedupSignature -> MinhashDedupBuckets -> MinhashDedupCluster ->
MinhashDedupFilter on LocalPipelineExecutor with the same bands x rows, n-gram size, 32-bit hashes,
the same word tokens (its tokenizer is replaced by ours so both hash identical n-grams) and
equivalent normalization, per bucket, documents in id order (so its survivor is also the smallest id).
Both read the same JSONL file in this process; docs/s counts all documents of the corpus, per wall
second and per CPU second (the fair figure on a shared machine). Beam's fixed cost (graph setup,
some 100 fused steps) is a few CPU seconds, so small corpora understate its throughput.

    .venv/bin/python benchmarks/minhash_accuracy.py [--copies 1500] [--seed 0]
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.record import write_result  # noqa: E402
from corpus.document import BUCKETS, CODE, KOREAN, MULTILINGUAL, Document  # noqa: E402
from transforms.minhash import MinHashConfig, MinHashDedup  # noqa: E402
from transforms.shingles import jaccard, shingle_hashes, tokens  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {KOREAN: "ko", MULTILINGUAL: "multi", CODE: "code"}


def load_corpus() -> list[Document]:
    docs = []
    for bucket, name in FILES.items():
        with gzip.open(DATA / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                docs.append(Document(id=f"{name}-{record['id']}", text=record["text"], source=name,
                                     bucket=bucket, lang="ko" if bucket == KOREAN else record.get("lang", "")))
    return docs


def near_duplicates(docs: list[Document], copies: int, rng: random.Random) -> list[Document]:
    """``copies`` edited copies per bucket of randomly drawn originals (with replacement, so copies
    of one original are near-duplicates of each other too): a share f ~ U(0, 0.04) of the words
    replaced by new words at random positions (each changes up to n shingles)."""
    out = []
    for bucket in BUCKETS:
        pool = [d for d in docs if d.bucket == bucket and len(d.text.split()) >= 60]
        for k in range(copies):
            original = rng.choice(pool)
            words = original.text.split(" ")
            share = rng.uniform(0.0, 0.04)
            for position in rng.sample(range(len(words)), int(share * len(words))):
                words[position] = f"zq{rng.randrange(10**9)}"
            out.append(Document(id=f"{original.id}~copy{k}", text=" ".join(words), source="generated",
                                bucket=bucket, lang=original.lang))
    return out


def doc_shingles(doc: Document, config: MinHashConfig) -> np.ndarray:
    code = doc.bucket == CODE
    return shingle_hashes(doc.text, doc.bucket, doc.lang, config.code_ngram if code else config.ngram,
                    config.code_normalization if code else config.text_normalization)


def exact_duplicates(docs: list[Document], config: MinHashConfig) -> set[str]:
    """Ids that exact-Jaccard components remove (all members but the smallest id), per bucket."""
    removed: set[str] = set()
    for bucket in BUCKETS:
        members = sorted((d for d in docs if d.bucket == bucket), key=lambda d: d.id)
        sets = [doc_shingles(d, config) for d in members]
        _, columns = np.unique(np.concatenate(sets), return_inverse=True)
        rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
        matrix = csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, columns)), shape=(len(sets), columns.max() + 1))
        overlap = (matrix @ matrix.T).tocoo()
        sizes = np.array([len(s) for s in sets])
        upper = overlap.row < overlap.col
        a, b, inter = overlap.row[upper], overlap.col[upper], overlap.data[upper]
        similar = inter / (sizes[a] + sizes[b] - inter) >= config.threshold
        graph = csr_matrix((np.ones(similar.sum()), (a[similar], b[similar])), shape=(len(sets), len(sets)))
        _, labels = connected_components(graph, directed=False)
        first: dict[int, int] = {}
        for i, label in enumerate(labels):  # members are in id order: the first of a label survives
            if label in first:
                removed.add(members[i].id)
            else:
                first[label] = i
    return removed


def write_jsonl(docs: list[Document], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"id": d.id, "text": d.text, "bucket": d.bucket, "lang": d.lang}, ensure_ascii=False) + "\n")


def read_jsonl(line: str) -> Document:
    record = json.loads(line)
    return Document(id=record["id"], text=record["text"], source="bench", bucket=record["bucket"], lang=record["lang"])


def run_korpus(corpus: Path, config: MinHashConfig, workdir: Path) -> tuple[set[str], Clock, dict]:
    """The step as a curate phase runs it: signatures written beside the documents in a phase
    file (the previous phase's job), verdicts from band keys and looked-up candidate pairs."""
    from tests.transforms.verdict_harness import run_verdict_step

    docs = [read_jsonl(line) for line in corpus.read_text("utf-8").splitlines()]
    with Clock() as clock:
        outcome = run_verdict_step(MinHashDedup(config), docs, workdir, files_per_shard=4)
    return set(outcome.rejected), clock, outcome.stats


def run_datatrove(corpus: Path, bands: int, rows: int, config: MinHashConfig, workdir: Path) -> tuple[set[str], Clock]:
    from datatrove.data import Document as DatatroveDocument
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature,
    )
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.text import TextNormConfig
    from datatrove.utils.word_tokenizers import WordTokenizer

    class SameTokens(WordTokenizer):
        """Our tokens, so both systems hash identical n-grams."""

        def __init__(self, bucket: str):
            super().__init__()
            self.bucket = bucket

        def word_tokenize(self, text: str) -> list[str]:
            return tokens(text, self.bucket, "ko" if self.bucket == KOREAN else "xx")

        def sent_tokenize(self, text: str) -> list[str]:
            raise NotImplementedError

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            raise NotImplementedError

    def norm(bucket: str) -> TextNormConfig:
        ours = config.code_normalization if bucket == CODE else config.text_normalization
        return TextNormConfig(lowercase=ours.lowercase, remove_punctuation=ours.strip_punctuation,
                              norm_numbers=ours.normalize_digits, norm_unicode_diacritics=False)

    removed: set[str] = set()
    clock = Clock().__enter__()
    for bucket in BUCKETS:
        kept: list[str] = []
        ids: list[str] = []

        def read(_data, _rank: int = 0, _world_size: int = 1, bucket=bucket, ids=ids):
            # The same JSONL file, one bucket per run (the Beam step groups by bucket itself).
            with corpus.open(encoding="utf-8") as fh:
                for line in fh:
                    d = read_jsonl(line)
                    if d.bucket == bucket:
                        ids.append(d.id)
                        yield DatatroveDocument(text=d.text, id=d.id)

        def collect(data, _rank: int = 0, _world_size: int = 1, kept=kept):
            for document in data:
                kept.append(document.id)
                yield document

        dt_config = MinhashConfig(n_grams=config.ngram if bucket != CODE else config.code_ngram,
                                  num_buckets=bands, hashes_per_bucket=rows, seed=config.seed,
                                  norm_config=norm(bucket), hash_config=HashConfig(precision=32, hash_fc="sha1"))
        base = workdir / bucket
        signature = MinhashDedupSignature(output_folder=str(base / "sigs"), config=dt_config)
        signature.word_tokenizer = SameTokens(bucket)
        steps = [
            ([read, signature], 1),
            ([MinhashDedupBuckets(input_folder=str(base / "sigs"), output_folder=str(base / "buckets"), config=dt_config)], bands),
            ([MinhashDedupCluster(input_folder=str(base / "buckets"), output_folder=str(base / "remove_ids"), config=dt_config)], 1),
            ([read, MinhashDedupFilter(input_folder=str(base / "remove_ids")), collect], 1),
        ]
        for i, (pipeline, tasks) in enumerate(steps):
            LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1,
                                  logging_dir=str(base / f"logs{i}"), skip_completed=False).run()
        removed.update(set(ids) - set(kept))
    clock.__exit__()
    return removed, clock


class Clock:
    """Wall and CPU seconds of one block. Both systems run in this process (Beam's in-memory runner
    in threads, datatrove with workers=1), so CPU time is comparable and, unlike wall time, does not
    depend on what else the machine is running."""

    def __enter__(self) -> "Clock":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu


def precision_recall(predicted: set[str], truth: set[str]) -> tuple[float, float]:
    hit = len(predicted & truth)
    return (hit / len(predicted) if predicted else 1.0), (hit / len(truth) if truth else 1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=1500, help="generated near-duplicates per bucket")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"sample data not found at {DATA}")

    import logging
    logging.disable(logging.WARNING)
    config = MinHashConfig()
    bands, rows = config.bands_and_rows()
    originals = load_corpus()
    copies = near_duplicates(originals, args.copies, random.Random(args.seed))
    docs = originals + copies
    by_id = {d.id: d for d in docs}
    pair_j = [jaccard(doc_shingles(by_id[c.id.split("~")[0]], config), doc_shingles(c, config)) for c in copies]
    truth = exact_duplicates(docs, config)
    print(f"corpus: {len(originals)} sample documents + {len(copies)} generated copies = {len(docs)} "
          f"(bands x rows = {bands} x {rows}, num_perm {config.num_perm}, threshold {config.threshold})")
    print(f"generated copies' true Jaccard with their original: min {min(pair_j):.3f} "
          f"median {float(np.median(pair_j)):.3f} max {max(pair_j):.3f}; "
          f"{sum(j >= config.threshold for j in pair_j)} of {len(pair_j)} at >= {config.threshold}")
    edges = [0.0, 0.7, 0.75, 0.8, 0.85, 0.9, 1.01]
    counts, _ = np.histogram(pair_j, bins=edges)
    print("  by true Jaccard: " + ", ".join(f"[{lo:.2f}, {min(hi, 1.0):.2f}{']' if hi > 1 else ')'}: {n}"
                                           for lo, hi, n in zip(edges, edges[1:], counts)))
    print(f"exact-Jaccard ground truth: {len(truth)} documents to remove")

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"  # id order, so datatrove's survivor is the smallest id too
        write_jsonl(sorted(docs, key=lambda d: d.id), corpus)
        ours, ours_s, stats = run_korpus(corpus, config, Path(tmp) / "korpus")
        estimate_only = dataclasses.replace(config, exact_check_sigmas=0.0)
        ours_est, ours_est_s, _ = run_korpus(corpus, estimate_only, Path(tmp) / "korpus_estimate_only")
        theirs, theirs_s = run_datatrove(corpus, bands, rows, config, Path(tmp) / "datatrove")
    results = [
        ("korpus dedup.minhash (default: exact check)", ours, ours_s),
        ("korpus dedup.minhash (estimate only)", ours_est, ours_est_s),
        ("datatrove MinHash (4 steps, no verify)", theirs, theirs_s),
    ]
    print(f"{'system':44s} {'removed':>7s} {'precision':>9s} {'recall':>7s} {'wall s':>7s} {'docs/s':>7s} "
          f"{'CPU s':>6s} {'docs/CPU-s':>10s}")
    systems = {}
    for name, removed, clock in results:
        p, r = precision_recall(removed, truth)
        systems[name] = {"removed": len(removed), "precision": p, "recall": r, "wall_s": clock.wall,
                         "docs_per_wall_s": len(docs) / clock.wall, "cpu_s": clock.cpu,
                         "docs_per_cpu_s": len(docs) / clock.cpu}
        print(f"{name:44s} {len(removed):7d} {p:9.4f} {r:7.4f} {clock.wall:7.2f} {len(docs) / clock.wall:7.1f} "
              f"{clock.cpu:6.2f} {len(docs) / clock.cpu:10.1f}")
    print(f"throughput ratio vs datatrove (CPU time): korpus default {theirs_s.cpu / ours_s.cpu:.2f}, "
          f"estimate only {theirs_s.cpu / ours_est_s.cpu:.2f}; (wall time): {theirs_s.wall / ours_s.wall:.2f}, "
          f"{theirs_s.wall / ours_est_s.wall:.2f}")
    print(f"korpus stats: removed {stats['removed']}, clusters {stats['clusters']['count']}, "
          f"size histogram {stats['clusters']['size_histogram']}, band comparisons {stats['band_comparisons']} "
          f"({stats['band_comparisons_uncertain']} uncertain), exact checks {stats['exact_checks']}, "
          f"components converged in {stats['connected_components']['rounds_run']} round(s)")
    ours_default = systems[results[0][0]]
    write_result(
        "minhash_accuracy",
        compares="dedup.minhash vs exact Jaccard >= threshold on the sample plus generated near-duplicates; datatrove's "
        "MinHash (same bands x rows, n-grams, tokens) on the same corpus; throughput per CPU second",
        headline={"precision": ours_default["precision"], "recall": ours_default["recall"],
                  "datatrove precision": systems[results[2][0]]["precision"],
                  "datatrove recall": systems[results[2][0]]["recall"],
                  "throughput ours/datatrove (CPU)": theirs_s.cpu / ours_s.cpu},
        figures={"documents": len(docs), "sample_documents": len(originals), "generated_copies": len(copies),
                 "bands": bands, "rows": rows, "num_perm": config.num_perm, "threshold": config.threshold,
                 "copies_true_jaccard": {"min": min(pair_j), "median": float(np.median(pair_j)), "max": max(pair_j),
                                         "at_or_above_threshold": int(sum(j >= config.threshold for j in pair_j))},
                 "true_duplicates": len(truth),
                 "systems": [{"system": name, **figures} for name, figures in systems.items()],
                 "throughput_ours_over_datatrove": {"cpu": theirs_s.cpu / ours_s.cpu, "wall": theirs_s.wall / ours_s.wall,
                                                    "estimate_only_cpu": theirs_s.cpu / ours_est_s.cpu},
                 "ours_stats": {"clusters": stats["clusters"]["count"], "band_comparisons": stats["band_comparisons"],
                                "uncertain": stats["band_comparisons_uncertain"], "exact_checks": stats["exact_checks"],
                                "component_rounds": stats["connected_components"]["rounds_run"]}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
