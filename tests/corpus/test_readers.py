"""Readers: every supported format, and every bad input of issue 3 becomes a recorded ReadError
(never a crash, never a silent drop)."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from corpus.document import CODE, CODE_KIND, KOREAN, TEXT_KIND
from corpus.local_runner import new_pipeline
from corpus.readers import (ERRORS, READ, SKIPPED, InputError, ReaderConfig, ReadDocuments, ReadFileFn, ShardTable,
                            SkipRules, make_uid, plan_shards, resolve_inputs)
from corpus.shuffle_meter import ShuffleMeter
from tests.conftest import read_sample
from transforms.unique_ids import UniqueSourceIds
from transforms.verdicts import VerdictContext

KO = "대한민국은 민주공화국이다. 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다."


def _lines(records: list) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode()) + b"\n"
                    for r in records)


def _read(paths: list[str] | str, kind: str = TEXT_KIND, config: ReaderConfig | None = None):
    """Resolve ``paths`` and run the real DoFn on every file: (docs, errors, skipped, read counts)."""
    paths = [paths] if isinstance(paths, str) else paths
    config = config or ReaderConfig()
    resolved = resolve_inputs(paths if kind == TEXT_KIND else [], paths if kind == CODE_KIND else [], config.skip)
    fn = ReadFileFn(config)
    docs, errors, skipped, read = [], [], [], []
    for shard in plan_shards(resolved.files):
        for out in fn.process(shard):
            if isinstance(out, beam.pvalue.TaggedOutput):
                {ERRORS: errors, SKIPPED: skipped, READ: read}[out.tag].append(out.value)
            else:
                docs.append(out)
    return docs, errors, skipped, read, resolved


def test_jsonl_plain_gzip_and_zstd_read_the_same_documents(tmp_path):
    records = read_sample("ko", 5)
    payload = _lines(records)
    (tmp_path / "a.jsonl").write_bytes(payload)
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(payload))
    (tmp_path / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(payload))
    for name in ("a.jsonl", "b.jsonl.gz", "c.jsonl.zst"):
        docs, errors, _, read, _ = _read(str(tmp_path / name))
        assert not errors
        assert [d.text for d in docs] == [r["text"] for r in records]
        assert [d.source_id for d in docs] == [r["id"] for r in records]
        assert [d.id for d in docs] == [f"{tmp_path / name}:{i}" for i in range(1, 6)]
        assert read == [(str(tmp_path / name), 5)]


def test_jsonl_metadata_is_kept_and_given_korean_lang_sets_the_provisional_bucket(tmp_path):
    path = tmp_path / "ko.jsonl"
    path.write_bytes(_lines([{"id": "k1", "text": KO, "source": "law", "license": "public-domain", "lang": "ko",
                              "path": "kolaw/constitution.txt"}]))
    (doc,), _, _, _, _ = _read(str(path))
    assert (doc.source_id, doc.source, doc.kind, doc.bucket, doc.input) == ("k1", "law", TEXT_KIND, KOREAN, str(path))
    assert doc.meta["license"] == "public-domain" and doc.meta["path"] == "kolaw/constitution.txt"
    assert doc.meta["location"] == f"{path}:1"
    assert doc.lang == ""  # langid decides the language of text; the given one stays in meta


def test_ids_are_locations_and_a_given_id_is_kept_as_source_id(tmp_path):
    path = tmp_path / "noid.jsonl"
    path.write_bytes(_lines([{"text": "first"}, {"text": "second", "id": 7}]))
    docs, _, _, _, _ = _read(str(path))
    assert [(d.id, d.source_id) for d in docs] == [(f"{path}:1", None), (f"{path}:2", "7")]
    assert [d.uid for d in docs] == [make_uid(0, 1), make_uid(0, 2)]
    assert docs[0].source == "noid.jsonl"


def test_code_jsonl_records_are_bucket_code_with_their_given_language(tmp_path):
    records = read_sample("code", 3)
    path = tmp_path / "code.jsonl.gz"
    path.write_bytes(gzip.compress(_lines(records)))
    docs, errors, _, _, _ = _read(str(path), kind=CODE_KIND)
    assert not errors
    assert {(d.kind, d.bucket) for d in docs} == {(CODE_KIND, CODE)}
    assert [d.lang for d in docs] == [r["lang"] for r in records]


def test_parquet_rows_become_documents(tmp_path):
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"id": ["p1", "p2"], "text": [KO, "Guten Tag, wie geht es Ihnen?"],
                             "source": ["s", "s"], "lang": ["ko", "de"]}), path)
    docs, errors, _, read, _ = _read(str(path))
    assert not errors
    assert [(d.source_id, d.id) for d in docs] == [("p1", f"{path}:1"), ("p2", f"{path}:2")]
    assert read == [(str(path), 2)]


def test_parquet_null_text_row_and_non_string_text_column_are_errors_counting_the_footer_rows(tmp_path):
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["ok", None]}), nulls)
    ints = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), ints)
    docs, errors, _, read, _ = _read([str(nulls), str(ints)])
    assert [d.text for d in docs] == ["ok"]
    assert sorted((e.location, e.error) for e in errors) == [
        (str(ints), "Parquet 'text' column is int64, expected string"),
        (f"{nulls}:2", "record has no 'text' field")]
    assert sorted(read) == [(str(ints), 2), (str(nulls), 2)]  # the footer says 2 rows
    assert [e.records for e in errors if e.location == str(ints)] == [2]


def test_parquet_text_over_the_record_limit_is_an_error(tmp_path):
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"id": ["big", "small"], "text": ["x" * 2048, "y"]}), path)
    docs, errors, _, _, _ = _read(str(path), config=ReaderConfig(max_record_bytes=1024))
    assert [d.source_id for d in docs] == ["small"]
    assert [(e.location, e.error) for e in errors] == [(f"{path}:1", "record too large (> 1024 bytes)")]


def test_invalid_utf8_in_a_jsonl_line_is_an_error_and_the_next_lines_are_read(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(_lines([{"text": "before"}, b'{"text": "caf\xe9 au lait"}', {"text": "after"}]))
    docs, errors, _, read, _ = _read(str(path))
    assert [d.text for d in docs] == ["before", "after"]
    (error,) = errors
    assert error.location == f"{path}:2"
    assert error.error.startswith("invalid UTF-8 in JSONL line at byte 13")
    assert "\\xe9" in error.excerpt
    assert read == [(str(path), 3)]


def test_malformed_and_truncated_json_lines_are_errors(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_bytes(_lines([b'{"text": "unterminated', b"[1, 2]", {"text": "fine"}]))
    docs, errors, _, _, _ = _read(str(path))
    assert [d.text for d in docs] == ["fine"]
    assert [e.location for e in errors] == [f"{path}:1", f"{path}:2"]
    assert errors[0].error.startswith("malformed JSON")
    assert errors[1].error == "JSON record is list, expected an object"


def test_missing_text_non_string_text_and_lone_surrogate_are_errors(tmp_path):
    path = tmp_path / "fields.jsonl"
    path.write_bytes(_lines([{"id": "a"}, {"id": "b", "text": 42}, {"id": "c", "text": ["x"]},
                             b'{"id": "d", "text": "half \\ud800 pair"}', {"id": "e", "text": "ok", "license": 3}]))
    docs, errors, _, read, _ = _read(str(path))
    assert docs == []
    assert [e.error for e in errors] == [
        "record has no 'text' field", "'text' is int, expected string", "'text' is list, expected string",
        "'text' is not valid Unicode (surrogates not allowed at char 5)", "'license' is int, expected string"]
    assert read == [(str(path), 5)]


def test_empty_file_and_blank_lines_are_zero_records_without_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    blanks = tmp_path / "blanks.jsonl.gz"
    blanks.write_bytes(gzip.compress(b"\n\n" + _lines([{"text": "only one"}]) + b"   \n"))
    docs, errors, _, read, _ = _read([str(empty), str(blanks)])
    assert [d.text for d in docs] == ["only one"] and not errors
    assert sorted(read) == [(str(blanks), 1), (str(empty), 0)]


def test_utf8_byte_order_mark_at_file_start_is_not_part_of_the_first_record(tmp_path):
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + _lines([{"text": "first"}, {"text": "second"}]))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "bom.txt").write_bytes(b"\xef\xbb\xbf" + KO.encode("utf-8"))
    docs, errors, _, _, _ = _read([str(tmp_path / "bom.jsonl"), str(tmp_path / "notes")])
    assert not errors
    assert [d.text for d in docs] == ["first", "second", KO]


def test_empty_document_is_read_as_a_document(tmp_path):
    # Normalization rejects it (normalize:empty); the reader must not drop it silently.
    path = tmp_path / "e.jsonl"
    path.write_bytes(_lines([{"id": "blank", "text": "  \n\t"}]))
    (doc,), errors, _, _, _ = _read(str(path))
    assert doc.source_id == "blank" and not errors


def test_20mb_document_is_read_whole_and_an_oversized_record_is_an_error(tmp_path):
    big = "가나다라마바사 " * (20 * 1024 * 1024 // 22 + 1)  # 20+ MB of UTF-8
    path = tmp_path / "big.jsonl"
    path.write_bytes(_lines([{"id": "big", "text": big}, {"id": "small", "text": "after"}]))
    docs, errors, _, _, _ = _read(str(path))
    assert [d.source_id for d in docs] == ["big", "small"] and docs[0].text == big and not errors

    docs, errors, _, read, _ = _read(str(path), config=ReaderConfig(max_record_bytes=1024 * 1024))
    assert [d.source_id for d in docs] == ["small"]
    assert [(e.location, e.error) for e in errors] == [(f"{path}:1", "record too large (> 1048576 bytes)")]
    assert read == [(str(path), 2)]


def test_truncated_gzip_keeps_the_records_before_the_damage_and_records_one_error(tmp_path):
    payload = gzip.compress(_lines([{"text": f"doc {i} " * 50} for i in range(200)]))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(payload[: len(payload) // 2])
    docs, errors, _, read, _ = _read(str(path))
    assert 0 < len(docs) < 200
    (error,) = errors
    assert error.location == f"{path}:{len(docs) + 1}" and error.error.startswith("corrupt compressed stream")
    assert read == [(str(path), len(docs) + 1)]



@pytest.mark.parametrize("damage", ["truncated", "not_zstd"])
def test_damaged_zstd_keeps_the_records_before_the_damage_and_records_one_error(tmp_path, damage):
    compressor = zstandard.ZstdCompressor()
    first = compressor.compress(_lines([{"text": f"doc {i}"} for i in range(3)]))
    rest = compressor.compress(_lines([{"text": f"late doc {i} " * 50} for i in range(200)]))
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(first + (rest[: len(rest) // 2] if damage == "truncated" else b"not zstd at all\n"))
    docs, errors, _, read, _ = _read(str(path))
    assert [d.text for d in docs] == ["doc 0", "doc 1", "doc 2"]
    (error,) = errors
    assert error.location == f"{path}:4" and error.error.startswith("corrupt compressed stream")
    assert read == [(str(path), 4)]

def _read_errors_as_unprivileged_user(path: Path, queue) -> None:
    """Child process: drop root (which reads any file) to 'nobody', then read ``path``."""
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    _, errors, _, read, _ = _read(str(path))
    queue.put(([(e.location, e.error) for e in errors], read))


def test_permission_denied_file_is_an_error_not_a_crash():
    import multiprocessing
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="korpus-perm-"))
    try:
        root.chmod(0o755)
        path = root / "locked.jsonl"
        path.write_bytes(_lines([{"text": "secret"}]))
        path.chmod(0)
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_read_errors_as_unprivileged_user, args=(path, queue))
        child.start()
        errors, read = queue.get(timeout=60)
        child.join()
    finally:
        shutil.rmtree(root)
    assert [location for location, _ in errors] == [str(path)]
    assert errors[0][1].startswith("unreadable file: PermissionError")
    assert read == [(str(path), 1)]


def test_file_that_vanished_after_listing_is_an_error_not_a_crash(tmp_path):
    for name in ("gone.jsonl", "gone.txt"):
        (tmp_path / name).write_text("x")
    resolved = resolve_inputs([str(tmp_path / "gone.*")], [], SkipRules())
    for name in ("gone.jsonl", "gone.txt"):
        (tmp_path / name).unlink()
    fn = ReadFileFn(ReaderConfig())
    errors = [o.value for shard in plan_shards(resolved.files) for o in fn.process(shard)
              if getattr(o, "tag", None) == ERRORS]
    assert sorted(e.location for e in errors) == [str(tmp_path / "gone.jsonl"), str(tmp_path / "gone.txt")]
    assert all("unreadable file: FileNotFoundError" in e.error for e in errors)


def test_glob_matching_nothing_is_an_input_error_naming_the_glob(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(InputError, match=r"matched no files: '.*/nothing\*\.jsonl'"):
        resolve_inputs([str(tmp_path / "a.jsonl")], [str(tmp_path / "nothing*.jsonl")], SkipRules())


def _code_tree(root: Path) -> None:
    files = {
        "src/main.py": b"def main():\n    return 42\n",
        "src/lib.rs": b"pub fn add(a: i32, b: i32) -> i32 { a + b }\n",
        "src/app.min.js": b"var a=1;",
        "src/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "src/blob.py": b"x = 1\x00\x00binary",
        "src/latin1.py": b"# caf\xe9\nx = 1\n",
        "README": b"not code",
        "Cargo.lock": b"[[package]]\n",
        "node_modules/left-pad/index.js": b"module.exports = 1;\n",
        ".git/config": b"[core]\n",
        ".hidden.py": b"x = 1\n",
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def test_code_tree_reads_one_document_per_source_file_and_counts_every_skip(tmp_path):
    _code_tree(tmp_path / "repo")
    root = str(tmp_path / "repo")
    docs, errors, skipped, read, resolved = _read(root, kind=CODE_KIND)
    assert [(d.id, d.lang, d.bucket, d.meta["path"]) for d in docs] == [
        (f"{root}/src/lib.rs", "rust", CODE, "src/lib.rs"), (f"{root}/src/main.py", "python", CODE, "src/main.py")]
    assert {d.input for d in docs} == {root} and docs[0].source == "repo"
    assert [(e.location, e.error.split(" at ")[0]) for e in errors] == [
        (f"{root}/src/latin1.py", "invalid UTF-8 in file")]
    assert sorted(skipped) == [(root, "binary"), (root, "not_code"), (root, "not_code")]
    assert resolved.skipped == {root: {"generated": 2, "hidden": 1, "vendored_dir": 2}}
    assert sum(n for _, n in read) == 3  # two documents and one error


def test_text_tree_file_with_invalid_utf8_is_an_error(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "good.txt").write_text(KO, encoding="utf-8")
    (tmp_path / "notes" / "bad.txt").write_bytes(KO.encode("utf-8")[:9] + b"\xff\xfe" + b" tail")
    docs, errors, _, _, _ = _read(str(tmp_path / "notes"))
    assert [d.text for d in docs] == [KO]
    assert [e.location for e in errors] == [str(tmp_path / "notes" / "bad.txt")]
    assert errors[0].error.startswith("invalid UTF-8 in file at byte 9")


def test_read_documents_on_direct_runner_and_duplicate_source_ids_keep_the_first_read(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(_lines([{"id": "same", "text": "from a"}, {"id": "x", "text": "x"}]))
    (tmp_path / "b.jsonl").write_bytes(_lines([{"id": "same", "text": "from b"}, b"{oops"]))
    resolved = resolve_inputs([str(tmp_path / "*.jsonl")], [], SkipRules())
    shards = plan_shards(resolved.files)
    context = VerdictContext(ShuffleMeter(), ShardTable(shards), {}, 0)
    with new_pipeline(PipelineOptions()) as pipeline:
        read = pipeline | ReadDocuments(shards, ReaderConfig())
        assert_that(read["docs"] | "Ids" >> beam.Map(lambda d: (d.id, d.source_id, d.text)),
                    equal_to([(f"{tmp_path}/a.jsonl:1", "same", "from a"), (f"{tmp_path}/a.jsonl:2", "x", "x"),
                              (f"{tmp_path}/b.jsonl:1", "same", "from b")]), label="CheckDocs")
        records = read["docs"] | "Records" >> beam.Map(lambda d: {"uid": d.uid, "source_id": d.source_id})
        verdicts = UniqueSourceIds().verdicts(records, context)
        assert_that(verdicts | "Rej" >> beam.MapTuple(lambda uid, v: (uid, v.reason, v.detail)),
                    equal_to([(make_uid(1, 1), "read:duplicate_id", f"id first read at {tmp_path}/a.jsonl:1")]),
                    label="CheckRejected")
        assert_that(read[ERRORS] | "Err" >> beam.Map(lambda e: e.location),
                    equal_to([f"{tmp_path}/b.jsonl:2"]), label="CheckErrors")


def test_tree_files_are_grouped_into_shards_and_uids_map_back_to_ids(tmp_path):
    from corpus.readers import TREE_FILES_PER_SHARD, InputFile

    tree = [InputFile(f"/t/{i:04d}.py", CODE_KIND, "/t", "file", f"{i:04d}.py") for i in range(TREE_FILES_PER_SHARD + 3)]
    files = [InputFile("/a.jsonl", TEXT_KIND, "/a.jsonl", "jsonl"), *tree, InputFile("/z.parquet", TEXT_KIND, "/z.parquet", "parquet")]
    shards = plan_shards(files)
    assert [len(s.files) for s in shards] == [1, TREE_FILES_PER_SHARD, 3, 1]
    assert [s.index for s in shards] == [0, 1, 2, 3]
    table = ShardTable(shards)
    assert table.location(make_uid(0, 7)) == "/a.jsonl:7"
    assert table.location(make_uid(2, 2)) == tree[TREE_FILES_PER_SHARD + 1].path
    assert table.location(make_uid(3, 1)) == "/z.parquet:1"
    with pytest.raises(ValueError, match="ordinal"):
        make_uid(0, 1 << 32)


def _parquet_with_corrupt_middle_group(path: Path, rows_per_group: int = 100) -> list[str]:
    """Three row groups with page checksums; the second group's text data page is overwritten."""
    texts = [f"document {i} " * 10 for i in range(3 * rows_per_group)]
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts}), path,
                   row_group_size=rows_per_group, write_page_checksum=True, use_dictionary=False)
    data = bytearray(path.read_bytes())
    column = pq.ParquetFile(path).metadata.row_group(1).column(1)
    middle = column.data_page_offset + column.total_compressed_size // 2
    data[middle:middle + 32] = b"\xa5" * 32
    path.write_bytes(bytes(data))
    return texts


