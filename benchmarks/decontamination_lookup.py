#!/usr/bin/env python
"""Decontamination's n-gram table against datatrove's n-gram decontamination and a Python ``set``
of n-gram strings, measured in the same run on the same eval items and training documents.

Eval side: every 13-gram of the Korean and multilingual samples (../shared/data), i.e. a few
million eval n-grams, as if those corpora were benchmarks. Training side: the multilingual and
code samples, so part of it overlaps (the multilingual documents) and part does not (code).
Tokenization (``eval_ngrams.words_of``: MeCab for Hangul, regex otherwise) is shared by ours and
the set and timed separately; that comparison covers hashing + table + lookup.

datatrove (``datatrove.pipeline.decont``): ``NGramsDecontIndexer.compute_hashes`` over every eval
item (its ``simplify_text`` normalization, then words, then a 64-bit hash of each joined n-gram:
SHA-1, its other choice, since its default xxhash64 passes ``str``, which xxhash 4.1 refuses) and
``NGramsDecontFilter.filter`` on every training document, with ``n_grams`` set to ours and its word
tokenizer given our words (``words_of``) so both sides split the same words; its own
normalization (lower-case, punctuation removed, digits -> 0, diacritics removed) still runs
first. (The indexer's ``run`` imports lighteval, which is not installed: the benchmark calls
``compute_hashes`` and writes the ``.index.hashes`` file as ``run`` does.) Timed end to end on
both sides, tokenization included: build = eval items -> index, lookup = training documents ->
verdicts; index memory is what the filter holds after loading (a dict of hash -> task, measured
with tracemalloc). datatrove stops at a document's first matching n-gram and only rejects; ours
looks up every window (cut mode and the matched-window statistics need them), so the lookup is
reported per training file: on the clean code file both scan every window.

Reported: eval n-grams, bytes per n-gram (numpy table: 8-byte hash + 2-byte eval-set id; the set
plus its strings and datatrove's loaded dict, measured with tracemalloc), build and lookup times
(ours and the set look up every window of every document), and the matches
each finds (ours and the set must agree per document; hash collisions could only add), and the
training documents datatrove flags beside ours. Times are CPU seconds of this process
(``time.process_time``): the machine is shared, wall time is not.

    .venv/bin/python benchmarks/decontamination_lookup.py [--ngram 13]
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"

from benchmarks.record import write_result  # noqa: E402
from datatrove.utils.word_tokenizers import WordTokenizer  # noqa: E402
from transforms.eval_ngrams import build_table, ngram_hashes, word_hashes, words_of  # noqa: E402


def texts(name: str) -> list[str]:
    with gzip.open(SHARED_DATA / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


class OurWords(WordTokenizer):
    """Our decontamination words (``eval_ngrams.words_of``) as a datatrove word tokenizer."""

    def word_tokenize(self, text: str) -> list[str]:
        return words_of(text).words

    def sent_tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        raise NotImplementedError


def run_datatrove(eval_texts: list[str], train_sets: dict[str, list[str]], n: int, folder: Path) -> dict:
    """datatrove's indexer and filter (module docstring): CPU seconds, index bytes, flagged documents."""
    from datatrove.data import Document
    from datatrove.pipeline.decont import NGramsDecontConfig, NGramsDecontFilter, NGramsDecontIndexer
    from datatrove.utils.hashing import HashConfig

    # 64-bit SHA-1: datatrove's default xxhash64 passes str, which the installed xxhash refuses.
    config = NGramsDecontConfig(n_grams=n, hash_config=HashConfig(precision=64, hash_fc="sha1"))
    # NGramsDecontIndexer declares lighteval (its run() loads lighteval tasks); compute_hashes does not use it.
    indexer = object.__new__(NGramsDecontIndexer)
    NGramsDecontIndexer.__init__(indexer, output_folder=str(folder), config=config, language=OurWords())
    started = time.process_time()
    hashes: set[int] = set()
    for text in eval_texts:
        hashes.update(indexer.compute_hashes(text))
    with indexer.output_folder.open("eval.index.hashes", mode="wb") as fh:  # as NGramsDecontIndexer.run writes it
        np.array(list(hashes), dtype=config.hash_config.np_descr).tofile(fh)
    decont = NGramsDecontFilter(index_folder=str(folder), config=config, language=OurWords())
    tracemalloc.start()
    decont.load_index_hashes()
    index_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    build_s = time.process_time() - started
    lookup_s, flagged = {}, {}
    for name, docs in train_sets.items():
        started = time.process_time()
        flagged[name] = [decont.filter(Document(text=text, id=str(i))) is not True for i, text in enumerate(docs)]
        lookup_s[name] = time.process_time() - started
    return {"ngrams": len(hashes), "index_bytes": index_bytes, "build_s": build_s, "lookup_s": lookup_s,
            "flagged": flagged}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ngram", type=int, default=13)
    n = parser.parse_args().ngram

    eval_texts = texts("ko") + texts("multi")
    train_sets = {"multi": texts("multi"), "code": texts("code")}
    train_texts = [t for docs in train_sets.values() for t in docs]
    started = time.process_time()
    eval_words = [words_of(t).words for t in eval_texts]
    eval_tokenize_s = time.process_time() - started
    tokenize_s = {}
    train_words_by_set = {}
    for name, docs in train_sets.items():
        started = time.process_time()
        train_words_by_set[name] = [words_of(t).words for t in docs]
        tokenize_s[name] = time.process_time() - started
    train_words = [w for words in train_words_by_set.values() for w in words]
    train_mb = {name: sum(len(t.encode("utf-8")) for t in docs) / 1e6 for name, docs in train_sets.items()}
    total_mb = sum(train_mb.values())

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

    ours_lookup_by_set, ours_windows_by_set = {}, {}
    for name, words in train_words_by_set.items():
        started = time.process_time()
        ours_windows_by_set[name] = [len(table.match(ngram_hashes(word_hashes(w), n), n)[0]) for w in words]
        ours_lookup_by_set[name] = time.process_time() - started
    ours_windows = [c for name in train_sets for c in ours_windows_by_set[name]]
    ours_lookup = sum(ours_lookup_by_set.values())
    started = time.process_time()
    peer_windows = [sum(" ".join(w[i:i + n]) in peer for i in range(len(w) - n + 1)) for w in train_words]
    peer_lookup = time.process_time() - started

    with tempfile.TemporaryDirectory(prefix="decont_bench_") as tmp:
        dt = run_datatrove(eval_texts, train_sets, n, Path(tmp))

    count = table.size()
    print(f"eval {n}-grams: {count:,} unique (peer set: {len(peer):,}; datatrove: {dt['ngrams']:,}); training: "
          f"{len(train_words):,} docs, {total_mb:.1f} MB; our tokenization {eval_tokenize_s:.1f} s eval, "
          f"{sum(tokenize_s.values()):.1f} s training")
    print(f"memory per eval n-gram: ours {ours_bytes / count:.1f} B, python set of strings "
          f"{peer_bytes / len(peer):.1f} B ({peer_bytes / ours_bytes:.1f}x ours), datatrove's loaded index "
          f"{dt['index_bytes'] / dt['ngrams']:.1f} B ({dt['index_bytes'] / dt['ngrams'] / (ours_bytes / count):.1f}x ours)")
    print(f"table build, words given: ours {ours_build:.2f} s, set {peer_build:.2f} s  -> {peer_build / ours_build:.2f}x")
    print(f"lookup, words given (hash + match, all windows): ours {ours_lookup:.2f} s ({total_mb / ours_lookup:.1f} MB/s), "
          f"set {peer_lookup:.2f} s ({total_mb / peer_lookup:.1f} MB/s)  -> {peer_lookup / ours_lookup:.2f}x")
    ours_e2e_build = eval_tokenize_s + ours_build
    print(f"end to end vs datatrove (tokenization included): build ours {ours_e2e_build:.2f} s, datatrove "
          f"{dt['build_s']:.2f} s -> {dt['build_s'] / ours_e2e_build:.2f}x")
    lookup_e2e = {}
    for name in train_sets:
        ours_s = tokenize_s[name] + ours_lookup_by_set[name]
        lookup_e2e[name] = {"ours_cpu_s": ours_s, "datatrove_cpu_s": dt["lookup_s"][name],
                            "ours_mb_per_cpu_s": train_mb[name] / ours_s,
                            "datatrove_mb_per_cpu_s": train_mb[name] / dt["lookup_s"][name],
                            "speed_ours_over_datatrove": dt["lookup_s"][name] / ours_s,
                            "flagged_ours": sum(map(bool, ours_windows_by_set[name])),
                            "flagged_datatrove": sum(dt["flagged"][name]),
                            "flagged_by_both": sum(bool(o) and d for o, d in zip(ours_windows_by_set[name],
                                                                                  dt["flagged"][name]))}
        e = lookup_e2e[name]
        print(f"  lookup {name:5s} ({train_mb[name]:.1f} MB, {len(train_sets[name])} docs): ours {ours_s:.2f} s "
              f"({e['ours_mb_per_cpu_s']:.2f} MB/s), datatrove {dt['lookup_s'][name]:.2f} s "
              f"({e['datatrove_mb_per_cpu_s']:.2f} MB/s) -> {e['speed_ours_over_datatrove']:.2f}x; flagged ours "
              f"{e['flagged_ours']}, datatrove {e['flagged_datatrove']}, both {e['flagged_by_both']}")
    agree = ours_windows == peer_windows
    print(f"contaminated training documents: ours {sum(map(bool, ours_windows)):,}, set "
          f"{sum(map(bool, peer_windows)):,}; matched windows: ours {sum(ours_windows):,}, set "
          f"{sum(peer_windows):,} ({'agree on every document' if agree else 'DISAGREE'})")
    write_result(
        "decontamination_lookup",
        compares=f"eval {n}-gram table (hashed numpy) vs datatrove's NGramsDecontIndexer/NGramsDecontFilter (same "
        "words, its own normalization) and a Python set of n-gram strings, same eval items and training documents: "
        "memory per n-gram, build and lookup CPU seconds, flagged documents",
        headline={"memory datatrove/ours": dt["index_bytes"] / dt["ngrams"] / (ours_bytes / count),
                  "build speed ours/datatrove": dt["build_s"] / ours_e2e_build,
                  "lookup speed ours/datatrove, clean code (all windows both)":
                      lookup_e2e["code"]["speed_ours_over_datatrove"],
                  "lookup speed ours/datatrove, contaminated multi": lookup_e2e["multi"]["speed_ours_over_datatrove"],
                  "same hits as the set on every document": agree},
        figures={"ngram": n, "eval_items": len(eval_texts), "eval_ngrams": count, "training_docs": len(train_words),
                 "training_mb": train_mb,
                 "our_tokenization_cpu_s": {"eval": eval_tokenize_s, **tokenize_s},
                 "bytes_per_ngram": {"ours": ours_bytes / count, "python_set": peer_bytes / len(peer),
                                     "datatrove": dt["index_bytes"] / dt["ngrams"]},
                 "words_given": {"build_cpu_s": {"ours": ours_build, "python_set": peer_build},
                                 "lookup_cpu_s": {"ours": ours_lookup, "python_set": peer_lookup},
                                 "lookup_mb_per_cpu_s": {"ours": total_mb / ours_lookup,
                                                         "python_set": total_mb / peer_lookup}},
                 "vs_datatrove": {"eval_ngrams_datatrove": dt["ngrams"],
                                  "build_cpu_s": {"ours": ours_e2e_build, "datatrove": dt["build_s"]},
                                  "lookup": lookup_e2e},
                 "contaminated_docs": {"ours": sum(map(bool, ours_windows)), "python_set": sum(map(bool, peer_windows))},
                 "matched_windows": {"ours": sum(ours_windows), "python_set": sum(peer_windows)}})
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
