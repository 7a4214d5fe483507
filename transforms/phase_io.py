"""Curate's phase files: documents written per input shard, read back streaming, looked up by id.

Every curate phase (``transforms/curate.py``) writes its surviving documents as Parquet under
``OUT/_phases/<phase>/docs/`` partitioned by input shard, in read order, and its rejections and
errors the same way. A file is named ``s<shard>-<first ordinal>.parquet``: the documents of one
shard reach the writer in read order (a shard is read by one ``process`` call and the per-document
steps are fused after it), a writer checks that order and fails loudly if it is broken, and a
shard seen by two bundles simply gives two files whose names sort in read order.

The next phase never shuffles these documents: it reads small columns (``ReadColumns``: uid,
hashes, signatures), computes verdicts from them, groups the verdicts by shard, and re-reads each
shard's text in a stream (``ApplyVerdicts``). ``LookupByShard`` fetches a few columns of
specific documents (MinHash's candidate pairs) the same way: requests are grouped by shard and
answered while streaming that shard's file.
"""
from __future__ import annotations

import re
from dataclasses import astuple, dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from corpus import storage
from corpus.document import Document, ReadError, Rejection
from corpus.parquet import (CURATED_SCHEMA, ERRORS_SCHEMA, REJECTED_SCHEMA, ParquetStreamWriter, curated_row,
                            error_row, rejected_row)
from corpus.readers import ORDINAL_BITS, shard_of_uid
from corpus.shuffle_meter import ShuffleMeter

DOCS, REJECTED_ROWS, ERROR_ROWS = "docs", "rejected", "errors"
# Columns a phase file adds to the curated ones: the compact id and the small per-document
# records the next phase's verdicts are computed from (``VerdictStep.annotate``).
PHASE_SCHEMA = pa.schema([*CURATED_SCHEMA, ("uid", pa.int64()), ("text_hash", pa.binary()),
                          ("signature", pa.binary()), ("unsigned", pa.string())])
REJECTED_PHASE_SCHEMA = pa.schema([*REJECTED_SCHEMA, ("uid", pa.int64())])
ERRORS_PHASE_SCHEMA = pa.schema([*ERRORS_SCHEMA, ("uid", pa.int64())])
_FILE_NAME = re.compile(r"s(\d{8})-(\d{10})\.parquet$")
_CURATED_META = {"location": "location", "path": "path", "license": "license", "given_lang": "lang"}


def segment_name(uid: int) -> str:
    return f"s{shard_of_uid(uid):08d}-{uid & ((1 << ORDINAL_BITS) - 1):010d}.parquet"


def shard_of_file(path: str) -> int:
    match = _FILE_NAME.search(path)
    if not match:
        raise ValueError(f"not a phase file name: {path}")
    return int(match.group(1))


def phase_row(doc: Document, annotations: dict[str, Any]) -> dict[str, Any]:
    return {**curated_row(doc), "uid": doc.uid, "text_hash": None, "signature": None, "unsigned": None,
            **annotations}


def document_of(row: dict[str, Any]) -> Document:
    """Inverse of ``phase_row`` for the Document fields (absent metadata stays absent)."""
    meta = {key: row[column] for column, key in _CURATED_META.items() if row.get(column)}
    meta.update(dict(row.get("meta") or []))
    return Document(id=row["id"], text=row["text"], source=row["source"], kind=row["kind"], input=row["input"],
                    bucket=row["bucket"], lang=row["lang"], lang_score=row["lang_score"],
                    knowledge=row["knowledge"], pii=row["pii"], meta=meta, source_id=row["source_id"],
                    uid=row["uid"], cluster_size=row["cluster_size"] or 1,
                    pii_spans=tuple((s["start"], s["length"], s["type"]) for s in row.get("pii_spans") or ()))


@dataclass
class WrittenFile:
    """What a phase writer produced: the stats and the publish plan are made from these."""

    path: str  # relative to the phase directory
    rows: int
    row_groups: list[tuple[int, int]] = field(default_factory=list)  # (rows, compressed bytes) per row group


def _row_groups(path: str) -> list[tuple[int, int]]:
    with storage.open_read(path) as handle:
        meta = pq.ParquetFile(handle).metadata
        return [(meta.row_group(i).num_rows,
                 sum(meta.row_group(i).column(c).total_compressed_size for c in range(meta.num_columns)))
                for i in range(meta.num_row_groups)]


