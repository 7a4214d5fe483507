"""What the run report shows beyond stats.json, collected in the pipeline: ``OUT/report_data.json``.

``corpus/report.py`` reads only stats.json, this file and the manifest, never the curated or
rejected text, so a report of a 10 TB run costs what one of 20 MB does. Everything here is
bounded whatever the input size and comes from combiners (per-bundle partial combines, so no
worker sees per-document data beyond a bundle):

- histograms (counts per bin, bins below): document length before curation (kept + rejected) and
  after (kept), per bucket; languages of kept documents per bucket; the knowledge score of kept
  documents per bucket; the measured value behind each rejection whose detail is ``rule=value``
  (``MeasuredFilter``: length, repetition, quality), per step, rule and bucket;
- samples: per (bucket, outcome) -- outcome ``kept`` or a rejection reason -- the
  ``samples_per_key`` documents of smallest BLAKE2b hash of their id (independent of input order,
  sharding and worker count), their first ``sample_chars`` characters, PII-scrubbed: here where
  their source may hold raw PII (``SampleScrub``: kept text without a PII step, rejected text with
  ``pii.side_output_text: raw``), upstream otherwise; null where ``OUT/rejected/`` stores no text
  (exact duplicates, ``pii.side_output_text: omitted``). The scrubber sees ``SCRUB_CONTEXT``
  characters beyond the cut, so a phone number or e-mail address cut at the edge is still
  recognized, and a placeholder at the edge is kept whole.

Bins: ``corpus.report_bins``.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from corpus import storage
from corpus.document import Document, Rejection
from corpus.hashing import hash64
from corpus.placeholders import PLACEHOLDERS
from corpus.report_bins import KNOWLEDGE_BINS, REPORT_DATA, log_bin

NAMESPACE = "report"
KEPT_OUTCOME = "kept"
UNDETERMINED = "undetermined"  # a text document rejected before language ID gave it a bucket
SAMPLES_PER_KEY = 2
SAMPLE_CHARS = 400
SCRUB_CONTEXT = 100
# ``rule=value`` details of the repetition and quality steps; a value must be a whole number
# (a detail such as ``lang=en`` or ``max=e5`` is no measurement).
MEASURED = re.compile(r"^([a-z0-9_]+)=([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?![0-9A-Za-z_.])")
_SAMPLES = "samples"
_PLACEHOLDER = re.compile("|".join(map(re.escape, PLACEHOLDERS)))
_LONGEST_PLACEHOLDER = max(map(len, PLACEHOLDERS))


def _rank(doc_id: str) -> int:
    return hash64(doc_id)


class _Observe(beam.DoFn):
    """Histogram cells (tuples counted by ``Count.PerElement``) and one sample candidate per
    document (tagged ``samples``: ``((bucket, outcome), (rank, id, detail, lang, text head))``)."""

    def __init__(self, kept: bool):
        self._kept = kept
        self._seen = Metrics.counter(NAMESPACE, "kept_observed" if kept else "rejected_observed")

    def process(self, element: Document | Rejection) -> Iterable:
        self._seen.inc()
        if self._kept:
            doc, outcome, detail, chars, stored = element, KEPT_OUTCOME, "", len(element.text), True
        else:
            doc, outcome, detail = element.doc, element.reason, element.detail
            chars, stored = element.chars, element.keep_text
        bucket = doc.bucket or UNDETERMINED
        length = log_bin(chars, "length")
        yield ("length", bucket, "before", length)
        if self._kept:
            yield ("length", bucket, "after", length)
            yield ("languages", bucket, doc.lang or "?")
            yield ("knowledge", bucket, min(KNOWLEDGE_BINS - 1, max(0, math.floor(doc.knowledge * KNOWLEDGE_BINS))))
        else:
            measured = MEASURED.match(detail or "")
            if measured and float(measured.group(2)) > 0:
                step = outcome.split(":", 1)[0]
                yield ("measured", step, measured.group(1), bucket, log_bin(float(measured.group(2)), "measured"))
        head = doc.text[: SAMPLE_CHARS + SCRUB_CONTEXT] if stored else None
        yield beam.pvalue.TaggedOutput(_SAMPLES, ((bucket, outcome), (_rank(doc.id), doc.id, detail, doc.lang, head)))


def _nest(cells: Iterable[tuple[tuple, int]]) -> dict[str, Any]:
    """``[(("length", "korean", "after", 23), 5), ...]`` -> ``{"length": {"korean": {"after": {"23": 5}}}}``."""
    tree: dict[str, Any] = {}
    for cell, count in cells:
        node = tree
        for part in cell[:-1]:
            node = node.setdefault(str(part), {})
        node[str(cell[-1])] = node.get(str(cell[-1]), 0) + count
    return tree


def _sample_text(text: str | None, lang: str, bucket: str, scrub: bool) -> str | None:
    """The first ``SAMPLE_CHARS`` of ``text`` (``scrub``: scrubbed first), never cut inside a placeholder."""
    if text is None:  # not stored (Rejection.keep_text, pii.side_output_text: omitted)
        return None
    if scrub:
        from pii import scrub as scrub_text  # Presidio: loaded only by the one worker that writes the file

        text = scrub_text(text, lang or None, bucket).text
    cut = SAMPLE_CHARS
    for placeholder in _PLACEHOLDER.finditer(text, max(0, cut - _LONGEST_PLACEHOLDER), cut + _LONGEST_PLACEHOLDER):
        if placeholder.start() < cut:
            cut = max(cut, placeholder.end())  # never cut inside a placeholder
    return text[:cut]


@dataclass(frozen=True)
class SampleScrub:
    """Which sample texts the report scrubs: those whose source may hold raw PII. Kept text the PII
    step scrubbed, and rejected text ``ProtectSideOutputs`` scrubbed, are shown as stored (a second
    pass would only cost the Presidio import, seconds per run)."""

    kept: bool = True
    rejected: bool = True


def report_data(cells: list[tuple[tuple, int]], samples: list[tuple[tuple[str, str], list[tuple]]],
                scrub: SampleScrub = SampleScrub()) -> dict[str, Any]:
    """The report_data.json dict (pure: tested directly)."""
    data = {"format_version": 1, "samples_per_key": SAMPLES_PER_KEY, "sample_chars": SAMPLE_CHARS,
            "bins": {"length": "floor(10*log10(chars)), -1 = empty", "measured": "floor(20*log10(value))",
                     "knowledge": "floor(20*score), 0..19"},
            "length": {}, "languages": {}, "knowledge": {}, "measured": {}, "samples": {}}
    data.update(_nest(cells))
    for (bucket, outcome), docs in sorted(samples):
        data["samples"].setdefault(bucket, {})[outcome] = [
            {"id": doc_id, "detail": detail, "lang": lang,
             "text": _sample_text(text, lang, bucket, scrub.kept if outcome == KEPT_OUTCOME else scrub.rejected)}
            for _, doc_id, detail, lang, text in sorted(docs)]
    return data


def _write(_: None, out: str, scrub: SampleScrub, cells: list, samples: list) -> str:
    path = storage.join(out, REPORT_DATA)
    data = report_data(cells, samples, scrub)
    with storage.create_atomic(path) as sink:
        sink.write(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    return path


class ReportSamples(beam.PTransform):
    """``(kept Documents, Rejections)`` -> writes ``OUT/report_data.json``. Returns an empty
    PCollection that is complete once the file is written, for a step that must come after it
    (curate's stats.json)."""

    def __init__(self, out: str, scrub: SampleScrub = SampleScrub()):
        super().__init__()
        self.out, self.scrub = out, scrub

    def expand(self, pcolls: tuple[beam.PCollection, beam.PCollection]) -> beam.PCollection:
        kept, rejected = pcolls
        observed = [kept | "ObserveKept" >> beam.ParDo(_Observe(True)).with_outputs(_SAMPLES, main="cells"),
                    rejected | "ObserveRejected" >> beam.ParDo(_Observe(False)).with_outputs(_SAMPLES, main="cells")]
        cells = ([o.cells for o in observed]
                 | "AllCells" >> beam.Flatten()
                 | "CountCells" >> beam.combiners.Count.PerElement()
                 | "CellList" >> beam.combiners.ToList())
        samples = ([o[_SAMPLES] for o in observed]
                   | "AllCandidates" >> beam.Flatten()
                   | "SmallestHashes" >> beam.combiners.Top.SmallestPerKey(SAMPLES_PER_KEY)
                   | "SampleList" >> beam.combiners.ToList())
        written = (kept.pipeline
                   | "ReportOnce" >> beam.Create([None])
                   | "WriteReportData" >> beam.Map(_write, self.out, self.scrub, beam.pvalue.AsSingleton(cells),
                                                    beam.pvalue.AsSingleton(samples)))
        return written | "ReportWritten" >> beam.FlatMap(lambda _: ())
