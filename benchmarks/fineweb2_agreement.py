#!/usr/bin/env python
"""Our document filters vs FineWeb-2's own filter chain, on the same documents: agreement and speed.

Reference (FineWeb-2's ``fineweb-2-pipeline.py``, filtering step): datatrove's
``GopherRepetitionFilter`` (paragraph and line-character rules off), ``FineWebQualityFilter``
(short-line rule off, ``char_duplicates_ratio`` 0.1) and ``GopherQualityFilter`` (two stop words),
each with the language's FineWeb-2 values and ``language=<FineWeb-2 name>``, so datatrove picks the
word tokenizer FineWeb-2 used (Kiwi for kor_Hang, spaCy + jieba for cmn_Hani, spaCy + SudachiPy for
jpn_Jpan, spaCy for deu_Latn/fra_Latn). English has no FineWeb-2 config: its reference is the same
chain with datatrove's defaults (Gopher's English values and stop words, FineWeb's line_punct_thr
and new_line_ratio). Values come from the FineWeb-2 YAML files when ``--fineweb2-configs`` names a
checkout's ``configs/`` directory, else from the table vendored from them (``corpus.fineweb2``).

Ours: ``transforms.length`` -> ``transforms.repetition`` -> ``transforms.fineweb_quality`` ->
``transforms.quality`` with the curate config's values (``--config``, default: the defaults), each
document's language and bucket taken from its record (as curation does with langid disabled):
language ID is not compared (FineWeb-2 uses GlotLID, we use lid.176; docs/filters.md).

Documents: Korean from ../shared/data/ko.jsonl.gz (``ko``) and the held-out Korean set that
``benchmarks/heldout_korean.sh`` rebuilds (``ko-heldout``; nothing was tuned on it), English,
Japanese, Chinese, German and French from ../shared/data/multi.jsonl.gz.

Agreement: the share of documents on which both chains make the same keep/reject decision, per
set; disagreements are listed with both sides' reasons. Speed: both chains filter all documents
in this process, one after the other, ``--rounds`` times alternately (the machine is shared); the
best wall time of each counts and the ratio is datatrove's time over ours. Word tokenizers are
loaded before timing on both sides. CPU seconds (this process, all threads) are printed beside
wall seconds: on a shared machine they are the stable figure. Writes benchmarks/results/fineweb2_agreement.json.

    .venv/bin/python benchmarks/fineweb2_agreement.py [--rounds R] [--heldout-ko PATH]
        [--fineweb2-configs DIR] [--config CURATE_YAML]
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"
MULTI_LANGUAGES = ("en", "ja", "zh", "de", "fr")
TARGETS = {"ko": 0.97, "ko-heldout": 0.97, "ko-all": 0.97, "other": 0.95, "speed": 1.0}


def read_sets(heldout_ko: Path) -> dict[str, list[dict]]:
    def records(path: Path) -> list[dict]:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]

    if not heldout_ko.exists():
        raise SystemExit(f"{heldout_ko} not found: build it with `bash benchmarks/heldout_korean.sh`")
    sets = {"ko": records(SHARED_DATA / "ko.jsonl.gz"), "ko-heldout": records(heldout_ko)}
    for record in sets["ko-heldout"]:
        record.setdefault("lang", "ko")
    multi = records(SHARED_DATA / "multi.jsonl.gz")
    for lang in MULTI_LANGUAGES:
        sets[lang] = [r for r in multi if r["lang"] == lang]
    return sets


# ---------------------------------------------------------------- reference: FineWeb-2's chain

def published_values(lang: str, configs: Path | None) -> dict | None:
    """FineWeb-2's values for a language in YAML terms, from the YAML files or the vendored table."""
    from corpus.fineweb2 import fineweb2_name, language_values

    name = fineweb2_name(lang)
    if name is None:
        return None
    if configs is not None:
        import yaml

        return yaml.safe_load((configs / f"{name}.yml").read_text(encoding="utf-8"))
    values = language_values(lang)
    return {
        "dup_line_frac": values.dup_line_frac, "top_n_grams": sorted(values.top_n_grams.items()),
        "dup_n_grams": sorted(values.dup_n_grams.items()), "line_punct_thr": values.line_punct_thr,
        "new_line_ratio": values.new_line_ratio, "min_avg_word_length": values.min_mean_word_length,
        "max_avg_word_length": values.max_mean_word_length,
        "max_non_alpha_words_ratio": values.min_alpha_words_frac, "stopwords": list(values.stop_words),
    }