class _WritePerShardFn(beam.DoFn):
    """Writes elements to one file per (subdirectory, shard) and bundle; yields ``WrittenFile``.
    ``to_row(element) -> (uid, subdirectory, row)``.

    The documents of a shard arrive together (one ``process`` call reads a shard, and the steps in
    between are fused and keep order), so when a row of another shard arrives, the files of the
    shard before are complete and are closed then, not at the end of the bundle: a worker holds
    the row groups of one shard, however many shards its bundle has (the DirectRunner gives each
    worker one bundle of half the input). A shard that did come back later would only start a new
    file, named by its first ordinal, as one seen by two bundles does."""

    def __init__(self, directory: str, schema: pa.Schema, to_row: Callable[[Any], tuple[int, str, dict]],
                 row_group_bytes: int):
        self._directory, self._schema, self._to_row = directory, schema, to_row
        self._row_group_bytes = row_group_bytes
        self._rows = Metrics.counter("phase", "rows_written")

    def start_bundle(self) -> None:
        self.teardown()  # a failed bundle's temporary files
        self._writers: dict[tuple[str, int], tuple[ParquetStreamWriter, str]] = {}
        self._last_uid: dict[tuple[str, int], int] = {}  # per file key, across the files of a bundle
        self._shard: int | None = None

    def process(self, element: Any) -> Iterable:
        uid, subdir, row = self._to_row(element)
        shard = shard_of_uid(uid)
        if shard != self._shard:
            yield from self._close()  # the files of the shard before: all that is open
            self._shard = shard
        key = (subdir, shard)
        if uid < self._last_uid.get(key, -1):
            raise RuntimeError(f"phase writer {self._directory}: uid {uid} after {self._last_uid[key]}: the documents "
                               "of a shard must reach the writer in read order (a runner broke the fused order)")
        self._last_uid[key] = uid
        entry = self._writers.get(key)
        if entry is None:
            relative = f"{subdir}/{segment_name(uid)}" if subdir else segment_name(uid)
            writer = ParquetStreamWriter(storage.join(self._directory, relative), self._schema,
                                         self._row_group_bytes)
            entry = self._writers[key] = (writer, relative)
        entry[0].write(row)

    def finish_bundle(self) -> Iterable:
        for written in self._close():
            yield WindowedValue(written, MIN_TIMESTAMP, [GlobalWindow()])

    def _close(self) -> Iterator[WrittenFile]:
        writers, self._writers = self._writers, {}
        for writer, relative in writers.values():
            writer.close()
            self._rows.inc(writer.rows_written)
            yield WrittenFile(relative, writer.rows_written, _row_groups(writer.path))

    def teardown(self) -> None:
        for writer, _ in getattr(self, "_writers", {}).values():
            writer.abort()


def _doc_row(annotate: Callable[[Document], dict], by_bucket: bool) -> Callable[[Document], tuple]:
    def to_row(doc: Document) -> tuple[int, str, dict]:
        if by_bucket:
            return doc.uid, doc.bucket, curated_row(doc)
        return doc.uid, "", phase_row(doc, annotate(doc))
    return to_row


def _rejected_row(rejection: Rejection) -> tuple[int, str, dict]:
    return rejection.doc.uid, "", {**rejected_row(rejection), "uid": rejection.doc.uid}


def _error_row(error: ReadError) -> tuple[int, str, dict]:
    return error.uid, "", {**error_row(error), "uid": error.uid}


def no_annotations(doc: Document) -> dict:
    return {}


class WritePhaseDocs(beam.PTransform):
    """Documents -> phase files (``docs/``; ``by_bucket``: the final phase's ``kept/<bucket>/``
    with curated rows) -> PCollection[WrittenFile]."""

    def __init__(self, directory: str, annotate: Callable[[Document], dict] = no_annotations,
                 by_bucket: bool = False, row_group_bytes: int = 16 << 20):
        super().__init__()
        sub = "kept" if by_bucket else DOCS
        schema = CURATED_SCHEMA if by_bucket else PHASE_SCHEMA
        self._fn = _WritePerShardFn(storage.join(directory, sub), schema, _doc_row(annotate, by_bucket),
                                    row_group_bytes)
        self._sub = sub

    def expand(self, docs: beam.PCollection) -> beam.PCollection:
        sub = self._sub
        return (docs | "Write" >> beam.ParDo(self._fn)
                | "UnderPhase" >> beam.Map(lambda w: WrittenFile(f"{sub}/{w.path}", w.rows, w.row_groups)))


