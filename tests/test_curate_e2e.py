"""End-to-end ``beam_pipeline.py curate`` on a sample of ../shared/data plus every bad input:
accounting against independently known record counts, buckets, errors/rejections with their
locations, byte-identical reruns across DirectRunner modes, and the portable runner."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from beam_pipeline import main
from corpus.document import BUCKETS
from tests.conftest import read_sample
from transforms.curate import AccountingError, build_stats, write_stats

SAMPLE = 40
# Defaults except small shard counts (configs/demo.yaml needs the demo's trained knowledge model).
CONFIG = "output: {curated_shards: 2, rejected_shards: 1, errors_shards: 1}\n"
MULTI_PROCESS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
PORTABLE = ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"]


def _jsonl(records: list) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode()) + b"\n"
                    for r in records)


def _write_inputs(root: Path, per_file: int) -> dict[str, int]:
    """Writes the inputs; returns the number of records each input holds (the test's own truth)."""
    ko, multi, code = read_sample("ko", per_file), read_sample("multi", per_file), read_sample("code", per_file)
    (root / "text" / "notes").mkdir(parents=True)
    (root / "code" / "repo" / "vendor").mkdir(parents=True)
    # An exact duplicate under a larger id, of a bill the filters keep (after normalization 1809891
    # is just above FineWeb-2's Korean newline-per-word limit), so that exact dedup rejects the copy.
    ko_copy = dict(ko[3], id="zz-copy-of-" + ko[3]["id"])
    (root / "text" / "ko.jsonl.gz").write_bytes(gzip.compress(_jsonl([*ko, ko_copy]), mtime=0))
    (root / "text" / "multi.jsonl.gz").write_bytes(gzip.compress(_jsonl(multi), mtime=0))
    (root / "text" / "bad.jsonl").write_bytes(_jsonl([
        b'{"id": "bad-utf8", "text": "caf\xe9"}', b'{"id": "cut", "text": "trunc', {"id": "no-text"},
        {"id": "int-text", "text": 5}, {"id": "empty-doc", "text": " \r\n "},
        {"id": ko[0]["id"], "text": "a second record claiming an id already used in ko.jsonl.gz"}]))
    (root / "text" / "empty.jsonl").write_bytes(b"")
    (root / "text" / "notes" / "bad.txt").write_bytes(b"ok \xff\xfe then garbage")
    (root / "code" / "code.jsonl.gz").write_bytes(gzip.compress(_jsonl(code), mtime=0))
    (root / "code" / "repo" / "util.py").write_text(code[0]["text"] + "\n# tree copy\n", encoding="utf-8")
    (root / "code" / "repo" / "vendor" / "dep.py").write_text("x = 1\n", encoding="utf-8")
    (root / "code" / "vendored-only" / "node_modules").mkdir(parents=True)  # a tree with nothing to read
    (root / "code" / "vendored-only" / "node_modules" / "index.js").write_text("module.exports = 1;\n")
    return {str(root / "text" / "ko.jsonl.gz"): per_file + 1, str(root / "text" / "multi.jsonl.gz"): per_file,
            str(root / "text" / "bad.jsonl"): 6, str(root / "text" / "empty.jsonl"): 0,
            str(root / "text" / "notes"): 1, str(root / "code" / "code.jsonl.gz"): per_file,
            str(root / "code" / "repo"): 1, str(root / "code" / "vendored-only"): 0}


def _curate(root: Path, out: Path, *beam_args: str, config: Path | None = None) -> int:
    if config is None:
        config = root / "config.yaml"
        config.write_text(CONFIG, encoding="utf-8")
    return main(["curate", "--input", str(root / "text" / "*.jsonl*"), "--input", str(root / "text" / "notes"),
                 "--code-input", str(root / "code" / "*.jsonl.gz"), "--code-input", str(root / "code" / "repo"),
                 "--code-input", str(root / "code" / "vendored-only"),
                 "--config", str(config), "--output", str(out), *beam_args])


def _stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text(encoding="utf-8"))


def _parquet_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("curate_inputs")
    records = _write_inputs(root, SAMPLE)
    out = tmp_path_factory.mktemp("curate_out")
    assert _curate(root, out) == 0
    return root, records, out


def test_every_input_record_is_kept_rejected_or_an_error(run):
    _, records, out = run
    stats = _stats(out)
    assert stats["accounting"] == {"ok": True, "mismatches": [],
                                   "rule": "read == kept + rejected + errors (per input and total)"}
    assert {name: f["read"] for name, f in stats["inputs"].items()} == records
    for funnel in [*stats["inputs"].values(), *stats["buckets"].values(), stats["totals"]]:
        assert funnel["read"] == funnel["kept"] + funnel["rejected_total"] + funnel["errors"]
        assert funnel["rejected_total"] == sum(funnel["rejected"].values())
    assert stats["totals"]["read"] == sum(records.values())
    curated_rows = sum(pq.read_table(out / "curated" / b).num_rows for b in BUCKETS)
    assert curated_rows == stats["totals"]["kept"]
    assert pq.read_table(out / "rejected").num_rows == stats["totals"]["rejected_total"]
    assert pq.read_table(out / "errors").num_rows == stats["totals"]["errors"]
    assert stats["outputs"]["parquet_files"] == {"curated/code": 2, "curated/korean": 2, "curated/multilingual": 2,
                                                 "errors": 1, "rejected": 1}