def fineweb2_chain(lang: str, configs: Path | None) -> list:
    """FineWeb-2's three filters for ``lang``, as fineweb-2-pipeline.py builds them."""
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    from corpus.fineweb2 import fineweb2_name

    name = fineweb2_name(lang) or lang
    values = published_values(lang, configs)
    repetition = dict(dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0)
    fineweb = dict(short_line_thr=999, char_duplicates_ratio=0.1)
    gopher = dict(min_stop_words=2)
    if values is not None:
        repetition.update(dup_line_frac=values["dup_line_frac"], top_n_grams=values["top_n_grams"],
                          dup_n_grams=values["dup_n_grams"])
        fineweb.update(line_punct_thr=values["line_punct_thr"], new_line_ratio=values["new_line_ratio"])
        gopher.update(max_avg_word_length=values["max_avg_word_length"],
                      min_avg_word_length=values["min_avg_word_length"], stop_words=values["stopwords"],
                      max_non_alpha_words_ratio=values["max_non_alpha_words_ratio"])
    return [GopherRepetitionFilter(language=name, **repetition), FineWebQualityFilter(language=name, **fineweb),
            GopherQualityFilter(language=name, **gopher)]


def run_fineweb2(chain: list, record: dict) -> str | None:
    """None when the chain keeps the document, else ``filter:reason``."""
    from datatrove.data import Document

    doc = Document(text=record["text"], id=record["id"])
    for step in chain:
        try:
            verdict = step.filter(doc)
        except ZeroDivisionError:  # datatrove divides by the word count of a document without words
            return f"{step.name}:ZeroDivisionError"
        if verdict is not True:
            return f"{step.name}:{verdict[1] if isinstance(verdict, tuple) else 'rejected'}"
    return None


# ---------------------------------------------------------------- ours

def our_chain(config_path: str | None) -> list:
    from corpus.config import load
    from transforms.config import CurateConfig
    from transforms.fineweb_quality import FineWebQualityFilter
    from transforms.length import LengthFilter
    from transforms.quality import QualityFilter
    from transforms.repetition import RepetitionFilter

    config = load(CurateConfig, config_path)
    return [LengthFilter(config.length), RepetitionFilter(config.repetition),
            FineWebQualityFilter(config.fineweb_quality), QualityFilter(config.quality)]


def our_document(record: dict):
    from corpus.document import KOREAN, MULTILINGUAL, Document

    doc = Document(id=record["id"], text=record["text"], source=record.get("source", ""))
    doc.lang = record["lang"]
    doc.bucket = KOREAN if doc.lang == "ko" else MULTILINGUAL
    return doc


def run_ours(chain: list, doc) -> str | None:
    for step in chain:
        result = step.apply(doc)
        if isinstance(result, str):
            return f"{step.name}:{result}"
    return None


# ---------------------------------------------------------------- measurement

