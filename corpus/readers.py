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

Every record becomes exactly one ``Document`` or one ``ReadError`` (invalid UTF-8, malformed or
too deeply nested JSON, an integer of too many digits, missing/non-string ``text``, lone
surrogates, oversized record, unreadable file: never a crash). JSONL lines are read by
``corpus.records`` (split at ``\n`` only, bounded JSON, truncation detected wherever the stream
ends), the same reader as the side files and ``python -m pii``.

Parquet is read one row group at a time, each in isolation: a row group that cannot be decoded (a
corrupt data page, a failed page checksum) is one ``ReadError`` counting the rows its footer entry
declares, and the other groups are read; invalid UTF-8 in a string column is an error of that row.
Text columns may be ``string``, ``large_string``, ``string_view``, dictionary-encoded (pandas
categoricals) or ``binary`` holding UTF-8. A whole-file failure counts the records the file
declares: the footer's row count for a readable footer (a file without a usable ``text`` column),
one record when not even the footer can be read (permission denied, not Parquet, a corrupt
compressed JSONL stream from its damage on).

File names are carried as the OS gives them (``os.fsencode``-safe ``surrogateescape`` strings) to
open the file, and reported readably: in ``input``, ``location`` and ids a byte that is not UTF-8
appears as ``\xff``. Tree files skipped by rule (``SkipRules``) are not records; they are counted
per input and rule under ``skipped_files`` in stats.json, as are symlinked directories (never
followed: no loops), unreadable directories, and hidden entries a ``**`` glob passed over. Files
matched through a ``**`` glob that are plain text or code (not JSONL/Parquet) are read as tree
files of the glob's literal root: the tree rules apply to them too.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, ContextManager, Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from corpus import globs
from corpus.compression import SUFFIXES as COMPRESSION_SUFFIXES
from corpus.compression import open_file
from corpus.document import CODE, CODE_KIND, KOREAN, MULTILINGUAL, TEXT_KIND, Document, ReadError
from corpus.io_errors import readable
from corpus.parquet import DECODE_BATCH_ROWS
from corpus.records import (UTF8_BOM, DamagedStream, JsonLimits, RecordError, check_unicode, decode_utf8,
                            parse_object, read_lines)
from corpus.shuffle_meter import ShuffleMeter
from corpus.storage import is_url, match

ERRORS, SKIPPED, READ = "errors", "skipped", "read"
JSONL_SUFFIXES = tuple(f"{ext}{codec}" for ext in (".jsonl", ".ndjson") for codec in ("", *COMPRESSION_SUFFIXES))
PARQUET_SUFFIXES = (".parquet",)
METADATA_FIELDS = ("source", "lang", "path", "license")
EXCERPT_CHARS = 200
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
    generated code ("DO NOT EDIT", "@generated") are the quality step's job, not the reader's.
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
    json: JsonLimits = field(default_factory=JsonLimits)


@dataclass(frozen=True)
class InputFile:
    """One file to read. ``path`` opens it (as the OS gave it: may hold ``surrogateescape`` bytes);
    ``input`` is the funnel key, readable: the file itself for JSONL/Parquet, the tree root for tree
    files. ``relpath`` is the tree file's path inside its root."""

    path: str
    kind: str
    input: str
    format: str  # "jsonl" | "parquet" | "file"
    relpath: str = ""

    @property
    def name(self) -> str:
        """``path`` as reported (valid UTF-8)."""
        return readable(self.path)


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
            return files[ordinal - 1].name
        return f"{files[0].name}:{ordinal}"


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
    for kind, patterns in ((TEXT_KIND, text_globs), (CODE_KIND, code_globs)):
        for pattern in patterns:
            matches, root, glob_skips = _match(pattern)
            root = root or "."
            if not matches:
                raise InputError(f"input glob matched no files: {readable(pattern)!r}")
            if glob_skips:
                kinds.setdefault(readable(root), kind)
                skipped.setdefault(readable(root), Counter()).update(glob_skips)
            for path in matches:
                if _is_dir(path):
                    kinds.setdefault(readable(path), kind)
                    tree_skips = skipped.setdefault(readable(path), Counter())
                    for relpath in _walk(path, rules, tree_skips):
                        full = _join(path, relpath)
                        files.setdefault(full, InputFile(full, kind, readable(path), "file", relpath))
                    continue
                fmt = file_format(path)
                if fmt == "file" and globs.is_recursive(pattern):  # "dir/**/*.py": files of the tree at root
                    relpath = os.path.relpath(path, root) if not is_url(path) else path[len(root):].lstrip("/")
                    rule = _tree_skip_rule(relpath, rules)
                    kinds.setdefault(readable(root), kind)
                    if rule:
                        skipped.setdefault(readable(root), Counter())[rule] += 1
                    else:
                        files.setdefault(path, InputFile(path, kind, readable(root), fmt, relpath))
                    continue
                kinds.setdefault(readable(path), kind)
                relpath = os.path.basename(path) if fmt == "file" else ""
                files.setdefault(path, InputFile(path, kind, readable(path), fmt, relpath))
    if not files:
        raise InputError("the inputs hold no files to read (the matched trees are empty or every file in them "
                         "is skipped by rule: hidden, vendored, generated)")
    return ResolvedInputs(sorted(files.values(), key=lambda f: f.path), dict(sorted(kinds.items())),
                          {k: dict(sorted(v.items())) for k, v in sorted(skipped.items()) if v})