def test_parquet_corrupt_data_page_loses_only_its_row_group_counted_by_the_footer(tmp_path):
    path = tmp_path / "damaged.parquet"
    texts = _parquet_with_corrupt_middle_group(path)
    docs, errors, _, read, _ = _read(str(path))
    assert [d.text for d in docs] == texts[:100] + texts[200:]
    (error,) = errors
    assert error.location == f"{path}:101-200" and error.records == 100
    assert error.error.startswith("unreadable row group 1 (rows 101-200 of the footer's count): OSError")
    assert read == [(str(path), 300)]  # the footer's row count: kept + errors


@pytest.mark.parametrize("text_type", ["string", "large_string", "string_view", "dictionary", "binary"])
def test_parquet_text_column_of_every_string_encoding_is_read(tmp_path, text_type):
    texts = [KO, "Guten Tag", KO]
    column = {"string": pa.array(texts, pa.string()), "large_string": pa.array(texts, pa.large_string()),
              "string_view": pa.array(texts, pa.string_view()),
              "dictionary": pa.array(texts).dictionary_encode(),  # what pandas writes for a categorical
              "binary": pa.array([t.encode() for t in texts], pa.binary())}[text_type]
    path = tmp_path / f"{text_type}.parquet"
    pq.write_table(pa.table({"text": column, "source": pa.array(["s"] * 3).dictionary_encode()}), path)
    docs, errors, _, read, _ = _read(str(path))
    assert not errors and [d.text for d in docs] == texts and {d.source for d in docs} == {"s"}
    assert read == [(str(path), 3)]


