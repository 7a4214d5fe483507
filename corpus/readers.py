"""Readers: input globs → ``Document`` / ``ReadError`` / skipped files, as a Beam transform.

Formats, chosen by file name:

- ``*.jsonl``, ``*.jsonl.gz``, ``*.jsonl.zst`` (also ``.ndjson``): one record per line. ``text``
  (string) is required; ``id``, ``source``, ``lang``, ``path``, ``license`` are optional.
  Blank lines are not records.
- ``*.parquet``: one record per row, same columns (``text`` must be a string column).
- A directory (or a file of any other name): a tree of plain-text or code files, one file one
  document. Code language comes from the extension (``CODE_EXTENSIONS``).

Ids are unique by construction: a document's ``id`` is its location (``path:line`` for JSONL,
``path:row`` for Parquet, the file path for tree files), stable across reruns as long as the
inputs are passed with the same paths. A record's own ``id`` field (string or integer) is kept as
``source_id``; duplicated source ids are found later by shuffling ids only
(``transforms.unique_ids``). Inputs are read in *shards* (``InputShard``: one JSONL/Parquet file,
or up to ``TREE_FILES_PER_SHARD`` files of a tree); ``uid = shard << 32 | ordinal`` is the compact
id that shuffles carry (an integer, not the location string), and ``ShardTable.location`` turns
it back into the id without reading anything.

Every record becomes exactly one ``Document`` or one ``ReadError`` (invalid UTF-8, malformed JSON,
missing/non-string ``text``, lone surrogates, oversized record, unreadable file: never a crash).
A whole-file failure (permission denied, corrupt compressed stream) is one ``ReadError`` — one
"record" in the funnel. Tree files skipped by rule (``SkipRules``) are not records; they are
counted per input and rule under ``skipped_files`` in stats.json.
"""
from __future__ import annotations

import glob
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, ContextManager, Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from corpus.compression import STREAM_ERRORS, open_file
from corpus.document import CODE, CODE_KIND, KOREAN, MULTILINGUAL, TEXT_KIND, Document, ReadError
from corpus.shuffle_meter import ShuffleMeter
from corpus.storage import is_url, match

ERRORS, SKIPPED, READ = "errors", "skipped", "read"
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".ndjson.gz", ".ndjson.zst")
PARQUET_SUFFIXES = (".parquet",)
METADATA_FIELDS = ("source", "lang", "path", "license")
EXCERPT_CHARS = 200
UTF8_BOM = b"\xef\xbb\xbf"  # written by some Windows tools at a file's start: an encoding mark, not text
# git's binary heuristic (xdiff's buffer_is_binary): a NUL byte in the first 8000 bytes.
BINARY_SNIFF_BYTES = 8000

# Programming languages by file extension (a subset of GitHub linguist's languages.yml).
CODE_EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".go": "go", ".rs": "rust", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".java": "java",
    ".kt": "kotlin", ".scala": "scala", ".swift": "swift", ".cs": "c_sharp", ".js": "javascript",
    ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript", ".ts": "typescript",
    ".tsx": "typescript", ".rb": "ruby", ".php": "php", ".sh": "shell", ".bash": "shell",
    ".lua": "lua", ".pl": "perl", ".pm": "perl", ".r": "r", ".hs": "haskell", ".sql": "sql",
    ".m": "objective_c", ".dart": "dart", ".jl": "julia", ".ex": "elixir", ".erl": "erlang",
    ".ml": "ocaml", ".clj": "clojure", ".f90": "fortran", ".zig": "zig", ".vue": "vue",
    ".html": "html", ".css": "css", ".tex": "tex", ".md": "markdown", ".cu": "cuda",
}
# Plain-text trees: these extensions (and none) are documents; everything else is skipped.
TEXT_EXTENSIONS = (".txt", ".text", ".md", ".markdown", ".rst", "")


@dataclass
class SkipRules:
    """Which files of a text/code tree are not documents (each skip is counted, never silent).

    Directory names follow GitHub linguist's vendor.yml / The Stack's exclusions (vendored
    dependencies, build output, VCS metadata); lock files and ``*.min.*`` are generated, not
    written. ``max_code_file_bytes`` = 1 MB is The Stack's per-file cut. Content-level markers of
    generated code ("DO NOT EDIT", "@generated") are the quality stage's job, not the reader's.
    """

    skip_dirs: list[str] = field(default_factory=lambda: [
        "node_modules", "vendor", "vendors", "third_party", "third-party", "bower_components",
        "site-packages", "dist", "build", "target", "__pycache__", ".git", ".hg", ".svn"])
    skip_hidden: bool = True
    generated_names: list[str] = field(default_factory=lambda: [
        "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "poetry.lock",
        "Pipfile.lock", "go.sum", "composer.lock", "Gemfile.lock"])
    generated_suffixes: list[str] = field(default_factory=lambda: [
        ".min.js", ".min.css", "-min.js", ".pb.go", "_pb2.py", ".pb.h", ".pb.cc", ".map"])
    max_code_file_bytes: int = 1_000_000