def _match(pattern: str) -> tuple[list[str], str, Counter]:
    """(matched paths, the pattern's literal root, entries the glob passed over by rule)."""
    root = globs.literal_root(pattern)
    if is_url(pattern):  # gs://, s3://...: object stores have no directories; "prefix/" is a tree
        if pattern.endswith("/"):
            return [pattern], root, Counter()
        return match(pattern), root, Counter()
    found = globs.expand(pattern)
    return found.paths, found.root, found.skipped


def _is_dir(path: str) -> bool:
    return path.endswith("/") if is_url(path) else os.path.isdir(path)


def _join(root: str, relpath: str) -> str:
    return root + relpath if root.endswith("/") else f"{root}/{relpath}"


def _walk(root: str, rules: SkipRules, skips: Counter) -> Iterator[str]:
    """Relative paths of the tree's candidate files, sorted; every skip is counted. Symlinked
    directories are not entered (a link to an ancestor would loop); symlinked files are read."""
    if is_url(root):
        names = [path[len(root):] for path in match(root + "**")]
    else:
        names = []
        for dirpath, dirnames, filenames in os.walk(root, onerror=lambda _: skips.update(["unreadable_dir"])):
            keep = []
            for d in dirnames:
                rule = "symlinked_dir" if os.path.islink(os.path.join(dirpath, d)) else _dir_skip_rule(d, rules)
                if rule:
                    skips[rule] += 1
                else:
                    keep.append(d)
            dirnames[:] = sorted(keep)
            rel = os.path.relpath(dirpath, root)
            names.extend(os.path.join(rel, n) if rel != "." else n for n in filenames)
        names.sort()
    for relpath in names:
        rule = _tree_skip_rule(relpath, rules)
        if rule:
            skips[rule] += 1
        else:
            yield relpath


