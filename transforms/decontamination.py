"""Decontamination: remove training text that overlaps evaluation sets.

A training document is contaminated by an eval set when it contains any word n-gram (default 13,
GPT-3's choice: Brown et al. 2020, appendix C) of one of the set's items, or, for an item shorter
than ``ngram`` words but at least ``min_item_words`` long, the whole item. Items shorter than
``min_item_words`` (8, GPT-3's lower bound for its per-benchmark n) are skipped and counted: a
two-word NSMC review such as "최고 영화" occurs in countless innocent documents. Words and hashes:
``transforms/eval_ngrams.py`` (MeCab morphemes for Korean, punctuation/whitespace/case folded).

``action``:
- ``reject`` (default): the document is rejected ``decontam:<eval set>`` (the first matching set in
  config order; the detail lists all of them and the first matched text).
- ``cut``: GPT-3's filter: every matched span is removed together with ``cut_margin_chars`` on each
  side (widened to whitespace); the pieces left are kept, joined by blank lines, except pieces
  shorter than ``min_piece_chars``; a document cut into more than ``max_pieces`` pieces, or with
  nothing left, is rejected as in ``reject``.

Data flow: eval files are listed and checked in the launching process (a missing, empty or
field-less file is an error before any data is read); inside the pipeline each file is read and
hashed by a worker, the hashes are combined into one sorted ``NgramTable`` (8 bytes + 2 bytes per
n-gram: 10 million n-grams ~ 100 MB) and reach every worker as a singleton side input. Training
data is never collected.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Iterable, Literal

import apache_beam as beam
import numpy as np

from corpus.compression import strip_compression
from corpus.config import ConfigError
from corpus.counters import LazyCounters
from corpus.document import Document, Rejection
from transforms.eval_ngrams import NgramTable, build_table, eval_item_words, ngram_hashes, word_hashes, words_of
from transforms.record_files import FORMATS, RecordFileError, expand_globs, field_values, iter_records
from transforms.curate_step import KEPT, REJECTED, STATS

NAME = "decontam"
HITS = "hits"


@dataclass
class EvalSetConfig:
    """One evaluation set: its name (the rejection reason's suffix), files (globs), and the fields
    holding its text, as dotted paths through nested JSON (``data.paragraphs.context``)."""

    name: str = ""
    paths: list[str] = field(default_factory=list)
    text_fields: list[str] = field(default_factory=lambda: ["text"])
    format: str = "auto"  # auto | jsonl | json | parquet | tsv | text (transforms/record_files.py)


@dataclass
class DecontaminationConfig:
    """Defaults: GPT-3's decontamination (Brown et al. 2020, appendix C): 13-gram overlap,
    n at least 8 for short items, and for cutting 200 characters around each match, pieces under
    200 characters dropped, documents in more than 10 pieces removed."""

    eval_sets: list[EvalSetConfig] = field(default_factory=list)
    ngram: int = 13
    min_item_words: int = 8
    action: Literal["reject", "cut"] = "reject"
    cut_margin_chars: int = 200
    min_piece_chars: int = 200
    max_pieces: int = 10
    cli_text_fields: list[str] = field(default_factory=lambda: ["text"])  # for --decontaminate files
    max_listed_ids: int = 10_000  # stats.json lists at most this many affected ids per eval set


def with_cli_eval_sets(config: DecontaminationConfig, globs: list[str]) -> DecontaminationConfig:
    """``config`` plus one eval set per file matched by ``curate --decontaminate GLOB``, named by
    the file name without extensions (``ratings_test.txt`` -> ``ratings_test``)."""
    added = [EvalSetConfig(name=_set_name(path), paths=[path], text_fields=list(config.cli_text_fields))
             for path in expand_globs(globs)] if globs else []
    return dataclasses.replace(config, eval_sets=[*config.eval_sets, *added])


def _set_name(path: str) -> str:
    name = strip_compression(PurePosixPath(path).name)
    return name.rsplit(".", 1)[0] if "." in name else name


def validate(config: DecontaminationConfig) -> list[tuple[int, str, EvalSetConfig]]:
    """Check the config and every eval file (exists, readable, at least one text item); returns
    ``(set index, path, eval set)`` per file. Raises ConfigError or RecordFileError."""
    if config.ngram < 1 or not 1 <= config.min_item_words <= config.ngram:
        raise ConfigError(f"decontamination: need ngram >= 1 and 1 <= min_item_words <= ngram, got "
                          f"ngram={config.ngram} min_item_words={config.min_item_words}")
    if config.cut_margin_chars < 0 or config.min_piece_chars < 0 or config.max_pieces < 1:
        raise ConfigError("decontamination: cut_margin_chars and min_piece_chars must be >= 0, max_pieces >= 1")
    names = [s.name for s in config.eval_sets]
    if len(names) > 65535:  # set indexes are stored as uint16 in the n-gram table
        raise ConfigError("decontamination.eval_sets: at most 65535 eval sets")
    files = []
    for index, eval_set in enumerate(config.eval_sets):
        key = f"decontamination.eval_sets[{index}]"
        if not eval_set.name or names.count(eval_set.name) > 1:
            raise ConfigError(f"{key}.name: every eval set needs a unique, non-empty name (got {eval_set.name!r})")
        if eval_set.format not in FORMATS:
            raise ConfigError(f"{key}.format: one of {list(FORMATS)}, got {eval_set.format!r}")
        if not eval_set.paths or not eval_set.text_fields:
            raise ConfigError(f"{key}: needs paths and text_fields")
        for path in expand_globs(eval_set.paths):
            if not any(True for _ in eval_items(path, eval_set)):
                raise RecordFileError(f"eval set {eval_set.name!r}: {path} has no text in fields "
                                      f"{eval_set.text_fields} (empty file or wrong text_fields)")
            files.append((index, path, eval_set))
    return files


def eval_items(path: str, eval_set: EvalSetConfig) -> Iterable[str]:
    """The non-blank text items of one eval file (every configured field of every record)."""
    for record in iter_records(path, eval_set.format):
        for text_field in eval_set.text_fields:
            for value in field_values(record, text_field):
                if value.strip():
                    yield value


@dataclass
class EvalChunk:
    """The hashes of one eval file, by n-gram length, and what its items contributed."""

    set_index: int
    hashes: dict[int, np.ndarray]
    items: int = 0
    whole_items: int = 0    # shorter than ngram: matched as a whole
    skipped_items: int = 0  # shorter than min_item_words: not checked


class _HashEvalFile(beam.DoFn):
    def __init__(self, config: DecontaminationConfig):
        self.config = config

    def process(self, task: tuple[int, str, EvalSetConfig]) -> Iterable[EvalChunk]:
        set_index, path, eval_set = task
        n, minimum = self.config.ngram, self.config.min_item_words
        parts: dict[int, list[np.ndarray]] = {}
        chunk = EvalChunk(set_index, {})
        for item in eval_items(path, eval_set):
            words = eval_item_words(item).words
            chunk.items += 1
            if len(words) < minimum:
                chunk.skipped_items += 1
                continue
            length = min(n, len(words))
            chunk.whole_items += length < n
            parts.setdefault(length, []).append(ngram_hashes(word_hashes(words), length))
        chunk.hashes = {length: np.unique(np.concatenate(arrays)) for length, arrays in parts.items()}
        yield chunk


class _BuildTable(beam.CombineFn):
    """All eval chunks -> one NgramTable, plus per-set item counts in ``summary``."""

    def __init__(self, names: list[str]):
        self.names = names

    def create_accumulator(self) -> list[EvalChunk]:
        return []

    def add_input(self, acc: list[EvalChunk], chunk: EvalChunk) -> list[EvalChunk]:
        acc.append(chunk)
        return acc

    def merge_accumulators(self, accumulators) -> list[EvalChunk]:
        return [chunk for acc in accumulators for chunk in acc]

    def extract_output(self, acc: list[EvalChunk]) -> tuple[NgramTable, dict]:
        table = build_table(self.names, [(n, c.set_index, h) for c in acc for n, h in c.hashes.items()])
        summary = {name: {"files": 0, "items": 0, "whole_items": 0, "skipped_short_items": 0, "ngrams": 0}
                   for name in self.names}
        for chunk in acc:
            entry = summary[self.names[chunk.set_index]]
            entry["files"] += 1
            entry["items"] += chunk.items
            entry["whole_items"] += chunk.whole_items
            entry["skipped_short_items"] += chunk.skipped_items
        for n in table.lengths():
            for set_index, count in zip(*np.unique(table.sets[n], return_counts=True)):
                summary[self.names[int(set_index)]]["ngrams"] += int(count)
        return table, summary


@dataclass
class Hit:
    """One contaminated document: which eval sets, how many n-gram windows, what was done."""

    doc_id: str
    eval_sets: list[str]
    matched_windows: int
    action: str  # "rejected" | "cut"


class _Decontaminate(beam.DoFn):
    def __init__(self, config: DecontaminationConfig):
        self.config = config
        self._counters = LazyCounters(NAME)

    def process(self, doc: Document, table_and_summary: tuple[NgramTable, dict]) -> Iterable:
        self._counters.inc("in")
        table, _ = table_and_summary
        try:
            outcome = self.decide(doc, table)
        except Exception as exc:  # a pathological document must not lose the run
            self._counters.inc("rejected:exception")
            detail = f"{type(exc).__name__}: {exc}"[:500]
            yield beam.pvalue.TaggedOutput(REJECTED, Rejection(doc, f"{NAME}:exception", detail))
            return
        if outcome is None:
            self._counters.inc("kept")
            yield doc
            return
        result, hit = outcome
        yield beam.pvalue.TaggedOutput(HITS, hit)
        if isinstance(result, Rejection):
            self._counters.inc(f"rejected:{hit.eval_sets[0]}")
            yield beam.pvalue.TaggedOutput(REJECTED, result)
        else:
            self._counters.inc("cut")
            yield result

    def decide(self, doc: Document, table: NgramTable) -> tuple[Document | Rejection, Hit] | None:
        """None for a clean document; else the kept (cut) document or the rejection, and the hit."""
        words = words_of(doc.text)
        hashes = word_hashes(words.words)
        windows: list[tuple[int, int]] = []  # (first word, end word) of every matched window
        set_indexes: set[int] = set()
        for n in table.lengths():
            positions, sets = table.match(ngram_hashes(hashes, n), n)
            windows.extend((int(p), int(p) + n) for p in np.unique(positions))
            set_indexes.update(sets.tolist())
        if not windows:
            return None
        names = [table.names[i] for i in sorted(set_indexes)]
        first = min(windows)
        excerpt = words.text[words.spans[first[0]][0]:words.spans[first[1] - 1][1]][:200]
        rejection = Rejection(doc, f"{NAME}:{names[0]}",
                              f"eval_sets={','.join(names)} windows={len(windows)} first={excerpt!r}")
        if self.config.action == "cut":
            pieces = cut_pieces(words.text, _merged_spans(windows, words.spans), self.config)
            if pieces:
                kept = dataclasses.replace(doc, text="\n\n".join(pieces))
                return kept, Hit(doc.id, names, len(windows), "cut")
        return rejection, Hit(doc.id, names, len(windows), "rejected")


def _merged_spans(windows: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans of the matched word windows, overlapping windows merged first (a copied
    passage of k words is k - n + 1 overlapping windows)."""
    merged: list[list[int]] = []
    for first, end in sorted(windows):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([first, end])
    return [(spans[first][0], spans[end - 1][1]) for first, end in merged]


def cut_pieces(text: str, spans: list[tuple[int, int]], config: DecontaminationConfig) -> list[str]:
    """The text outside the matched ``spans`` (each widened by the margin to whitespace), minus
    short pieces; empty if the text falls into more than ``max_pieces`` pieces."""
    margin = config.cut_margin_chars
    widened = []
    for start, end in sorted(spans):
        start, end = max(0, start - margin), min(len(text), end + margin)
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        if widened and start <= widened[-1][1]:
            widened[-1] = (widened[-1][0], max(widened[-1][1], end))
        else:
            widened.append((start, end))
    bounds = [0, *(x for span in widened for x in span), len(text)]
    pieces = [text[bounds[i]:bounds[i + 1]].strip() for i in range(0, len(bounds), 2)]
    pieces = [p for p in pieces if p]
    if len(pieces) > config.max_pieces:
        return []
    return [p for p in pieces if len(p) >= config.min_piece_chars]


def _empty_hits() -> dict:
    return {"documents": 0, "rejected": 0, "cut": 0, "matched_windows": 0, "ids": []}


class _HitStats(beam.CombineFn):
    """Per eval set: contaminated documents, rejected/cut counts, matched windows, affected ids."""

    def __init__(self, names: list[str], max_ids: int):
        self.names = names
        self.max_ids = max_ids

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, acc: dict, hit: Hit) -> dict:
        for name in hit.eval_sets:
            entry = acc.setdefault(name, _empty_hits())
            entry["documents"] += 1
            entry["rejected" if hit.action == "rejected" else "cut"] += 1
            entry["matched_windows"] += hit.matched_windows
            entry["ids"].append(hit.doc_id)
        return acc

    def merge_accumulators(self, accumulators) -> dict:
        merged: dict = {}
        for acc in accumulators:
            for name, entry in acc.items():
                into = merged.setdefault(name, _empty_hits())
                for key, value in entry.items():
                    into[key] += value
        return merged

    def extract_output(self, acc: dict) -> dict:
        out = {}
        for name in self.names:
            entry = acc.get(name) or _empty_hits()
            ids = sorted(entry["ids"])
            out[name] = {**entry, "ids": ids[: self.max_ids], "ids_truncated": len(ids) > self.max_ids}
        return out