def decide_all(sets: dict[str, list[dict]], ours: list, references: dict[str, list]) -> tuple:
    """Both chains' verdicts on every document, and each chain's (wall, CPU) seconds over all of them."""
    documents = {name: [our_document(r) for r in records] for name, records in sets.items()}
    wall, cpu = time.perf_counter(), time.process_time()
    our_verdicts = {name: [run_ours(ours, doc) for doc in docs] for name, docs in documents.items()}
    our_seconds = (time.perf_counter() - wall, time.process_time() - cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    their_verdicts = {name: [run_fineweb2(references[r["lang"]], r) for r in records]
                      for name, records in sets.items()}
    their_seconds = (time.perf_counter() - wall, time.process_time() - cpu)
    return our_verdicts, their_verdicts, our_seconds, their_seconds


def agreement(records: list[dict], ours: list, theirs: list) -> dict:
    both_keep = sum(a is None and b is None for a, b in zip(ours, theirs))
    both_reject = sum(a is not None and b is not None for a, b in zip(ours, theirs))
    only_ours_keep = [(r["id"], b) for r, a, b in zip(records, ours, theirs) if a is None and b is not None]
    only_theirs_keep = [(r["id"], a) for r, a, b in zip(records, ours, theirs) if a is not None and b is None]
    n = len(records)
    return {
        "documents": n, "agreement": round((both_keep + both_reject) / n, 4) if n else None,
        "both_keep": both_keep, "both_reject": both_reject,
        "kept_ours": sum(a is None for a in ours), "kept_fineweb2": sum(b is None for b in theirs),
        "we_keep_fineweb2_rejects": [{"id": i, "fineweb2": reason} for i, reason in only_ours_keep],
        "we_reject_fineweb2_keeps": [{"id": i, "ours": reason} for i, reason in only_theirs_keep],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--heldout-ko", type=Path, default=ROOT / "benchmarks" / "data" / "heldout_ko.jsonl.gz")
    parser.add_argument("--fineweb2-configs", type=Path, default=None,
                        help="configs/ of a fineweb-2 checkout (default: corpus/fineweb2_languages.json)")
    parser.add_argument("--config", default=None, help="curate config YAML (default: the defaults)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "fineweb2_agreement.json")
    args = parser.parse_args(argv)

    sets = read_sets(args.heldout_ko)
    languages = sorted({r["lang"] for records in sets.values() for r in records})
    references = {lang: fineweb2_chain(lang, args.fineweb2_configs) for lang in languages}
    ours = our_chain(args.config)
    # Warm-up: every word tokenizer on both sides loads (Kiwi's model, spaCy, jieba, SudachiPy).
    warm = {name: records[:1] for name, records in sets.items()}
    decide_all(warm, ours, references)

    our_times, their_times = [], []
    for _ in range(args.rounds):
        our_verdicts, their_verdicts, our_seconds, their_seconds = decide_all(sets, ours, references)
        our_times.append(our_seconds)
        their_times.append(their_seconds)

    per_set = {name: agreement(records, our_verdicts[name], their_verdicts[name]) for name, records in sets.items()}
    korean = sets["ko"] + sets["ko-heldout"]
    per_set["ko-all"] = agreement(korean, our_verdicts["ko"] + our_verdicts["ko-heldout"],
                                  their_verdicts["ko"] + their_verdicts["ko-heldout"])
    n_bytes = sum(len(r["text"].encode("utf-8")) for records in sets.values() for r in records)
    speed = {"documents": sum(map(len, sets.values())), "text_mb": round(n_bytes / 1e6, 3), "rounds": args.rounds}
    for clock, index in (("wall", 0), ("cpu", 1)):
        ours_s, theirs_s = [t[index] for t in our_times], [t[index] for t in their_times]
        speed[clock] = {"ours_best_s": round(min(ours_s), 3), "fineweb2_best_s": round(min(theirs_s), 3),
                        "ours_s": [round(t, 3) for t in ours_s], "fineweb2_s": [round(t, 3) for t in theirs_s],
                        "ratio": round(min(theirs_s) / min(ours_s), 3)}
    result = {
        "benchmark": "fineweb2_agreement",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "values_source": str(args.fineweb2_configs or "corpus/fineweb2_languages.json"),
        "agreement": per_set, "speed": speed, "targets": TARGETS,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    print(f"{'set':<11} {'docs':>5} {'agree':>7} {'kept ours':>9} {'kept fw2':>8} {'we keep/fw2 rejects':>20} "
          f"{'we reject/fw2 keeps':>20}")
    for name, figures in per_set.items():
        print(f"{name:<11} {figures['documents']:>5} {figures['agreement']:>7.4f} {figures['kept_ours']:>9} "
              f"{figures['kept_fineweb2']:>8} {len(figures['we_keep_fineweb2_rejects']):>20} "
              f"{len(figures['we_reject_fineweb2_keeps']):>20}")
    for clock in ("cpu", "wall"):
        figures = speed[clock]
        print(f"speed ({clock}): ours {figures['ours_best_s']} s, FineWeb-2 chain {figures['fineweb2_best_s']} s on "
              f"{speed['documents']} documents ({speed['text_mb']} MB), best of {args.rounds}: {figures['ratio']}x "
              f"(rounds: ours {figures['ours_s']}, FineWeb-2 {figures['fineweb2_s']})")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