def test_parquet_invalid_utf8_in_a_text_row_is_an_error_of_that_row_only(tmp_path):
    raw = pa.array([b"good one", b"bad \xff\xfe bytes", b"good two"], pa.binary())
    as_string = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())  # no validation: as a buggy writer
    path = tmp_path / "badutf8.parquet"
    pq.write_table(pa.table({"text": as_string}), path)
    docs, errors, _, read, _ = _read(str(path))
    assert [d.text for d in docs] == ["good one", "good two"]
    assert [(e.location, e.error) for e in errors] == [
        (f"{path}:2", "invalid UTF-8 in Parquet column 'text' at byte 4: invalid start byte")]
    assert read == [(str(path), 3)]


def test_jsonl_deep_nesting_and_huge_integers_are_errors_and_the_next_lines_are_read(tmp_path):
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b'{"text": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
                     + b'{"text": "y", "n": ' + b"1" * 5000 + b"}\n" + _lines([{"text": "after"}]))
    docs, errors, _, read, _ = _read(str(path))
    assert [d.text for d in docs] == ["after"]
    assert [(e.location, e.error) for e in errors] == [
        (f"{path}:1", "JSON nested deeper than 128 levels"), (f"{path}:2", "JSON integer of 5,000 digits (limit 4,300)")]
    assert read == [(str(path), 3)]


