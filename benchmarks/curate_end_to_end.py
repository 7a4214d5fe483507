#!/usr/bin/env python
"""The whole curate against datatrove's closest pipeline, on the same documents, 2 workers each,
at 1x and 8x the shared sample (the unique recombined documents of ``benchmarks/scaled_input.py``).

Ours: ``beam_pipeline.py curate`` with the default config (normalize, fastText LID, length,
Gopher repetition and quality, duplicate source ids, exact dedup, MinHash with verified candidate
pairs, Presidio-based PII scrubbing, knowledge scoring), DirectRunner with 2 worker processes,
every phase and the published parts, stats.json and markers.

datatrove 0.10.1, ``LocalPipelineExecutor(workers=2)``, one task per input file, its documented
multi-step layout: (1) read → ``LanguageFilter`` (the same ``lid.176.ftz``) → length →
``GopherRepetitionFilter`` → ``GopherQualityFilter`` → Parquet; (2) ``ExactDedupSignature``;
(3) ``ExactFindDedups``; (4) ``ExactDedupFilter`` → Parquet; (5) ``MinhashDedupSignature``
(16 bands × 8 rows, as ours); (6) ``MinhashDedupBuckets``; (7) ``MinhashDedupCluster``;
(8) ``MinhashDedupFilter`` → ``PIIFormatter`` → Parquet. Its text filters let code documents pass
(ours applies code-specific length/repetition/quality rules).

Word tokenizers, like with like: by default each datatrove filter splits a document with the word
tokenizer FineWeb-2 uses for the language its ``LanguageFilter`` found (datatrove's own Kiwi and
spaCy classes, the regex tokenizer where datatrove has none this project can load), which are the
tokenizers our filters use (``corpus.words.filter_word_tokenizer``); they are most of either side's
time. Ours tokenizes a document once for all its filters, datatrove once per filter: that is its
design, not a handicap added here. ``--datatrove-words regex`` gives every datatrove filter the
regex tokenizer instead (a cheaper pipeline than FineWeb-2's, not a like-for-like peer).

Not like for like, in datatrove's favour: its PII step is two regexes (emails, IPs) where ours runs
Presidio-style recognizers for 12 types; it does no knowledge scoring, no verification of MinHash
candidates, no accounting, rejected rows or restart markers; it keeps code and text in one stream.
Figures go to ``benchmarks/results/curate_end_to_end.json``.

    .venv/bin/python benchmarks/curate_end_to_end.py [--scales 1 8] [--datatrove-words fineweb2|regex]

``benchmarks/scale.py --curate-peer`` measures the same comparison inside the scale run, on the
scale run's own curate (so the two benchmarks do not curate the same input twice).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from process_tree import run_measured  # noqa: E402  (sibling module)
from benchmarks.record import write_result  # noqa: E402
from scaled_input import generate  # noqa: E402  (sibling module)

WORKERS = 2  # each side's worker processes; every source is written in at least this many files
BEAM_ARGS = [f"--direct_num_workers={WORKERS}", "--direct_running_mode=multi_processing"]
BANDS, ROWS = 16, 8


def curate_command(data: Path, out: Path) -> list[str]:
    """``beam_pipeline.py curate`` on a ``scaled_input`` folder, default config, 2 worker processes."""
    return [sys.executable, str(ROOT / "beam_pipeline.py"), "curate", "--input", str(data / "text" / "*.jsonl.gz"),
            "--code-input", str(data / "code" / "*.jsonl.gz"), "--output", str(out), *BEAM_ARGS]


def run_ours(data: Path, out: Path) -> dict:
    run = run_measured(curate_command(data, out), env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if run.returncode != 0:
        raise SystemExit(f"curate failed:\n{run.output_tail}")
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    return {"seconds": round(run.seconds, 2), "peak_pss_mb": round(run.peak_pss_bytes / 1e6, 1),
            "kept": stats["totals"]["kept"], "read": stats["totals"]["read"]}


class _Reader:
    """datatrove step: this benchmark's JSONL.gz files with the standard library's json; rank r
    reads file r (one task per file)."""

    def __init__(self, files: list[str]):
        self.files = files

    def __call__(self, data, rank: int, world_size: int):
        import gzip

        from datatrove.data import Document

        for path in self.files[rank::world_size]:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                for line in fh:
                    record = json.loads(line)
                    kind = "code" if "/code/" in path else "text"
                    yield Document(text=record["text"], id=record["id"],
                                   metadata={"source": record["source"], "kind": kind})


def _text(doc) -> str:
    return doc.text


@functools.lru_cache(maxsize=None)
def fineweb2_words(lang: str):
    """The word tokenizer FineWeb-2 splits ``lang`` with, as a datatrove pipeline builds it (no
    cache in front), or the regex one where datatrove has none this project can load: the
    tokenizers behind our ``corpus.words.filter_word_tokenizer``; one per language and process."""
    from corpus.words import RegexWordTokenizer, fineweb2_word_tokenizer

    return fineweb2_word_tokenizer(lang) or RegexWordTokenizer(lang)


class _DocumentLanguageLength:
    """``DatatroveLength`` with the word tokenizer of the document's language."""

    def __init__(self):
        from curate_vs_datatrove import DatatroveLength

        self.length = DatatroveLength(None)

    def __call__(self, doc) -> bool:
        self.length.words = fineweb2_words(doc.metadata["language"])
        return self.length(doc)