def _stats(hits: dict, eval_summary: tuple[NgramTable, dict], config: DecontaminationConfig) -> dict:
    _, summary = eval_summary
    return {"ngram": config.ngram, "min_item_words": config.min_item_words, "action": config.action,
            "eval_sets": {name: {**summary[name], "hits": hits[name]} for name in summary}}


class DecontaminationStep(beam.PTransform):
    """Rejects (or cuts) documents overlapping the configured eval sets; see the module docstring."""

    def __init__(self, config: DecontaminationConfig):
        super().__init__(label=NAME)
        if not config.eval_sets:
            raise ConfigError("decontamination: no eval sets (use --decontaminate GLOB or decontamination.eval_sets)")
        self.config = config
        self.files = validate(config)
        self.names = [s.name for s in config.eval_sets]

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        table = (docs.pipeline
                 | "EvalFiles" >> beam.Create(self.files)
                 | "SpreadFiles" >> beam.Reshuffle()
                 | "HashEvalFiles" >> beam.ParDo(_HashEvalFile(self.config))
                 | "BuildTable" >> beam.CombineGlobally(_BuildTable(self.names)))
        table_side = beam.pvalue.AsSingleton(table)
        out = docs | "Match" >> beam.ParDo(_Decontaminate(self.config), table_side).with_outputs(
            REJECTED, HITS, main=KEPT)
        stats = (out[HITS]
                 | "HitStats" >> beam.CombineGlobally(_HitStats(self.names, self.config.max_listed_ids))
                 | "WithEvalSets" >> beam.Map(_stats, table_side, self.config))
        return {KEPT: out[KEPT], REJECTED: out[REJECTED], STATS: stats}