class WritePhaseRows(beam.PTransform):
    """Rejections or read errors -> ``rejected/<source>/`` or ``errors/`` phase files ->
    PCollection[WrittenFile]. Each step's rejections get their own writer (``source``: the
    step): a writer fused with the step that produces its rows sees them in read order, a
    Flatten of several steps' outputs would not keep that order."""

    def __init__(self, directory: str, kind: str, row_group_bytes: int = 16 << 20, source: str = ""):
        super().__init__()
        schema, to_row = ((REJECTED_PHASE_SCHEMA, _rejected_row) if kind == REJECTED_ROWS
                          else (ERRORS_PHASE_SCHEMA, _error_row))
        sub = f"{kind}/{source}" if source else kind
        self._fn = _WritePerShardFn(storage.join(directory, sub), schema, to_row, row_group_bytes)
        self._kind = sub

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        kind = self._kind
        return (rows | "Write" >> beam.ParDo(self._fn)
                | "UnderPhase" >> beam.Map(lambda w: WrittenFile(f"{kind}/{w.path}", w.rows, w.row_groups)))


def iter_rows(path: str, columns: Sequence[str] | None = None, batch_rows: int = 1024) -> Iterator[dict]:
    """The rows of a Parquet file as dicts, one batch in memory at a time."""
    with storage.open_read(path) as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows, columns=columns):
            yield from batch.to_pylist()


class _ReadColumnsFn(beam.DoFn):
    def __init__(self, paths: list[str], columns: Sequence[str], batch_rows: int):
        self._paths, self._columns, self._batch_rows = paths, list(columns), batch_rows

    def process(self, index: int) -> Iterator[dict]:
        yield from iter_rows(self._paths[index], self._columns, self._batch_rows)


class ReadColumns(beam.PTransform):
    """Phase files -> their rows restricted to ``columns``: the small records verdicts are computed
    from (the report's samples also read the text, in batches of ``batch_rows``). File indices are spread over workers by a reshuffle (indices,
    not paths: what a shuffle carries does not depend on where OUT is)."""

    def __init__(self, paths: list[str], columns: Sequence[str], meter: ShuffleMeter, batch_rows: int = 8192):
        super().__init__()
        self._paths, self._columns, self._meter, self._batch_rows = paths, columns, meter, batch_rows

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        indices = pbegin | "Files" >> beam.Create(range(len(self._paths)), reshuffle=False)
        return (self._meter.reshuffle(indices, "SpreadFiles")
                | "Read" >> beam.ParDo(_ReadColumnsFn(self._paths, self._columns, self._batch_rows)))


class _LookupFn(beam.DoFn):
    """(shard, [(uid, payload)...]) -> answer(row, payload) for each request, streaming the shard."""

    def __init__(self, files_by_shard: dict[int, list[str]], columns: Sequence[str],
                 answer: Callable[[dict, Any], Iterable]):
        self._files, self._columns, self._answer = files_by_shard, ["uid", *columns], answer

    def process(self, element: tuple[int, Iterable[tuple[int, Any]]]) -> Iterator:
        shard, requests = element
        wanted: dict[int, list] = {}
        for uid, payload in requests:
            wanted.setdefault(uid, []).append(payload)
        for path in self._files.get(shard, []):
            for row in iter_rows(path, self._columns):
                for payload in wanted.pop(row["uid"], ()):
                    yield from self._answer(row, payload)
            if not wanted:
                return


class LookupByShard(beam.PTransform):
    """PCollection[(uid, payload)] -> whatever ``answer(row, payload)`` yields, ``row`` holding
    ``columns`` of document ``uid``. Only (uid, payload) records are shuffled (grouped by shard);
    a worker holds one shard's requests and one batch of its file."""

    def __init__(self, files_by_shard: dict[int, list[str]], columns: Sequence[str],
                 answer: Callable[[dict, Any], Iterable], meter: ShuffleMeter, label: str):
        super().__init__(label=label)
        self._fn = _LookupFn(files_by_shard, columns, answer)
        self._meter, self._label = meter, label

    def expand(self, requests: beam.PCollection) -> beam.PCollection:
        keyed = requests | "ByShard" >> beam.Map(lambda r: (shard_of_uid(r[0]), r))
        return self._meter.group_by_key(keyed, f"Group{self._label}") | "Answer" >> beam.ParDo(self._fn)


