#!/usr/bin/env python
"""Decontamination's n-gram table: memory per eval n-gram and lookup speed, against the usual
peer, a Python ``set`` of n-gram strings, measured in the same run on the same words.

Eval side: every 13-gram of the Korean and multilingual samples (../shared/data), i.e. a few
million eval n-grams, as if those corpora were benchmarks. Training side: the multilingual and
code samples, so part of it overlaps (the multilingual documents) and part does not (code).
Tokenization (``eval_ngrams.words_of``: MeCab for Hangul, regex otherwise) is shared by both
implementations and timed separately; the comparison covers hashing + table + lookup.

Reported: eval n-grams, bytes per n-gram (numpy table: 8-byte hash + 2-byte eval-set id; peer:
the set plus its strings, measured with tracemalloc), build and lookup times (both look up every
window of every document, as cut mode and the matched-window statistics need), and the matches
each finds (they must agree per document; hash collisions could only add). Times are CPU
seconds of this process (``time.process_time``): the machine is shared, wall time is not.

    .venv/bin/python benchmarks/decontamination_lookup.py [--ngram 13]
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"

from benchmarks.record import write_result  # noqa: E402
from transforms.eval_ngrams import build_table, ngram_hashes, word_hashes, words_of  # noqa: E402


def texts(name: str) -> list[str]:
    with gzip.open(SHARED_DATA / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ngram", type=int, default=13)
    n = parser.parse_args().ngram

    started = time.process_time()
    eval_words = [words_of(t).words for t in texts("ko") + texts("multi")]
    train_texts = texts("multi") + texts("code")
    train_words = [words_of(t).words for t in train_texts]
    tokenize_s = time.process_time() - started
    train_mb = sum(len(t.encode("utf-8")) for t in train_texts) / 1e6

    started = time.process_time()
    table = build_table(["eval"], [(n, 0, np.unique(np.concatenate([ngram_hashes(word_hashes(w), n)
                                                                    for w in eval_words])))])
    ours_build = time.process_time() - started
    ours_bytes = sum(a.nbytes for a in (*table.hashes.values(), *table.sets.values()))

    tracemalloc.start()
    started = time.process_time()
    peer = {" ".join(w[i:i + n]) for w in eval_words for i in range(len(w) - n + 1)}
    peer_build = time.process_time() - started
    peer_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    started = time.process_time()
    ours_windows = [len(table.match(ngram_hashes(word_hashes(w), n), n)[0]) for w in train_words]
    ours_lookup = time.process_time() - started
    started = time.process_time()
    peer_windows = [sum(" ".join(w[i:i + n]) in peer for i in range(len(w) - n + 1)) for w in train_words]
    peer_lookup = time.process_time() - started

    count = table.size()
    print(f"eval {n}-grams: {count:,} unique (peer set: {len(peer):,}); training: {len(train_words):,} docs, "
          f"{train_mb:.1f} MB; shared tokenization {tokenize_s:.1f} s")
    print(f"memory per eval n-gram: ours {ours_bytes / count:.1f} B, python set of strings "
          f"{peer_bytes / len(peer):.1f} B  -> {peer_bytes / ours_bytes:.1f}x smaller")
    print(f"table build: ours {ours_build:.2f} s, peer {peer_build:.2f} s  -> {peer_build / ours_build:.2f}x")
    print(f"lookup (hash + match, all windows): ours {ours_lookup:.2f} s ({train_mb / ours_lookup:.1f} MB/s), "
          f"peer {peer_lookup:.2f} s ({train_mb / peer_lookup:.1f} MB/s)  -> {peer_lookup / ours_lookup:.2f}x")
    agree = ours_windows == peer_windows
    print(f"contaminated training documents: ours {sum(map(bool, ours_windows)):,}, peer "
          f"{sum(map(bool, peer_windows)):,}; matched windows: ours {sum(ours_windows):,}, peer "
          f"{sum(peer_windows):,} ({'agree on every document' if agree else 'DISAGREE'})")
    write_result(
        "decontamination_lookup",
        compares=f"eval {n}-gram table (hashed numpy) vs a Python set of n-gram strings, same words: memory per n-gram, "
        "build and lookup CPU seconds, hits per training document",
        headline={"memory peer/ours": peer_bytes / ours_bytes, "build speed ours/peer": peer_build / ours_build,
                  "lookup speed ours/peer": peer_lookup / ours_lookup, "same hits on every document": agree},
        figures={"ngram": n, "eval_ngrams": count, "training_docs": len(train_words), "training_mb": train_mb,
                 "shared_tokenization_cpu_s": tokenize_s,
                 "bytes_per_ngram": {"ours": ours_bytes / count, "python_set": peer_bytes / len(peer)},
                 "build_cpu_s": {"ours": ours_build, "python_set": peer_build},
                 "lookup_cpu_s": {"ours": ours_lookup, "python_set": peer_lookup},
                 "lookup_mb_per_cpu_s": {"ours": train_mb / ours_lookup, "python_set": train_mb / peer_lookup},
                 "contaminated_docs": {"ours": sum(map(bool, ours_windows)), "python_set": sum(map(bool, peer_windows))},
                 "matched_windows": {"ours": sum(ours_windows), "python_set": sum(peer_windows)}})
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