def _datatrove_pipeline(data: Path, work: Path, words: str) -> list:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.exact_dedup import (ExactDedupConfig, ExactDedupFilter, ExactDedupSignature,
                                                      ExactFindDedups)
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter, LambdaFilter, LanguageFilter
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.hashing import HashConfig

    from corpus.words import RegexWordTokenizer
    from curate_vs_datatrove import DatatroveLength
    from transforms.langid import LangIdConfig, lid176_model_path

    files = sorted(str(p) for p in (data / "text").glob("*.jsonl.gz")) + sorted(
        str(p) for p in (data / "code").glob("*.jsonl.gz"))
    tasks = len(files)
    regex_words = RegexWordTokenizer("xx")

    def text_only(cls):
        """The filter for text documents, splitting words as ``words`` says; code passes (ours has
        code-specific rules instead)."""
        class TextOnly(cls):
            def filter(self, doc):
                if doc.metadata.get("kind") == "code":
                    return True
                if words == "fineweb2" and "language" in doc.metadata:
                    self.language = fineweb2_words(doc.metadata["language"])
                return super().filter(doc)
        TextOnly.__name__ = cls.__name__
        return TextOnly

    LanguageFilter, LambdaFilter = text_only(LanguageFilter), text_only(LambdaFilter)
    GopherRepetitionFilter, GopherQualityFilter = text_only(GopherRepetitionFilter), text_only(GopherQualityFilter)
    length = _DocumentLanguageLength() if words == "fineweb2" else DatatroveLength(regex_words)
    lid = LanguageFilter(language_threshold=LangIdConfig().min_score_multilingual)
    lid.model.MODEL_URL = str(lid176_model_path())  # a local copy into HF_ASSETS_CACHE, no download
    exact = ExactDedupConfig(content_getter=_text, hash_config=HashConfig(hash_fc="sha1", precision=64))  # no xxhash
    minhash = MinhashConfig(num_buckets=BANDS, hashes_per_bucket=ROWS, hash_config=HashConfig(precision=32, hash_fc="sha1"))
    signature = MinhashDedupSignature(output_folder=str(work / "mh_sigs"), config=minhash)
    signature.word_tokenizer = regex_words  # shingles: both sides use a cheap split (ours: corpus.words)

    def executor(steps: list, n: int, name: str) -> LocalPipelineExecutor:
        return LocalPipelineExecutor(pipeline=steps, tasks=n, workers=WORKERS, logging_dir=str(work / "logs" / name),
                                     skip_completed=False)

    filtered, exact_kept = str(work / "filtered"), str(work / "exact_kept")
    return [
        executor([_Reader(files), lid, LambdaFilter(length), GopherRepetitionFilter(language=regex_words),
                  GopherQualityFilter(language=regex_words), ParquetWriter(filtered)], tasks, "1-filter"),
        executor([ParquetReader(filtered), ExactDedupSignature(output_folder=str(work / "ex_sigs"), config=exact)],
                 tasks, "2-exact-signature"),
        executor([ExactFindDedups(data_folder=str(work / "ex_sigs"), output_folder=str(work / "ex_dups"), config=exact)],
                 1, "3-exact-find"),
        executor([ParquetReader(filtered), ExactDedupFilter(data_folder=str(work / "ex_dups"), config=exact),
                  ParquetWriter(exact_kept)], tasks, "4-exact-filter"),
        executor([ParquetReader(exact_kept), signature], tasks, "5-minhash-signature"),
        executor([MinhashDedupBuckets(input_folder=str(work / "mh_sigs"), output_folder=str(work / "mh_buckets"),
                                      config=minhash)], BANDS, "6-minhash-buckets"),
        executor([MinhashDedupCluster(input_folder=str(work / "mh_buckets"), output_folder=str(work / "mh_remove"),
                                      config=minhash)], 1, "7-minhash-cluster"),
        executor([ParquetReader(exact_kept), MinhashDedupFilter(input_folder=str(work / "mh_remove")), PIIFormatter(),
                  ParquetWriter(str(work / "final"))], tasks, "8-minhash-filter-pii"),
    ]


