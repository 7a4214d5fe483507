#!/usr/bin/env python
"""Accuracy and throughput of the dedup.minhash step, beside datatrove's MinHash, on one corpus.

Corpus: every document of ../shared/data (Korean, multilingual, code; bucket by file) plus generated
near-duplicates: copies of randomly chosen documents, each with one to three realistic edits drawn at
random: paragraphs inserted (from other documents of the bucket), deleted or reordered, a boilerplate
header and/or footer added (site navigation and copyright lines; licence and generated-file headers
for code), typo-level character edits (substitutions, deletions, insertions, swaps of neighbours) and
truncation (the document cut at 60-100% of its length), so that their true Jaccard spans the threshold.

Ground truth, computed independently of the step's shingler (``transforms.shingles`` is not used):
Jaccard of the sets of word n-grams (n = the step's ``ngram``/``code_ngram``) over words from this
file's own tokenizer: text lower-cased, words = runs of letters/digits (Python ``re``; each Han or
Kana character one word, so Korean words are eojeol, not the step's MeCab morphemes); code
case-kept, identifiers/numbers and each punctuation character. Every pair of documents in a bucket
(sparse n-gram matrix product); documents linked at Jaccard >= threshold form components and every
component member but the smallest id is a true duplicate. Precision and recall are those of the set
of removed documents against that set; the generated copies are also reported by true-Jaccard bin
(the share of them each system removed), and the step's own shingle Jaccard of the same pairs
beside the truth.

Peer: datatrove 0.10.1's MinhashDedupSignature -> MinhashDedupBuckets -> MinhashDedupCluster ->
MinhashDedupFilter on LocalPipelineExecutor with the same bands x rows, n-gram size, 32-bit hashes,
the same word tokens (its tokenizer is replaced by ours so both hash identical n-grams) and
equivalent normalization, per bucket, documents in id order (so its survivor is also the smallest id),
scored against the same truth on the same documents.
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
import re
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
from transforms.shingles import jaccard, shingle_hashes, tokens  # noqa: E402  (the peer's tokens; not the truth)

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


HEADERS = {
    KOREAN: ["홈 | 뉴스 | 스포츠 | 연예 | 로그인 | 회원가입", "[속보] 지금 가장 많이 본 기사 바로가기 ▶"],
    MULTILINGUAL: ["Home | News | Sports | Login | Sign up | Subscribe", "Skip to main content. Menu Search"],
    CODE: ["# Copyright (c) 2024 Example Corp. All rights reserved.\n# SPDX-License-Identifier: Apache-2.0",
           "// This file was generated automatically. DO NOT EDIT."],
}
FOOTERS = {
    KOREAN: ["Copyright ⓒ 2024 예시일보. 무단전재 및 재배포 금지. 기사제보 및 보도자료 news@example.co.kr",
             "이 기사를 추천합니다 | 공유하기 | 댓글 0 | 많이 본 뉴스 1 2 3 4 5"],
    MULTILINGUAL: ["© 2024 Example Media Ltd. All rights reserved. Privacy Policy · Terms of Use · Cookies",
                   "Share this: Facebook Twitter Email | Related posts | Leave a comment"],
    CODE: ["# end of file", "/* Licensed under the MIT License. See LICENSE in the project root. */"],
}
TYPO_CHARS = {KOREAN: "가나다라마바사아자차카타파하은는이가를의에", MULTILINGUAL: "abcdefghijklmnopqrstuvwxyz",
              CODE: "abcdefghijklmnopqrstuvwxyz_(){};"}


def _blocks(text: str) -> tuple[list[str], str]:
    """Paragraphs (blank-line separated) or, for a text without blank lines, lines."""
    paragraphs = text.split("\n\n")
    return (paragraphs, "\n\n") if len(paragraphs) >= 3 else (text.split("\n"), "\n")


def edit(text: str, bucket: str, donors: list[str], rng: random.Random) -> tuple[str, list[str]]:
    """``text`` with one to three realistic edits (module docstring); returns the text and the edits' names."""
    names = rng.sample(["insert", "delete", "reorder", "boilerplate", "typos", "truncate"], rng.randint(1, 3))
    for name in names:
        blocks, sep = _blocks(text)
        if name == "insert":
            donor_blocks, _ = _blocks(rng.choice(donors))
            for _ in range(rng.randint(1, 2)):
                blocks.insert(rng.randrange(len(blocks) + 1), rng.choice(donor_blocks))
        elif name == "delete" and len(blocks) >= 3:
            for _ in range(rng.randint(1, max(1, len(blocks) // 10))):
                del blocks[rng.randrange(len(blocks))]
        elif name == "reorder" and len(blocks) >= 3:
            i, j = rng.sample(range(len(blocks)), 2)
            blocks[i], blocks[j] = blocks[j], blocks[i]
        elif name == "boilerplate":
            if rng.random() < 0.7:
                blocks.insert(0, rng.choice(HEADERS[bucket]))
            if rng.random() < 0.7:
                blocks.append(rng.choice(FOOTERS[bucket]))
        text = sep.join(blocks)
        if name == "typos":
            chars = list(text)
            for _ in range(int(rng.uniform(0.0, 0.006) * len(chars))):
                k = rng.randrange(len(chars))
                kind = rng.randrange(4)
                if kind == 0:
                    chars[k] = rng.choice(TYPO_CHARS[bucket])
                elif kind == 1 and len(chars) > 1:
                    del chars[k]
                elif kind == 2:
                    chars.insert(k, rng.choice(TYPO_CHARS[bucket]))
                elif k + 1 < len(chars):
                    chars[k], chars[k + 1] = chars[k + 1], chars[k]
            text = "".join(chars)
        elif name == "truncate":
            cut = int(len(text) * rng.uniform(0.6, 1.0))
            space = text.rfind(" ", 0, cut)
            text = text[:space if space > cut // 2 else cut]
    return text, names


def near_duplicates(docs: list[Document], copies: int, rng: random.Random) -> tuple[list[Document], dict[str, list[str]]]:
    """``copies`` edited copies per bucket of randomly drawn originals (with replacement, so copies
    of one original are near-duplicates of each other too); also each copy's edits."""
    out, edits = [], {}
    for bucket in BUCKETS:
        pool = [d for d in docs if d.bucket == bucket and len(d.text.split()) >= 60]
        donors = [d.text for d in docs if d.bucket == bucket]
        for k in range(copies):
            original = rng.choice(pool)
            text, names = edit(original.text, bucket, donors, rng)
            copy = Document(id=f"{original.id}~copy{k}", text=text, source="generated", bucket=bucket, lang=original.lang)
            out.append(copy)
            edits[copy.id] = names
    return out, edits


def step_shingles(doc: Document, config: MinHashConfig) -> np.ndarray:
    """The step's own shingles of ``doc``: only to print their Jaccard beside the truth's."""
    code = doc.bucket == CODE
    return shingle_hashes(doc.text, doc.bucket, doc.lang, config.code_ngram if code else config.ngram,
                          config.code_normalization if code else config.text_normalization)


# The ground truth's own words (module docstring): nothing from transforms.shingles or corpus.words.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TEXT_WORD = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
_CODE_WORD = re.compile(r"\w+|[^\w\s]")


def truth_ngrams(doc: Document, config: MinHashConfig) -> set[str]:
    """The set of word n-grams the ground truth compares (a text shorter than n is one n-gram)."""
    if doc.bucket == CODE:
        words, n = _CODE_WORD.findall(doc.text), config.code_ngram
    else:
        words, n = _TEXT_WORD.findall(doc.text.lower()), config.ngram
    if len(words) <= n:
        return {"\x1f".join(words)} if words else set()
    return {"\x1f".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def true_jaccard(a: set[str], b: set[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def true_duplicates(docs: list[Document], config: MinHashConfig) -> set[str]:
    """Ids that true-Jaccard components remove (all members but the smallest id), per bucket."""
    removed: set[str] = set()
    for bucket in BUCKETS:
        members = sorted((d for d in docs if d.bucket == bucket), key=lambda d: d.id)
        vocabulary: dict[str, int] = {}
        sets = [np.array(sorted(vocabulary.setdefault(g, len(vocabulary)) for g in truth_ngrams(d, config)),
                         dtype=np.int64) for d in members]
        rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
        matrix = csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, np.concatenate(sets))),
                            shape=(len(sets), len(vocabulary)))
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


def bin_label(lo: float, hi: float) -> str:
    return f"[{lo:.2f}, {min(hi, 1.0):.2f}{']' if hi > 1 else ')'}"


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
    copies, edits = near_duplicates(originals, args.copies, random.Random(args.seed))
    docs = originals + copies
    by_id = {d.id: d for d in docs}
    pair_j = np.array([true_jaccard(truth_ngrams(by_id[c.id.split("~")[0]], config), truth_ngrams(c, config))
                       for c in copies])
    step_j = np.array([jaccard(step_shingles(by_id[c.id.split("~")[0]], config), step_shingles(c, config))
                        for c in copies])
    truth = true_duplicates(docs, config)
    print(f"corpus: {len(originals)} sample documents + {len(copies)} generated copies = {len(docs)} "
          f"(bands x rows = {bands} x {rows}, num_perm {config.num_perm}, threshold {config.threshold})")
    step_difference = float(np.mean(np.abs(step_j - pair_j)))
    same_side = float(np.mean((step_j >= config.threshold) == (pair_j >= config.threshold)))
    print(f"generated copies' true Jaccard with their original: min {pair_j.min():.3f} "
          f"median {float(np.median(pair_j)):.3f} max {pair_j.max():.3f}; "
          f"{int((pair_j >= config.threshold).sum())} of {len(pair_j)} at >= {config.threshold}; the step's shingle "
          f"Jaccard of the same pairs differs by {step_difference:.3f} on average (same side of the threshold for "
          f"{same_side:.1%})")
    edit_counts: dict[str, int] = {}
    for names in edits.values():
        for name in names:
            edit_counts[name] = edit_counts.get(name, 0) + 1
    print("  edits applied: " + ", ".join(f"{name} {count}" for name, count in sorted(edit_counts.items())))
    edges = [0.0, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.01]
    bins = [(lo, hi) for lo, hi in zip(edges, edges[1:])]
    counts, _ = np.histogram(pair_j, bins=edges)
    print("  by true Jaccard: " + ", ".join(f"{bin_label(lo, hi)}: {n}" for (lo, hi), n in zip(bins, counts)))
    print(f"true-Jaccard ground truth (independent word {config.ngram}-grams): {len(truth)} documents to remove")

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
    by_bin = {}
    print("share of generated copies removed, by true Jaccard with their original:")
    for lo, hi in bins:
        members = [c.id for c, j in zip(copies, pair_j) if lo <= j < hi]
        by_bin[bin_label(lo, hi)] = {"copies": len(members), **{
            name: (sum(m in removed for m in members) / len(members) if members else None)
            for name, removed, _ in results}}
        print(f"  {bin_label(lo, hi):12s} {len(members):5d} copies: " + ", ".join(
            f"{name.split(' (')[0] if i != 1 else 'estimate only'} "
            + ("-" if not members else f"{sum(m in removed for m in members) / len(members):.3f}")
            for i, (name, removed, _) in enumerate(results)))
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
        compares="dedup.minhash vs true Jaccard >= threshold (independent word n-grams) on the sample plus near-duplicates "
        "with realistic edits; datatrove's MinHash (same bands x rows, n-grams, tokens) on the same documents and truth; "
        "throughput per CPU second",
        headline={"precision": ours_default["precision"], "recall": ours_default["recall"],
                  "datatrove precision": systems[results[2][0]]["precision"],
                  "datatrove recall": systems[results[2][0]]["recall"],
                  "throughput ours/datatrove (CPU)": theirs_s.cpu / ours_s.cpu},
        figures={"documents": len(docs), "sample_documents": len(originals), "generated_copies": len(copies),
                 "bands": bands, "rows": rows, "num_perm": config.num_perm, "threshold": config.threshold,
                 "copies_true_jaccard": {"min": float(pair_j.min()), "median": float(np.median(pair_j)),
                                         "max": float(pair_j.max()),
                                         "at_or_above_threshold": int((pair_j >= config.threshold).sum()),
                                         "step_shingles_mean_abs_difference": step_difference,
                                         "step_shingles_same_side_of_threshold": same_side},
                 "edits_applied": edit_counts,
                 "copies_removed_by_true_jaccard": by_bin,
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
