"""Read curated Parquet and tokenize every document (the first step of ``beam_pipeline.py build``).

Input layout (curate's output): ``CURATED/<bucket>/*.parquet`` with at least ``id``, ``text``,
``bucket``; ``knowledge`` is optional (missing column = score 0, i.e. no upsampling), as are
``source`` (missing = "") and ``cluster_size`` (MinHash's duplicate-cluster size; missing = 1), which
the mixture's source and cluster weights read (``mixtures/weights.py``). The bucket is taken from
the ``bucket`` column, which must be one of ``corpus.document.BUCKETS``.

PII placeholders are reserved ids. ``pii_spans`` (optional: a file without it, from a run before
curate recorded spans, has none) lists per document the placeholders curate's PII step wrote,
``list<struct<start: int32, length: int32, type: string>>`` in code points of the final ``text``.
Each span is encoded as the reserved id of ``<|pii:TYPE|>``, everything else as ordinary text
(``allow_special=False``), so a literal ``<|pii:email|>`` typed in a raw document stays ordinary
tokens and only what curate replaced becomes the reserved id (``encode_with_spans``). A span that
does not cover its placeholder text, overlaps another or names a type the tokenizer lacks is a
contract violation: the document is skipped with reason ``pii_spans:<what>``, never encoded with
the placeholder as ordinary text.

Token ids (``uint32``) go to the token store (``mixtures.token_store``) and the pipeline carries a
reference; the text is stored too, only for buckets that FIM may transform (FIM splits
characters, then re-tokenizes the parts). A document
that is empty or whose tokenization raises is not silently lost: it leaves on the ``skipped``
output with a reason and is counted in the manifest.

The curated directory and the tokenizer directory may be URLs of any Beam filesystem
(``gs://``, …): Parquet is then listed with ``FileSystems.match`` and read through
``FileSystems.open``, and the tokenizer's files are copied to a local temporary directory once per
worker (``load_tokenizer``), since a worker cannot see the launching machine's disk.
"""
from __future__ import annotations

import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from corpus.document import BUCKETS
from corpus.parquet import DECODE_BATCH_ROWS
from corpus.placeholders import placeholder
from corpus.storage import download, is_url, join, match, open_read
from mixtures.records import ReservedSpan, TokenizedDoc
from mixtures.token_store import StoreWriter

if TYPE_CHECKING:
    from corpus.tokenizer import Tokenizer

NAMESPACE = "build.tokenize"
SKIPPED = "skipped"
PII_SPANS = "pii_spans"
_COLUMNS = ("id", "text", "bucket", "knowledge", "source", "cluster_size", PII_SPANS)

PiiSpan = tuple[int, int, str]  # (start, length, type) as curate records it


@dataclass(frozen=True)
class CuratedDoc:
    id: str
    text: str
    bucket: str
    knowledge: float
    source: str = ""
    cluster_size: int = 1
    pii_spans: tuple[PiiSpan, ...] = ()


class CuratedInputError(ValueError):
    """The curated input does not follow curate's Parquet contract."""


class SpanError(ValueError):
    """A document's ``pii_spans`` do not match its text; ``reason`` is the skip reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def reserved_spans(text: str, spans: Sequence[PiiSpan], special_tokens: dict[str, int]) -> tuple[ReservedSpan, ...]:
    """curate's ``pii_spans`` as (start, length, reserved id), sorted; ``SpanError`` if one is null,
    does not cover exactly its placeholder's text, overlaps the one before, or has no reserved id."""
    if any(None in span for span in spans):
        raise SpanError("pii_spans:null", "a span with a null start, length or type")
    out: list[ReservedSpan] = []
    end = 0
    for start, length, pii_type in sorted(spans):
        token = placeholder(pii_type)
        if special_tokens.get(token) is None:
            raise SpanError("pii_spans:unknown_type", f"{token} is not a special token of the tokenizer")
        if start < end:
            raise SpanError("pii_spans:overlap", f"span at {start} overlaps the one ending at {end}")
        if start < 0 or text[start:start + length] != token:
            raise SpanError("pii_spans:not_placeholder",
                            f"text at [{start}, {start + length}) is {text[start:start + length][:40]!r}, not {token}")
        out.append((start, length, special_tokens[token]))
        end = start + length
    return tuple(out)


def encode_with_spans(tok: Tokenizer, docs: Sequence[tuple[str, Sequence[ReservedSpan]]]) -> list[list[int]]:
    """Token ids of each (text, reserved spans): every span its reserved id, the text around the
    spans ordinary text (``allow_special=False``), all parts in one ``encode_batch`` call."""
    parts: list[str] = []
    for text, spans in docs:
        start = 0
        for begin, length, _ in spans:
            parts.append(text[start:begin])
            start = begin + length
        parts.append(text[start:])
    encoded = iter(tok.encode_batch(parts, num_workers=1))  # inside a DoFn: the runner parallelizes
    out = []
    for _, spans in docs:
        ids = list(next(encoded))
        for _, _, token in spans:
            ids.append(token)
            ids += next(encoded)
        out.append(ids)
    return out


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """The project tokenizer from a local directory or a URL, whose files (two small ones) are copied
    to a local temporary directory first: ``corpus.tokenizer.load`` reads local files."""
    from corpus.tokenizer import load

    if not is_url(directory):
        return load(directory)
    with tempfile.TemporaryDirectory(prefix="tokenizer-") as local:
        return load(download(directory, local))


def curated_files(curated_dir: str | Path) -> list[str]:
    """Every curated Parquet file, in sorted order; an error if there are none."""
    if is_url(curated_dir):
        files = match(join(curated_dir, "*/*.parquet"))
    else:
        files = sorted(str(p) for p in Path(curated_dir).glob("*/*.parquet"))
    if not files:
        raise CuratedInputError(f"{curated_dir}: no curated Parquet files (<bucket>/*.parquet)")
    return files