def run_datatrove(data: Path, work: Path, words: str = "fineweb2") -> dict:
    import pyarrow.parquet as pq

    os.environ["HF_ASSETS_CACHE"] = str(work / "assets")
    start = time.perf_counter()
    for executor in _datatrove_pipeline(data, work, words):
        executor.run()
    seconds = time.perf_counter() - start
    kept = sum(pq.read_metadata(p).num_rows for p in (work / "final").rglob("*.parquet"))
    return {"seconds": round(seconds, 2), "kept": kept, "word_tokenizers": words}


def compare(mb: float, datatrove: dict, ours: dict) -> dict:
    """One scale's figures; prints the ratio."""
    ratio = datatrove["seconds"] / ours["seconds"]
    print(f"  curate vs datatrove ({datatrove['word_tokenizers']} words): datatrove {datatrove['seconds']:.1f} s "
          f"kept {datatrove['kept']}, korpus {ours['seconds']:.1f} s kept {ours['kept']}; "
          f"ratio ours/datatrove (MB/s) {ratio:.2f} (target at 8x: >= 1.0)", flush=True)
    return {"input_text_mb": round(mb, 2), "datatrove": datatrove, "ours": ours, "ratio": round(ratio, 3)}


def record(results: dict, words: str) -> None:
    write_result("curate_end_to_end",
                 compares=f"the whole curate, ours (Beam DirectRunner, {WORKERS} workers) vs datatrove's closest multi-stage "
                 f"pipeline (LocalPipelineExecutor, {WORKERS} workers, {words} word tokenizers), same generated documents",
                 headline={f"ours/datatrove MB/s at {name}": r["ratio"] for name, r in results.items()},
                 figures={"scales": results, "workers": WORKERS, "datatrove_words": words})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 8])
    parser.add_argument("--file-mb", type=float, default=4.0)
    parser.add_argument("--datatrove-words", choices=["fineweb2", "regex"], default="fineweb2")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="curate_e2e_") as tmp:
        for scale in args.scales:
            data = Path(tmp) / f"input-{scale:g}x"
            mb = generate(scale, data, args.file_mb, min_files=WORKERS) / 1e6
            print(f"{scale:g}x: {mb:.1f} MB of text", flush=True)
            datatrove = run_datatrove(data, Path(tmp) / f"datatrove-{scale:g}x", args.datatrove_words)
            ours = run_ours(data, Path(tmp) / f"ours-{scale:g}x")
            results[f"{scale:g}x"] = compare(mb, datatrove, ours)
            shutil.rmtree(data)
    record(results, args.datatrove_words)
    return 0


if __name__ == "__main__":
    sys.exit(main())
