"""``beam_pipeline.py tokenizer``: train on a balanced sample of OUT/curated, save to OUT/tokenizer.

Both may be local paths or URLs of a Beam filesystem (``gs://``, ``s3://``): the sample is streamed
from the curated Parquet in one pass (``corpus/tokenizer/sample.py``), and the tokenizer is written
locally and copied up file by file, each appearing under its name only when complete.

Not a Beam pipeline: BPE training runs on one machine over a sample (pre-tokenization on
``--workers`` processes, HF's trainer multi-threaded); the sample is what keeps it bounded, not the
corpus size.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from corpus.completion import clear_marker, require_complete, write_marker
from corpus.storage import create_atomic, is_url, join, split
from corpus.tokenizer.morphemes import BOUNDARY_PRESETS, DEFAULT_PRESET
from corpus.tokenizer.pretokenize import PretokenizerSettings
from corpus.tokenizer.sample import DEFAULT_CHARS_PER_BUCKET, BalancedSample
from corpus.tokenizer.training import DEFAULT_MIN_FREQUENCY, DEFAULT_VOCAB_SIZE, train
from corpus.writable import require_writable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--curated", required=True, metavar="OUT/curated",
                        help="curated Parquet root with korean/, multilingual/, code/ (a path or gs://, s3://, ...)")
    parser.add_argument("--output", required=True, metavar="OUT/tokenizer", help="a path or an object-store URL")
    parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE,
                        help=f"including special and byte tokens (default {DEFAULT_VOCAB_SIZE:,})")
    parser.add_argument("--sample-chars", type=int, default=DEFAULT_CHARS_PER_BUCKET,
                        help="characters per bucket at most (default %(default)s)")
    parser.add_argument("--sample-shards", type=int, default=None, metavar="N",
                        help="read only the first N shards per bucket (hash-partitioned: a uniform sample)")
    parser.add_argument("--sample-seed", type=int, default=0,
                        help="seed of the document ranking that picks the sample (default %(default)s)")
    parser.add_argument("--min-frequency", type=int, default=DEFAULT_MIN_FREQUENCY)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes that pre-tokenize the sample (default: all cores, %(default)s here); "
                             "the tokenizer does not depend on it")
    parser.add_argument("--morpheme-boundaries", choices=sorted(BOUNDARY_PRESETS), default=DEFAULT_PRESET,
                        help="which MeCab tag transitions cut Hangul runs (default %(default)s; see README)")
    parser.add_argument("--allow-incomplete-input", action="store_true",
                        help="train on a curated directory whose curate run did not finish (no completion marker)")


def curate_output(curated: str | Path) -> str:
    """OUT for ``OUT/curated``: where curate wrote stats.json and its completion marker."""
    location = str(curated).rstrip("/") if is_url(curated) else str(Path(curated))
    return split(location)[0] or "."


def run(args: argparse.Namespace) -> int:
    require_complete(curate_output(args.curated), "curate", args.allow_incomplete_input)
    require_writable(args.output)
    clear_marker(args.output)  # a rerun that fails must not leave the previous marker beside new files
    try:
        with BalancedSample(args.curated, chars_per_bucket=args.sample_chars, max_shards=args.sample_shards,
                            seed=args.sample_seed) as sample:
            settings = PretokenizerSettings(morpheme_boundaries=args.morpheme_boundaries)
            tokenizer = train(sample.texts(), args.vocab_size, settings=settings, min_frequency=args.min_frequency,
                              num_workers=args.workers)
            report = sample.report()
    except ValueError as exc:  # no curated text, a vocabulary too small: the message names it
        raise SystemExit(f"tokenizer: {exc}") from exc
    tokenizer.metadata["training"] = {"sample": report, "vocab_size_requested": args.vocab_size,
                                      "min_frequency": args.min_frequency}
    with tempfile.TemporaryDirectory(prefix="korpus-tokenizer-") as tmp:
        out = tokenizer.save(Path(tmp) if is_url(args.output) else Path(args.output))
        config = json.loads((out / "korpus_tokenizer.json").read_text(encoding="utf-8"))
        if is_url(args.output):
            _upload(out, args.output)
    summary = {"output": str(args.output), "vocab_size": tokenizer.vocab_size,
               "tokenizer_json_sha256": config["tokenizer_json_sha256"],
               "sample": {b: {"docs": s["docs"], "chars": s["chars"]}
                          for b, s in config["training"]["sample"]["buckets"].items()}}
    write_marker(args.output, "tokenizer", {"vocab_size": tokenizer.vocab_size,
                                            "tokenizer_json_sha256": config["tokenizer_json_sha256"]})
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


def _upload(local: Path, url: str) -> None:
    for path in sorted(local.iterdir()):
        with open(path, "rb") as source, create_atomic(join(url, path.name)) as sink:
            shutil.copyfileobj(source, sink)