def test_file_names_that_are_not_utf8_are_read_and_reported_readably(tmp_path):
    root = os.fsencode(tmp_path)
    with open(root + b"/caf\xe9.jsonl", "wb") as fh:  # Latin-1 name at the top level
        fh.write(_lines([{"text": "top"}, b"{broken"]))
    os.makedirs(root + b"/tree/sub\xff")
    with open(root + b"/tree/sub\xff/note\xfe.txt", "wb") as fh:  # ... and inside a tree
        fh.write(b"inside")
    docs, errors, _, read, resolved = _read([str(tmp_path / "*.jsonl"), str(tmp_path / "tree")])
    assert sorted(d.text for d in docs) == ["inside", "top"]
    assert {d.id for d in docs} == {f"{tmp_path}/caf\\xe9.jsonl:1", f"{tmp_path}/tree/sub\\xff/note\\xfe.txt"}
    assert [e.location for e in errors] == [f"{tmp_path}/caf\\xe9.jsonl:2"]
    for value in [*(d.input for d in docs), *(d.meta["location"] for d in docs), *resolved.kinds, *(k for k, _ in read)]:
        value.encode("utf-8")  # every reported string is valid UTF-8 (Parquet, JSON and Beam's coders need it)


def test_globs_and_trees_never_follow_symlinked_directories_and_count_them(tmp_path):
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "a" / "one.txt").write_text("one")
    (tmp_path / "d" / "two.txt").write_text("two")
    (tmp_path / "d" / "a" / "loop").symlink_to(tmp_path / "d")  # a link back to an ancestor
    docs, _, _, read, resolved = _read(str(tmp_path / "d" / "**" / "*.txt"))
    assert sorted(d.text for d in docs) == ["one", "two"]  # each file once
    assert resolved.skipped == {str(tmp_path / "d"): {"symlinked_dir": 1}}
    docs, _, _, _, resolved = _read(str(tmp_path / "d"))  # the same directory as a tree
    assert sorted(d.text for d in docs) == ["one", "two"]
    assert resolved.skipped == {str(tmp_path / "d"): {"symlinked_dir": 1}}


def test_tree_rules_apply_to_files_matched_by_a_recursive_glob(tmp_path):
    _code_tree(tmp_path / "repo")
    root = str(tmp_path / "repo")
    docs, _, _, _, resolved = _read(f"{root}/**/*", kind=CODE_KIND)
    assert sorted(d.meta["path"] for d in docs) == ["src/lib.rs", "src/main.py"]
    assert {d.input for d in docs} == {root}
    # node_modules/ and its file, Cargo.lock and app.min.js by the tree rules; .git/ and .hidden.py by the glob
    assert resolved.skipped == {root: {"generated": 2, "hidden": 2, "vendored_dir": 1}}