@dataclass(frozen=True)
class Verdict:
    """What a verdict step decided about one document: rejected with ``reason`` (and the audit
    ``detail``), or kept with ``cluster_size`` (0: no annotation). ``priority``: when two steps
    of one phase reject the same document, the earlier one's verdict stands."""

    priority: int
    reason: str = ""
    detail: str = ""
    cluster_size: int = 0


class _ApplyVerdictsFn(beam.DoFn):
    """(shard, {"shard": [None], "verdicts": [(uid, verdict fields)...]}) -> the shard's documents
    in read order, minus the rejected ones (tagged ``rejected``), survivors annotated."""

    def __init__(self, files_by_shard: dict[int, list[str]], keeps_text: Sequence[bool]) -> None:
        self._files, self._keeps_text = files_by_shard, list(keeps_text)
        self._rejected = Metrics.counter("phase", "verdict_rejections")

    def process(self, element: tuple[int, dict[str, Iterable]]) -> Iterator:
        shard, grouped = element
        verdicts: dict[int, list[Verdict]] = {}
        for uid, fields in grouped["verdicts"]:
            verdicts.setdefault(uid, []).append(Verdict(*fields))
        for path in self._files.get(shard, []):
            for row in iter_rows(path):
                doc = document_of(row)
                found = sorted(verdicts.get(doc.uid, ()), key=lambda v: (v.priority, v.reason, v.detail))
                rejection = next((v for v in found if v.reason), None)
                if rejection is not None:
                    self._rejected.inc()
                    yield beam.pvalue.TaggedOutput(REJECTED_ROWS, Rejection(
                        doc, rejection.reason, rejection.detail, self._keeps_text[rejection.priority]))
                    continue
                sizes = [v.cluster_size for v in found if v.cluster_size]
                if sizes:
                    doc.cluster_size = max(sizes)
                yield doc


class ApplyVerdicts(beam.PTransform):
    """Verdicts (uid, Verdict) + the previous phase's files -> {"kept": Document, "rejected":
    Rejection}; only verdicts and file names are shuffled, the text is streamed per shard.
    ``keeps_text[priority]``: whether the rejections of the verdict step of that priority keep
    their text (``VerdictStep.rejected_text``)."""

    def __init__(self, files_by_shard: dict[int, list[str]], meter: ShuffleMeter, keeps_text: Sequence[bool]):
        super().__init__()
        self._files, self._meter, self._keeps_text = files_by_shard, meter, keeps_text

    def expand(self, verdicts: beam.PCollection) -> dict[str, beam.PCollection]:
        # Every shard is streamed, with or without verdicts.
        shards = verdicts.pipeline | "Shards" >> beam.Create([(shard, None) for shard in sorted(self._files)],
                                                             reshuffle=False)
        # Plain tuples cross the shuffle: their encoding (and its metered size) is the same in every process.
        keyed = verdicts | "ByShard" >> beam.MapTuple(lambda uid, v: (shard_of_uid(uid), (uid, astuple(v))))
        apply = _ApplyVerdictsFn(self._files, self._keeps_text)
        applied = (self._meter.co_group_by_key({"shard": shards, "verdicts": keyed}, "GroupVerdictsByShard")
                   | "Apply" >> beam.ParDo(apply).with_outputs(REJECTED_ROWS, main="kept"))
        return {"kept": applied["kept"], "rejected": applied[REJECTED_ROWS]}


def files_by_shard(phase_dir: str, files: Iterable[WrittenFile], sub: str = DOCS) -> dict[int, list[str]]:
    """shard -> its ``sub/`` files (absolute paths) in read order."""
    out: dict[int, list[str]] = {}
    for written in sorted(files, key=lambda w: w.path):
        if written.path.startswith(sub + "/"):
            out.setdefault(shard_of_file(written.path), []).append(storage.join(phase_dir, written.path))
    return out