def test_documents_land_in_the_bucket_of_their_language_or_kind(run):
    root, _, out = run
    for bucket in BUCKETS:
        table = pq.read_table(out / "curated" / bucket).to_pylist()
        assert table and {r["bucket"] for r in table} == {bucket}
        if bucket == "korean":
            assert {r["lang"] for r in table} == {"ko"} and {r["given_lang"] for r in table} == {"ko"}
        elif bucket == "code":
            assert {r["kind"] for r in table} == {"code"}
            assert str(root / "code" / "repo" / "util.py") in {r["id"] for r in table}
        else:
            assert "ko" not in {r["lang"] for r in table} and {r["kind"] for r in table} == {"text"}
    ids = [r["id"] for b in BUCKETS for r in pq.read_table(out / "curated" / b).to_pylist()]
    assert len(ids) == len(set(ids))


def test_bad_records_are_errors_with_their_location_and_never_lost(run):
    root, _, out = run
    errors = {r["location"]: r["error"] for r in pq.read_table(out / "errors").to_pylist()}
    bad = root / "text" / "bad.jsonl"
    assert errors[f"{bad}:1"].startswith("invalid UTF-8 in JSONL line")
    assert errors[f"{bad}:2"].startswith("malformed JSON")
    assert errors[f"{bad}:3"] == "record has no 'text' field"
    assert errors[f"{bad}:4"] == "'text' is int, expected string"
    assert errors[str(root / "text" / "notes" / "bad.txt")].startswith("invalid UTF-8 in file")
    assert len(errors) == 5
    stats = _stats(out)
    assert stats["inputs"][str(root / "text" / "empty.jsonl")]["read"] == 0
    assert stats["inputs"][str(root / "code" / "repo")]["skipped_files"] == {"vendored_dir": 1}
    assert stats["inputs"][str(root / "code" / "vendored-only")]["skipped_files"] == {"vendored_dir": 1}


def test_empty_duplicate_id_and_duplicate_text_are_rejected_with_reasons(run):
    root, _, out = run
    ko = read_sample("ko", 4)
    rejected = {(r["id"], r["reason"]): r for r in pq.read_table(out / "rejected").to_pylist()}
    assert ("empty-doc", "normalize:empty") in rejected
    # Read order is input path, then line: bad.jsonl sorts before ko.jsonl.gz, so it keeps the id.
    dup_id = rejected[(ko[0]["id"], "read:duplicate_id")]
    assert dup_id["location"] == f"{root / 'text' / 'ko.jsonl.gz'}:1"
    assert dup_id["detail"] == f"id first read at {root / 'text' / 'bad.jsonl'}:6"
    copy = rejected[("zz-copy-of-" + ko[3]["id"], "dedup:exact")]
    assert copy["detail"] == ko[3]["id"] and copy["bucket"] == "korean"
    stats = _stats(out)
    assert stats["stages"]["dedup.exact"]["duplicates_per_bucket"]["korean"] >= 1
    assert stats["stage_order"][0] == "normalize"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 5-docs-per-file input curated by two DirectRunner worker processes into an OUT that holds
    a stale shard and an unrelated file. PII is off here (its model load in every worker process
    dominates such tiny runs; tests/pii covers it); every other stage runs."""
    root = tmp_path_factory.mktemp("small_inputs")
    _write_inputs(root, 5)
    config = root / "config-no-pii.yaml"
    config.write_text(CONFIG + "pii: {enabled: false}\n", encoding="utf-8")
    out = tmp_path_factory.mktemp("small_out")
    stale = out / "curated" / "korean" / "part-00007-of-00008.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left over from an older run")
    unrelated = out / "sample" / "input.jsonl"  # OUT may hold other things (make demo puts inputs there)
    unrelated.parent.mkdir()
    unrelated.write_text("{}")
    assert _curate(root, out, *MULTI_PROCESS, config=config) == 0
    return root, config, out


def test_rerun_clears_stale_outputs_and_nothing_else(small):
    _, _, out = small
    assert not (out / "curated" / "korean" / "part-00007-of-00008.parquet").exists()
    assert (out / "sample" / "input.jsonl").exists()
    assert _stats(out)["accounting"]["ok"]


def test_portable_runner_and_two_direct_worker_processes_write_identical_bytes(small, tmp_path):
    root, config, reference = small
    assert _curate(root, tmp_path / "portable", *PORTABLE, config=config) == 0
    assert _parquet_files(tmp_path / "portable") == _parquet_files(reference)
    assert (tmp_path / "portable" / "stats.json").read_bytes() == (reference / "stats.json").read_bytes()


def test_glob_matching_nothing_fails_before_the_pipeline_with_a_clear_message(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    code = main(["curate", "--input", str(tmp_path / "a.jsonl"), "--code-input", str(tmp_path / "src" / "*.py"),
                 "--output", str(tmp_path / "out")])
    assert code == 2
    assert f"input glob matched no files: '{tmp_path}/src/*.py'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_broken_accounting_is_written_then_fails_the_run(tmp_path):
    settings = {"config": {}, "stage_order": [], "listing_skips": {}, "kinds": {"in.jsonl": "text"},
                "out": str(tmp_path)}
    outcomes = [(("in.jsonl", "korean", "kept"), (2, 10)), (("in.jsonl", "korean", "length:too_short"), (1, 3))]
    assert build_stats(settings, outcomes, [("in.jsonl", 3)], [], [])["accounting"]["ok"]
    with pytest.raises(AccountingError, match=r"in.jsonl: read 4 != kept 2 \+ rejected 1 \+ errors 0"):
        write_stats(settings, outcomes, [("in.jsonl", 4)], [], [])
    assert _stats(tmp_path)["accounting"]["ok"] is False