@dataclass
class ReaderConfig:
    """``max_record_bytes`` bounds one record's memory on a worker: a larger JSONL line, Parquet
    text or tree file becomes a ``ReadError`` (``record too large``), not an out-of-memory crash."""

    max_record_bytes: int = 64 * 1024 * 1024
    skip: SkipRules = field(default_factory=SkipRules)


@dataclass(frozen=True)
class InputFile:
    """One file to read. ``input`` is the funnel key: the file itself for JSONL/Parquet, the tree
    root for tree files. ``relpath`` is the tree file's path inside its root."""

    path: str
    kind: str
    input: str
    format: str  # "jsonl" | "parquet" | "file"
    relpath: str = ""


TREE_FILES_PER_SHARD = 256  # one phase file per shard: a tree of 100k files must not become 100k files
ORDINAL_BITS = 32


@dataclass(frozen=True)
class InputShard:
    """What one worker reads in one go and what curate's phase files are partitioned by."""

    index: int
    files: tuple[InputFile, ...]


def plan_shards(files: list[InputFile]) -> list[InputShard]:
    """JSONL/Parquet files are a shard each; consecutive files of one tree are grouped, at most
    ``TREE_FILES_PER_SHARD`` per shard. Deterministic in the (sorted) file list."""
    groups: list[list[InputFile]] = []
    for item in files:
        last = groups[-1] if groups else None
        if (item.format == "file" and last and last[0].format == "file" and last[0].input == item.input
                and len(last) < TREE_FILES_PER_SHARD):
            last.append(item)
        else:
            groups.append([item])
    return [InputShard(index, tuple(group)) for index, group in enumerate(groups)]


def make_uid(shard: int, ordinal: int) -> int:
    if not 0 <= ordinal < 1 << ORDINAL_BITS:
        raise ValueError(f"record ordinal {ordinal} does not fit in {ORDINAL_BITS} bits")
    return shard << ORDINAL_BITS | ordinal


def shard_of_uid(uid: int) -> int:
    return uid >> ORDINAL_BITS


class ShardTable:
    """uid -> the document's id (its location), from the shard list alone."""

    def __init__(self, shards: list[InputShard]):
        self._shards = shards

    def location(self, uid: int) -> str:
        shard, ordinal = uid >> ORDINAL_BITS, uid & ((1 << ORDINAL_BITS) - 1)
        files = self._shards[shard].files
        if files[0].format == "file":
            return files[ordinal - 1].path
        return f"{files[0].path}:{ordinal}"


class InputError(ValueError):
    """An input glob matched nothing or names something unreadable as a whole; raised before the
    pipeline is built, so a typo fails in seconds, not after hours."""


@dataclass
class ResolvedInputs:
    files: list[InputFile]
    kinds: dict[str, str]  # every matched input (file or tree root, even one left empty) -> its kind
    skipped: dict[str, dict[str, int]]  # input -> skip rule -> files skipped by name at listing


def file_format(path: str) -> str:
    lower = path.lower()
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return "file"


def resolve_inputs(text_globs: list[str], code_globs: list[str], rules: SkipRules) -> ResolvedInputs:
    """Expand the ``--input`` / ``--code-input`` globs into the sorted list of files to read.

    Raises ``InputError`` naming the first glob that matches nothing. A file matched by two globs
    is read once (by the first kind that claims it)."""
    files: dict[str, InputFile] = {}
    kinds: dict[str, str] = {}
    skipped: dict[str, Counter] = {}
    for kind, globs in ((TEXT_KIND, text_globs), (CODE_KIND, code_globs)):
        for pattern in globs:
            matches = _match(pattern)
            if not matches:
                raise InputError(f"input glob matched no files: {pattern!r}")
            for path in matches:
                kinds.setdefault(path, kind)
                if _is_dir(path):
                    tree_skips = skipped.setdefault(path, Counter())
                    for relpath in _walk(path, rules, tree_skips):
                        full = _join(path, relpath)
                        files.setdefault(full, InputFile(full, kind, path, "file", relpath))
                else:
                    fmt = file_format(path)
                    relpath = os.path.basename(path) if fmt == "file" else ""
                    files.setdefault(path, InputFile(path, kind, path, fmt, relpath))
    if not files:
        raise InputError("the inputs hold no files to read (the matched trees are empty or every file in them "
                         "is skipped by rule: hidden, vendored, generated)")
    return ResolvedInputs(sorted(files.values(), key=lambda f: f.path), dict(sorted(kinds.items())),
                          {k: dict(sorted(v.items())) for k, v in sorted(skipped.items()) if v})


