#!/usr/bin/env python
"""What the default per-document filters keep of the sample data, and how accurate LID is.

Runs langid -> length -> repetition -> fineweb_quality -> quality (default config, or ``--config``) over ../shared/data
(ko, multi as text; code as code) and prints, per file: documents, kept fraction, rejections by
reason; and lid.176's accuracy against the records' given ``lang`` (trustworthy there, see
../shared/data/SOURCES.md) for the windowed sample we score and, for comparison, the whole text
(what datatrove's LanguageFilter scores) and the first line.

    .venv/bin/python benchmarks/filter_funnel.py [--config configs/demo.yaml]
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import write_result  # noqa: E402
from corpus.config import load  # noqa: E402
from corpus.document import CODE_KIND, TEXT_KIND, Document  # noqa: E402
from transforms.config import CurateConfig  # noqa: E402
from transforms.fineweb_quality import FineWebQualityFilter  # noqa: E402
from transforms.langid import LanguageIdFilter  # noqa: E402
from transforms.length import LengthFilter  # noqa: E402
from transforms.quality import QualityFilter  # noqa: E402
from transforms.repetition import RepetitionFilter  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"


def records(name: str) -> list[dict]:
    with gzip.open(SHARED_DATA / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=None, help="curate config YAML (default: the defaults)")
    config = load(CurateConfig, parser.parse_args().config)
    lid = LanguageIdFilter(config.langid)
    chain = [lid, LengthFilter(config.length), RepetitionFilter(config.repetition),
             FineWebQualityFilter(config.fineweb_quality), QualityFilter(config.quality)]
    for doc_filter in chain:
        doc_filter.setup()
    whole_text = LanguageIdFilter(dataclasses.replace(config.langid, sample_windows=1, window_chars=10**12))
    whole_text.setup()
    lid_hits = {"windows": 0, "whole text": 0, "first line": 0}
    lid_total = 0
    funnel = {}
    for name in ("ko", "multi", "code"):
        kind = CODE_KIND if name == "code" else TEXT_KIND
        reasons: collections.Counter[str] = collections.Counter()
        rows = records(name)
        for record in rows:
            doc = Document(id=record["id"], text=record["text"], source=record["source"], kind=kind,
                           lang=record.get("lang", "") if kind == CODE_KIND else "")
            if kind == TEXT_KIND:
                given = record.get("lang", "ko")
                lid_total += 1
                lid_hits["windows"] += lid.predict(record["text"])[0] == given
                lid_hits["whole text"] += whole_text.predict(record["text"])[0] == given
                lid_hits["first line"] += lid.predict(record["text"].split("\n", 1)[0])[0] == given
            for doc_filter in chain:
                result = doc_filter.apply(doc)
                if isinstance(result, str):
                    reasons[f"{doc_filter.name}:{result}"] += 1
                    break
        kept = len(rows) - sum(reasons.values())
        funnel[name] = {"docs": len(rows), "kept": kept, "kept_share": kept / len(rows),
                        "rejected": dict(reasons.most_common())}
        print(f"{name:5s} docs {len(rows):5d}  kept {kept:5d} ({kept / len(rows):.1%})  "
              + ", ".join(f"{reason} {count}" for reason, count in reasons.most_common()))
    for sample, hits in lid_hits.items():
        print(f"LID accuracy vs given lang ({sample}): {hits}/{lid_total} = {hits / lid_total:.2%}")
    write_result(
        "filter_funnel",
        {"funnel": funnel, "lid_accuracy": {s: h / lid_total for s, h in lid_hits.items()}, "lid_documents": lid_total},
        compares="what the default per-document filters keep of each sample file, and lid.176's accuracy against the "
                 "records' given lang (scored windows vs the whole text vs the first line)",
        headline={**{f"kept {name}": f["kept_share"] for name, f in funnel.items()},
                  "LID accuracy (windows)": lid_hits["windows"] / lid_total,
                  "LID accuracy (whole text)": lid_hits["whole text"] / lid_total})
    return 0


if __name__ == "__main__":
    sys.exit(main())