def _tree_skip_rule(relpath: str, rules: SkipRules) -> str | None:
    """The rule that skips the file at ``relpath`` inside a tree, or None."""
    parts = relpath.split("/")
    rule = next((r for r in (_dir_skip_rule(d, rules) for d in parts[:-1]) if r), None)
    return rule or _name_skip_rule(parts[-1], rules)


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
    other → multilingual) or "" when absent. The langid step overrides it for text."""
    if kind == CODE_KIND:
        return CODE
    if not given_lang:
        return ""
    return KOREAN if given_lang == "ko" else MULTILINGUAL


def _excerpt(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw[: EXCERPT_CHARS * 4].decode("utf-8", "backslashreplace")
    return raw[:EXCERPT_CHARS].encode("utf-8", "backslashreplace").decode("utf-8")


class ReadFileFn(beam.DoFn):
    """Reads one ``InputShard``: Documents on the main output (``uid`` set from the shard and the
    record's line/row, or its position in a tree shard), ``ReadError`` on ``errors``,
    ``(input, rule)`` on ``skipped``, and ``(input, records)`` per file on ``read`` (the
    independent record count that stats.json checks ``kept + rejected + errors`` against; a
    ``ReadError`` counts the ``records`` it stands for)."""

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
                if isinstance(out, ReadError):
                    out = _reportable(out)
                    records += out.records
                    self._records.inc(out.records)
                    self._errors.inc(out.records)
                    out.uid = make_uid(shard.index, position if item.format == "file" else records)
                    yield beam.pvalue.TaggedOutput(ERRORS, out)
                else:
                    records += 1
                    self._records.inc()
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
            if failure.records:
                yield ReadError(item.input, failure.location, failure.message, "", failure.records)
        except Exception as exc:  # a damaged file the checks above did not foresee: still not a crash
            yield ReadError(item.input, item.name, f"unreadable file: {type(exc).__name__}: {exc}", "")

    # -- JSONL ---------------------------------------------------------------------------------
    def _read_jsonl(self, item: InputFile) -> Iterator[Document | ReadError]:
        limit = self.config.max_record_bytes
        with _open(item) as stream:
            try:
                for line in read_lines(stream, item.name, limit):
                    location = f"{item.name}:{line.number}"
                    if line.too_large:
                        yield ReadError(item.input, location, f"record too large (> {limit} bytes)", _excerpt(line.raw))
                    elif not line.blank:  # blank lines separate records; they are not records
                        try:
                            yield self._document(item, parse_object(line.raw, self.config.json), location, line.number)
                        except RecordError as exc:
                            yield ReadError(item.input, location, str(exc), _excerpt(line.raw))
            except DamagedStream as damage:  # a corrupt or truncated gzip/zstd stream: the rest is lost
                raise _FileFailure(f"{item.name}:{damage.line}", damage.reason) from None

    # -- Parquet -------------------------------------------------------------------------------
    def _read_parquet(self, item: InputFile) -> Iterator[Document | ReadError]:
        import pyarrow.parquet as pq

        try:
            handle = FileSystems.open(item.path, compression_type="uncompressed")
        except Exception as exc:  # permission denied, vanished file
            raise _FileFailure(item.name, f"unreadable file: {type(exc).__name__}: {exc}") from None
        with handle:
            try:  # page checksums, where the writer stored them, catch corrupt pages before decoding
                parquet = pq.ParquetFile(handle, page_checksum_verification=True)
                metadata, schema = parquet.metadata, parquet.schema_arrow
            except Exception as exc:  # not a Parquet file, truncated or corrupt footer
                raise _FileFailure(item.name, f"unreadable Parquet file: {type(exc).__name__}: {exc}") from None
            declared = max(metadata.num_rows, 0)
            problem = parquet_text_problem(schema)
            if problem:
                raise _FileFailure(item.name, problem, records=declared)
            columns = [c for c in ("text", "id", *METADATA_FIELDS) if c in schema.names]
            first_row = 1
            for group in range(metadata.num_row_groups):
                group_rows = max(metadata.row_group(group).num_rows, 0)
                yield from self._read_row_group(item, parquet, group, group_rows, first_row, columns)
                first_row += group_rows

    def _read_row_group(self, item: InputFile, parquet, group: int, group_rows: int, first_row: int,
                        columns: list[str]) -> Iterator[Document | ReadError]:
        """One row group, in isolation: a failure to decode it loses only its own remaining rows."""
        done = 0
        try:
            for batch in parquet.iter_batches(batch_size=DECODE_BATCH_ROWS, row_groups=[group], columns=columns,
                                              use_threads=False):
                for data in _python_rows(batch):
                    done += 1
                    row = first_row + done - 1
                    location = f"{item.name}:{row}"
                    if isinstance(data, RecordError):
                        yield ReadError(item.input, location, str(data), "")
                        continue
                    try:
                        yield self._document(item, data, location, row)
                    except RecordError as exc:
                        yield ReadError(item.input, location, str(exc), _excerpt(str(data.get("text", ""))))
        except Exception as exc:  # corrupt page, failed checksum, bad encoding: this group only
            lost = group_rows - done
            if lost > 0:
                last = first_row + group_rows - 1
                yield ReadError(item.input, f"{item.name}:{first_row + done}-{last}",
                                f"unreadable row group {group} (rows {first_row + done}-{last} of the footer's count): "
                                f"{type(exc).__name__}: {exc}", "", lost)

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
            raise _FileFailure(item.name, f"unreadable file: {type(exc).__name__}: {exc}") from None
        if b"\x00" in raw[:BINARY_SNIFF_BYTES]:
            yield (item.input, "binary")
            return
        if len(raw) > limit:
            if item.kind == CODE_KIND and limit == self.config.skip.max_code_file_bytes:
                yield (item.input, "too_large")
                return
            yield ReadError(item.input, item.name, f"record too large (> {limit} bytes)", _excerpt(raw))
            return
        try:
            text = decode_utf8(raw[len(UTF8_BOM):] if raw.startswith(UTF8_BOM) else raw, "file")
        except RecordError as exc:
            yield ReadError(item.input, item.name, str(exc), _excerpt(raw))
            return
        lang = CODE_EXTENSIONS[ext] if item.kind == CODE_KIND else ""
        yield self._make(item, text, location=item.name, line=0,
                         source=os.path.basename(item.input.rstrip("/")) or item.input,
                         meta={"path": readable(item.relpath)}, lang=lang)

    # -- records -> Document ---------------------------------------------------------------------
    def _document(self, item: InputFile, data: dict, location: str, line: int) -> Document:
        if "text" not in data:
            raise RecordError("record has no 'text' field")
        text = data["text"]
        if not isinstance(text, str):
            raise RecordError(f"'text' is {type(text).__name__}, expected string")
        given_id = data.get("id")
        if given_id is None or given_id == "":
            source_id = None
        elif isinstance(given_id, (str, int)) and not isinstance(given_id, bool):
            source_id = check_unicode(str(given_id), "'id'")
        else:
            raise RecordError(f"'id' is {type(given_id).__name__}, expected string or integer")
        meta = {}
        for key in METADATA_FIELDS:
            value = data.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise RecordError(f"'{key}' is {type(value).__name__}, expected string")
            meta[key] = check_unicode(value, f"'{key}'")
        source = meta.pop("source", os.path.basename(item.input))
        given_lang = meta.get("lang", "")
        lang = given_lang if item.kind == CODE_KIND else ""
        size = len(check_unicode(text, "'text'").encode("utf-8"))
        if size > self.config.max_record_bytes:  # JSONL lines are cut earlier; this is for Parquet
            raise RecordError(f"record too large (> {self.config.max_record_bytes} bytes)")
        return self._make(item, text, location, line, source, meta, lang, source_id)

    @staticmethod
    def _make(item: InputFile, text: str, location: str, line: int, source: str, meta: dict[str, str],
              lang: str, source_id: str | None = None) -> Document:
        meta = dict(meta, location=location, line=str(line))
        return Document(id=location, text=text, source=source, kind=item.kind, input=item.input,
                        bucket=default_bucket(item.kind, meta.get("lang", "")), lang=lang, meta=meta,
                        source_id=source_id)


def _reportable(error: ReadError) -> ReadError:
    """The error with every string valid UTF-8: an OS message may quote a file name's raw bytes."""
    return ReadError(readable(error.input), readable(error.location), readable(error.error),
                     readable(error.excerpt), error.records)


def parquet_text_problem(schema) -> str | None:
    """Why a Parquet schema has no usable ``text`` column, or None when it has one."""
    if "text" not in schema.names:
        return "Parquet file has no 'text' column"
    text_type = schema.field("text").type
    if not _is_text_type(text_type):
        return f"Parquet 'text' column is {text_type}, expected string"
    return None


def _is_text_type(arrow_type) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return (pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
            or pa.types.is_string_view(arrow_type) or pa.types.is_binary(arrow_type)
            or pa.types.is_large_binary(arrow_type) or pa.types.is_binary_view(arrow_type))


def _python_rows(batch) -> Iterator[dict | RecordError]:
    """The batch's rows as dicts without nulls; a row whose string column holds invalid UTF-8 is
    a ``RecordError`` naming the column (Arrow does not validate UTF-8 when reading Parquet)."""
    columns = {name: _column_values(batch.column(name)) for name in batch.schema.names}
    for index in range(batch.num_rows):
        row: dict = {}
        for name, values in columns.items():
            value = values[index]
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError as exc:
                    row = RecordError(f"invalid UTF-8 in Parquet column '{name}' at byte {exc.start}: {exc.reason}")
                    break
            if value is not None:
                row[name] = value
        yield row


def _column_values(column) -> list:
    """Python values of one column; string-like columns (any width, views, dictionaries) as bytes."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if _is_text_type(column.type):
        return column.cast(pa.large_binary()).to_pylist()
    return column.to_pylist()


class _FileFailure(Exception):
    """The rest of a file cannot be read; becomes one ReadError at ``location`` standing for
    ``records`` records (the footer's row count when the file declares one)."""

    def __init__(self, location: str, message: str, records: int = 1):
        super().__init__(message)
        self.location, self.message, self.records = location, message, records


def _open(item: InputFile) -> ContextManager[BinaryIO]:
    """A buffered binary stream of the file, decompressed by suffix (``corpus.compression``)."""
    try:
        raw = FileSystems.open(item.path, compression_type="uncompressed")
    except Exception as exc:
        raise _FileFailure(item.name, f"unreadable file: {type(exc).__name__}: {exc}") from None
    return open_file(item.path, "rb", raw)


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