def _match(pattern: str) -> list[str]:
    if is_url(pattern):  # gs://, s3://...: object stores have no directories; "prefix/" is a tree
        if pattern.endswith("/"):
            return [pattern]
        return match(pattern)
    return sorted(glob.glob(pattern, recursive=True))


def _is_dir(path: str) -> bool:
    return path.endswith("/") if is_url(path) else os.path.isdir(path)


def _join(root: str, relpath: str) -> str:
    return root + relpath if root.endswith("/") else f"{root}/{relpath}"


def _walk(root: str, rules: SkipRules, skips: Counter) -> Iterator[str]:
    """Relative paths of the tree's candidate files, sorted; name-based skips are counted."""
    if is_url(root):
        names = [path[len(root):] for path in match(root + "**")]
    else:
        names = []
        for dirpath, dirnames, filenames in os.walk(root):
            keep = []
            for d in dirnames:
                rule = _dir_skip_rule(d, rules)
                if rule:
                    skips[rule] += 1
                else:
                    keep.append(d)
            dirnames[:] = sorted(keep)
            rel = os.path.relpath(dirpath, root)
            names.extend(os.path.join(rel, n) if rel != "." else n for n in filenames)
        names.sort()
    for relpath in names:
        parts = relpath.split("/")
        rule = next((r for r in (_dir_skip_rule(d, rules) for d in parts[:-1]) if r), None)
        rule = rule or _name_skip_rule(parts[-1], rules)
        if rule:
            skips[rule] += 1
        else:
            yield relpath


def _dir_skip_rule(name: str, rules: SkipRules) -> str | None:
    if name in rules.skip_dirs:
        return "vendored_dir"
    if rules.skip_hidden and name.startswith("."):
        return "hidden"
    return None


def _name_skip_rule(name: str, rules: SkipRules) -> str | None:
    if rules.skip_hidden and name.startswith("."):
        return "hidden"
    if name in rules.generated_names or name.lower().endswith(tuple(rules.generated_suffixes)):
        return "generated"
    return None