class _ReadCuratedFile(beam.DoFn):
    def process(self, path: str) -> Iterator[CuratedDoc]:
        # Arrow opens a local path itself (native reads); a URL is a seekable FileSystems stream.
        with (open_read(path) if is_url(path) else nullcontext(path)) as source:
            yield from self._read(path, pq.ParquetFile(source))

    @staticmethod
    def _read(path: str, parquet: pq.ParquetFile) -> Iterator[CuratedDoc]:
        names = set(parquet.schema_arrow.names)
        missing = {"id", "text", "bucket"} - names
        if missing:
            raise CuratedInputError(f"{path}: missing curated column(s) {sorted(missing)}")
        columns = [c for c in _COLUMNS if c in names]
        for batch in parquet.iter_batches(batch_size=DECODE_BATCH_ROWS, columns=columns):
            data = batch.to_pydict()
            absent = [None] * batch.num_rows
            rows = zip(data["id"], data["text"], data["bucket"], data.get("knowledge", absent),
                       data.get("source", absent), data.get("cluster_size", absent), data.get(PII_SPANS, absent))
            for doc_id, text, bucket, score, source, cluster_size, spans in rows:
                if bucket not in BUCKETS:
                    raise CuratedInputError(f"{path}: document {doc_id!r} has bucket {bucket!r}, expected one of {BUCKETS}")
                yield CuratedDoc(str(doc_id), text or "", bucket, float(score or 0.0), source or "",
                                 max(1, int(cluster_size or 1)),
                                 tuple((s["start"], s["length"], s["type"]) for s in spans or ()))


class ReadCurated(beam.PTransform):
    """``CURATED/<bucket>/*.parquet`` -> PCollection[CuratedDoc] (one file per element)."""

    def __init__(self, curated_dir: str | Path):
        super().__init__()
        self.files = curated_files(curated_dir)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (pbegin
                | "Files" >> beam.Create(self.files)
                | "Read" >> beam.ParDo(_ReadCuratedFile()))


class _TokenizeBatchDoFn(beam.DoFn):
    """Encodes a batch of documents with one ``encode_batch`` call and stores the ids; the
    tokenizer is loaded once per worker in ``setup``, a store file is written per bundle."""

    def __init__(self, tokenizer_dir: str, text_buckets: frozenset[str], store_dir: str | None):
        self._tokenizer_dir = tokenizer_dir
        self._text_buckets = text_buckets
        self._store_dir = store_dir
        self._docs = Metrics.counter(NAMESPACE, "docs")
        self._tokens = Metrics.counter(NAMESPACE, "tokens")
        self._skipped = Metrics.counter(NAMESPACE, "skipped")
        self._reserved = Metrics.counter(NAMESPACE, "pii_reserved_ids")

    def setup(self) -> None:
        self._tok = load_tokenizer(self._tokenizer_dir)

    def start_bundle(self) -> None:
        self._store = StoreWriter(self._store_dir)

    def finish_bundle(self) -> None:
        self._store.close()

    def process(self, batch: list[CuratedDoc]) -> Iterable:
        docs: list[tuple[CuratedDoc, tuple[ReservedSpan, ...]]] = []
        for doc in batch:
            try:
                docs.append((doc, reserved_spans(doc.text, doc.pii_spans, self._tok.special_tokens)))
            except SpanError as exc:
                self._skipped.inc()
                yield beam.pvalue.TaggedOutput(SKIPPED, (doc.id, exc.reason))
        inputs = [(doc.text, spans) for doc, spans in docs]
        try:
            encoded: list = encode_with_spans(self._tok, inputs)
        except Exception:  # find the offending document(s) instead of losing the batch
            encoded = [self._encode_one(item) for item in inputs]
        for (doc, spans), ids in zip(docs, encoded):
            if isinstance(ids, Exception):
                self._skipped.inc()
                yield beam.pvalue.TaggedOutput(SKIPPED, (doc.id, f"tokenize:{type(ids).__name__}"))
            elif not ids:
                self._skipped.inc()
                yield beam.pvalue.TaggedOutput(SKIPPED, (doc.id, "tokenize:empty"))
            else:
                self._docs.inc()
                self._tokens.inc(len(ids))
                self._reserved.inc(len(spans))
                tokens = self._store.put_tokens(ids)
                if doc.bucket in self._text_buckets:  # FIM re-encodes parts of the text, spans included
                    yield TokenizedDoc(doc.id, doc.bucket, doc.knowledge, doc.source, doc.cluster_size, len(ids),
                                       tokens, self._store.put_text(doc.text), spans)
                else:
                    yield TokenizedDoc(doc.id, doc.bucket, doc.knowledge, doc.source, doc.cluster_size, len(ids),
                                       tokens, None)

    def _encode_one(self, item: tuple[str, tuple[ReservedSpan, ...]]) -> list[int] | Exception:
        try:
            return encode_with_spans(self._tok, [item])[0]
        except Exception as exc:
            return exc


class Tokenize(beam.PTransform):
    """PCollection[CuratedDoc] -> {"docs": TokenizedDoc, "skipped": (id, reason)}."""

    def __init__(self, tokenizer_dir: str | Path, text_buckets: Iterable[str], store_dir: str | None,
                 batch_size: int = 64):
        super().__init__()
        self.fn = _TokenizeBatchDoFn(str(tokenizer_dir), frozenset(text_buckets), store_dir)
        self.batch_size = batch_size

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        out = (docs
               | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.batch_size)
               | "Encode" >> beam.ParDo(self.fn)
               .with_outputs(SKIPPED, main="docs"))
        return {"docs": out["docs"], SKIPPED: out[SKIPPED]}