def _extension(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def default_bucket(kind: str, given_lang: str) -> str:
    """The bucket before LID: code for code; for text the record's own ``lang`` (ko → korean,
    other → multilingual) or "" when absent. The langid stage overrides it for text."""
    if kind == CODE_KIND:
        return CODE
    if not given_lang:
        return ""
    return KOREAN if given_lang == "ko" else MULTILINGUAL


class _ReadError(Exception):
    """One record cannot become a Document; ``str(exc)`` is the error message."""


def _check_utf8(value: str, what: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _ReadError(f"{what} is not valid Unicode ({exc.reason} at char {exc.start})") from None
    return value


def _excerpt(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw[: EXCERPT_CHARS * 4].decode("utf-8", "backslashreplace")
    return raw[:EXCERPT_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _ReadError(f"invalid UTF-8 in {what} at byte {exc.start}: {exc.reason}") from None


class ReadFileFn(beam.DoFn):
    """Reads one ``InputShard``: Documents on the main output (``uid`` set from the shard and the
    record's line/row, or its position in a tree shard), ``ReadError`` on ``errors``,
    ``(input, rule)`` on ``skipped``, and ``(input, records)`` per file on ``read`` (the
    independent record count that stats.json checks ``kept + rejected + errors`` against)."""

    def __init__(self, config: ReaderConfig, shards: list[InputShard] | None = None):
        self.config = config
        self._shards = shards  # when given, elements are shard indices (what a shuffle carries)
        self._records = Metrics.counter("read", "records")
        self._errors = Metrics.counter("read", "errors")
        self._skipped = Metrics.counter("read", "skipped_files")

    def process(self, shard: InputShard | int) -> Iterable:
        if isinstance(shard, int):
            shard = self._shards[shard]
        for position, item in enumerate(shard.files, start=1):
            records = 0
            for out in self._read(item):
                if isinstance(out, tuple):  # a skipped tree file: not a record
                    self._skipped.inc()
                    yield beam.pvalue.TaggedOutput(SKIPPED, out)
                    continue
                records += 1
                self._records.inc()
                if isinstance(out, ReadError):
                    self._errors.inc()
                    out.uid = make_uid(shard.index, position if item.format == "file" else records)
                    yield beam.pvalue.TaggedOutput(ERRORS, out)
                else:
                    ordinal = position if item.format == "file" else int(out.meta["line"])
                    out.uid = make_uid(shard.index, ordinal)
                    yield out
            yield beam.pvalue.TaggedOutput(READ, (item.input, records))

    def _read(self, item: InputFile) -> Iterator[Document | ReadError | tuple[str, str]]:
        try:
            if item.format == "jsonl":
                yield from self._read_jsonl(item)
            elif item.format == "parquet":
                yield from self._read_parquet(item)
            else:
                yield from self._read_tree_file(item)
        except _FileFailure as failure:
            yield ReadError(item.input, failure.location, failure.message, "")

    # -- JSONL ---------------------------------------------------------------------------------
    def _read_jsonl(self, item: InputFile) -> Iterator[Document | ReadError]:
        import json

        line_no = 0
        with _open(item.path) as stream:
            while True:
                try:
                    raw = stream.readline(self.config.max_record_bytes + 1)
                except STREAM_ERRORS as exc:  # corrupt or truncated gzip/zstd stream
                    raise _FileFailure(f"{item.path}:{line_no + 1}",
                                       f"corrupt compressed stream: {type(exc).__name__}: {exc}") from None
                if not raw:
                    return
                line_no += 1
                location = f"{item.path}:{line_no}"
                if line_no == 1 and raw.startswith(UTF8_BOM):
                    raw = raw[len(UTF8_BOM):]
                if len(raw) > self.config.max_record_bytes and not raw.endswith(b"\n"):
                    _skip_rest_of_line(stream)
                    yield ReadError(item.input, location,
                                    f"record too large (> {self.config.max_record_bytes} bytes)", _excerpt(raw))
                    continue
                if not raw.strip():  # blank lines separate records; they are not records
                    continue
                try:
                    data = json.loads(_decode(raw, "JSONL line"))
                    if not isinstance(data, dict):
                        raise _ReadError(f"JSON record is {type(data).__name__}, expected an object")
                    yield self._document(item, data, location, line_no)
                except json.JSONDecodeError as exc:
                    yield ReadError(item.input, location, f"malformed JSON: {exc}", _excerpt(raw))
                except _ReadError as exc:
                    yield ReadError(item.input, location, str(exc), _excerpt(raw))

    # -- Parquet -------------------------------------------------------------------------------
    def _read_parquet(self, item: InputFile) -> Iterator[Document | ReadError]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            handle = FileSystems.open(item.path, compression_type="uncompressed")
            parquet = pq.ParquetFile(handle)
        except Exception as exc:  # permission, not a Parquet file, truncated footer
            raise _FileFailure(item.path, f"unreadable Parquet file: {type(exc).__name__}: {exc}") from None
        with handle:
            names = parquet.schema_arrow.names
            if "text" not in names:
                raise _FileFailure(item.path, "Parquet file has no 'text' column")
            text_type = parquet.schema_arrow.field("text").type
            if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
                raise _FileFailure(item.path, f"Parquet 'text' column is {text_type}, expected string")
            columns = [c for c in ("text", "id", *METADATA_FIELDS) if c in names]
            row = 0
            for batch in parquet.iter_batches(batch_size=256, columns=columns):
                for data in batch.to_pylist():
                    row += 1
                    location = f"{item.path}:{row}"
                    try:
                        data = {k: v for k, v in data.items() if v is not None}
                        yield self._document(item, data, location, row)
                    except _ReadError as exc:
                        yield ReadError(item.input, location, str(exc), _excerpt(str(data.get("text", ""))))

    # -- text / code trees ---------------------------------------------------------------------
    def _read_tree_file(self, item: InputFile) -> Iterator[Document | ReadError | tuple[str, str]]:
        ext = _extension(item.relpath)
        if item.kind == CODE_KIND and ext not in CODE_EXTENSIONS:
            yield (item.input, "not_code")
            return
        if item.kind == TEXT_KIND and ext not in TEXT_EXTENSIONS:
            yield (item.input, "not_text")
            return
        limit = self.config.max_record_bytes
        if item.kind == CODE_KIND:
            limit = min(limit, self.config.skip.max_code_file_bytes)
        try:
            with FileSystems.open(item.path, compression_type="uncompressed") as handle:
                raw = handle.read(limit + 1)
        except Exception as exc:  # permission denied, vanished file
            raise _FileFailure(item.path, f"unreadable file: {type(exc).__name__}: {exc}") from None
        if b"\x00" in raw[:BINARY_SNIFF_BYTES]:
            yield (item.input, "binary")
            return
        if len(raw) > limit:
            if item.kind == CODE_KIND and limit == self.config.skip.max_code_file_bytes:
                yield (item.input, "too_large")
                return
            yield ReadError(item.input, item.path, f"record too large (> {limit} bytes)", _excerpt(raw))
            return
        try:
            text = _decode(raw[len(UTF8_BOM):] if raw.startswith(UTF8_BOM) else raw, "file")
        except _ReadError as exc:
            yield ReadError(item.input, item.path, str(exc), _excerpt(raw))
            return
        lang = CODE_EXTENSIONS[ext] if item.kind == CODE_KIND else ""
        yield self._make(item, text, location=item.path, line=0,
                         source=os.path.basename(item.input.rstrip("/")) or item.input,
                         meta={"path": item.relpath}, lang=lang)

    # -- records -> Document ---------------------------------------------------------------------
    def _document(self, item: InputFile, data: dict, location: str, line: int) -> Document:
        if "text" not in data:
            raise _ReadError("record has no 'text' field")
        text = data["text"]
        if not isinstance(text, str):
            raise _ReadError(f"'text' is {type(text).__name__}, expected string")
        given_id = data.get("id")
        if given_id is None or given_id == "":
            source_id = None
        elif isinstance(given_id, (str, int)) and not isinstance(given_id, bool):
            source_id = _check_utf8(str(given_id), "'id'")
        else:
            raise _ReadError(f"'id' is {type(given_id).__name__}, expected string or integer")
        meta = {}
        for key in METADATA_FIELDS:
            value = data.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise _ReadError(f"'{key}' is {type(value).__name__}, expected string")
            meta[key] = _check_utf8(value, f"'{key}'")
        source = meta.pop("source", os.path.basename(item.input))
        given_lang = meta.get("lang", "")
        lang = given_lang if item.kind == CODE_KIND else ""
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise _ReadError(f"'text' is not valid Unicode ({exc.reason} at char {exc.start})") from None
        if size > self.config.max_record_bytes:  # JSONL lines are cut earlier; this is for Parquet
            raise _ReadError(f"record too large (> {self.config.max_record_bytes} bytes)")
        return self._make(item, text, location, line, source, meta, lang, source_id)

    @staticmethod
    def _make(item: InputFile, text: str, location: str, line: int, source: str, meta: dict[str, str],
              lang: str, source_id: str | None = None) -> Document:
        meta = dict(meta, location=location, line=str(line))
        return Document(id=location, text=text, source=source, kind=item.kind, input=item.input,
                        bucket=default_bucket(item.kind, meta.get("lang", "")), lang=lang, meta=meta,
                        source_id=source_id)


class _FileFailure(Exception):
    """The rest of a file cannot be read; becomes one ReadError at ``location``."""

    def __init__(self, location: str, message: str):
        super().__init__(message)
        self.location, self.message = location, message


def _open(path: str) -> ContextManager[BinaryIO]:
    """A buffered binary stream of the file, decompressed by suffix (``corpus.compression``)."""
    try:
        raw = FileSystems.open(path, compression_type="uncompressed")
    except Exception as exc:
        raise _FileFailure(path, f"unreadable file: {type(exc).__name__}: {exc}") from None
    return open_file(path, "rb", raw)


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while True:
        chunk = stream.readline(1 << 20)
        if not chunk or chunk.endswith(b"\n"):
            return


class ReadDocuments(beam.PTransform):
    """Reads input shards in parallel (one shard per element; ``Reshuffle`` spreads the shard
    indices over workers; the text itself never crosses a shuffle). Outputs: ``docs``,
    ``errors`` (ReadError), ``skipped`` ((input, rule)) and ``read`` ((input, record count) per file)."""

    def __init__(self, shards: list[InputShard], config: ReaderConfig, meter: ShuffleMeter | None = None):
        super().__init__()
        self.shards = shards
        self.config = config
        self.meter = meter or ShuffleMeter()

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        indices = pbegin | "Shards" >> beam.Create(range(len(self.shards)), reshuffle=False)
        out = (self.meter.reshuffle(indices, "SpreadShards")
               | "ReadShard" >> beam.ParDo(ReadFileFn(self.config, self.shards)).with_outputs(
                   ERRORS, SKIPPED, READ, main="docs"))
        return {"docs": out["docs"], ERRORS: out[ERRORS], SKIPPED: out[SKIPPED], READ: out[READ]}
