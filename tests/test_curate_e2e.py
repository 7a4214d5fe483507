"""End-to-end ``beam_pipeline.py curate`` on a sample of ../shared/data plus every bad input:
accounting against independently known record counts, buckets, errors/rejections with their
locations, byte-identical reruns across DirectRunner modes, and the portable runner."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from beam_pipeline import main
from corpus.completion import read_marker
from corpus.document import BUCKETS
from tests.conftest import read_sample
from transforms.curate import AccountingError, build_stats, write_stats

SAMPLE = 40
# Defaults except small part files and row groups, so that outputs are cut into several parts
# (configs/demo.yaml needs the demo's trained knowledge model).
TARGET_BYTES = 40_000
CONFIG = f"output: {{target_shard_bytes: {TARGET_BYTES}, row_group_bytes: 20000}}\n"
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
        dict(ko[3])]))  # the record of ko.jsonl.gz:4 (one the filters keep), ingested twice
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
    on_disk = {}
    for path in out.glob("[cre]*/**/part-*.parquet"):
        name = str(path.parent.relative_to(out))
        on_disk[name] = on_disk.get(name, 0) + 1
    assert stats["outputs"]["parquet_files"] == on_disk
    assert set(on_disk) == {"curated/code", "curated/korean", "curated/multilingual", "errors", "rejected"}


def test_documents_land_in_the_bucket_of_their_language_or_kind(run):
    root, _, out = run
    for bucket in BUCKETS:
        table = pq.read_table(out / "curated" / bucket).to_pylist()
        assert table and {r["bucket"] for r in table} == {bucket}
        if bucket == "korean":
            assert {r["lang"] for r in table} == {"ko"} and {r["given_lang"] for r in table} == {"ko"}
        elif bucket == "code":
            assert {r["kind"] for r in table} == {"code"}
            # The tree file is the first code record plus a comment: the first read survives.
            rejected = {r["id"]: r for r in pq.read_table(out / "rejected").to_pylist()}
            tree_copy = rejected[str(root / "code" / "repo" / "util.py")]
            assert (tree_copy["reason"], tree_copy["detail"]) == ("dedup:minhash", f"{root / 'code' / 'code.jsonl.gz'}:1")
            survivor = next(r for r in table if r["id"] == f"{root / 'code' / 'code.jsonl.gz'}:1")
            assert survivor["cluster_size"] == 2
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
    rejected = {(r["source_id"], r["reason"]): r for r in pq.read_table(out / "rejected").to_pylist()}
    assert ("empty-doc", "normalize:empty") in rejected
    # Read order is input path, then line: bad.jsonl sorts before ko.jsonl.gz, so it keeps the id;
    # the record is also an exact copy, but the duplicate id is the verdict that stands.
    dup_id = rejected[(ko[3]["id"], "read:duplicate_id")]
    assert dup_id["location"] == dup_id["id"] == f"{root / 'text' / 'ko.jsonl.gz'}:4"
    assert dup_id["detail"] == f"id first read at {root / 'text' / 'bad.jsonl'}:6"
    copy = rejected[("zz-copy-of-" + ko[3]["id"], "dedup:exact")]
    # the copy's survivor is the first read of that text: bad.jsonl sorts before ko.jsonl.gz
    assert copy["detail"] == f"{root / 'text' / 'bad.jsonl'}:6" and copy["bucket"] == "korean"
    # rejected/ holds no second copy of a duplicate's text (the survivor has it), but its length
    assert copy["text"] is None and copy["chars"] == len(ko[3]["text"].strip())
    # a stored text is PII-scrubbed (placeholders change its length); chars are of the text as rejected
    assert dup_id["text"] is not None and dup_id["chars"] == len(ko[3]["text"].strip())
    report = json.loads((out / "report_data.json").read_text(encoding="utf-8"))
    samples = report["samples"]["korean"]["dedup:exact"]
    assert samples and all(s["text"] is None for s in samples)
    stats = _stats(out)
    assert stats["steps"]["dedup.exact"]["duplicates_per_bucket"]["korean"] >= 1
    assert stats["step_order"][0] == "normalize"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 5-docs-per-file input curated by two DirectRunner worker processes into an OUT that holds
    a stale shard and an unrelated file. PII is off here (its model load in every worker process
    dominates such tiny runs; tests/pii covers it); every other step runs."""
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
    settings = {"config": {}, "step_order": [], "listing_skips": {}, "kinds": {"in.jsonl": "text"},
                "out": str(tmp_path)}
    outcomes = [(("in.jsonl", "korean", "kept"), (2, 10)), (("in.jsonl", "korean", "length:too_short"), (1, 3))]
    assert build_stats(settings, outcomes, [("in.jsonl", 3)], [], [])["accounting"]["ok"]
    with pytest.raises(AccountingError, match=r"in.jsonl: read 4 != kept 2 \+ rejected 1 \+ errors 0"):
        write_stats(settings, outcomes, [("in.jsonl", 4)], [], [])
    assert _stats(tmp_path)["accounting"]["ok"] is False


def test_outputs_are_cut_into_parts_by_compressed_bytes_in_read_order(run):
    _, _, out = run
    # Code is the bucket with text enough for several parts here (FineWeb-2's rules keep few of the
    # sample's hard-wrapped man pages at the default config).
    for directory in ("curated/code",):
        parts = sorted((out / directory).glob("part-*.parquet"))
        sizes = []
        for part in parts:
            meta = pq.ParquetFile(part).metadata
            sizes.append(sum(meta.row_group(g).column(c).total_compressed_size
                             for g in range(meta.num_row_groups) for c in range(meta.num_columns)))
        assert len(parts) >= 2, directory
        assert all(size >= TARGET_BYTES for size in sizes[:-1]), (directory, sizes)
        assert all(p.name.endswith(f"-of-{len(parts):05d}.parquet") for p in parts)
    rows = pq.read_table(out / "curated" / "multilingual").to_pylist()
    lines = [int(r["id"].rsplit(":", 1)[1]) for r in rows]
    assert lines == sorted(lines)  # one input file: read order across the parts


def test_only_small_records_enter_shuffles_and_their_bytes_are_reported(run):
    _, _, out = run
    shuffle = _stats(out)["shuffle"]
    assert set(shuffle["bytes_per_phase"]) == {"1-filter", "2-dedup.exact", "3-dedup.minhash"}
    assert shuffle["bytes_per_phase"]["3-dedup.minhash"]["GroupBandBuckets"] > 0
    assert shuffle["total_bytes"] == sum(sum(p.values()) for p in shuffle["bytes_per_phase"].values())
    text_bytes = sum(len(r["text"].encode()) for b in BUCKETS for r in pq.read_table(out / "curated" / b).to_pylist())
    assert shuffle["input_text_bytes"] > text_bytes
    assert shuffle["bytes_per_input_byte"] < 0.25


def test_curate_marks_its_output_complete_last(run):
    _, _, out = run
    marker = read_marker(str(out))
    assert marker["step"] == "curate" and marker["produced"]["kept"] == _stats(out)["totals"]["kept"]
    for phase in ("1-filter", "2-dedup.exact", "3-dedup.minhash"):
        assert read_marker(str(out / "_phases" / phase))["step"] == f"curate.{phase.split('-', 1)[1]}"


def test_rerun_after_a_crash_reuses_finished_phases_and_writes_identical_bytes(small, tmp_path, capsys):
    root, config, reference = small
    crashed = tmp_path / "crashed"
    shutil.copytree(reference, crashed)
    # A crash while the last phase ran: no marker there or in OUT, its files half there.
    (crashed / "_COMPLETE.json").unlink()
    (crashed / "_phases" / "3-dedup.minhash" / "_COMPLETE.json").unlink()
    shutil.rmtree(crashed / "_phases" / "3-dedup.minhash" / "kept")
    shutil.rmtree(crashed / "curated")
    capsys.readouterr()
    assert _curate(root, crashed, config=config) == 0  # one worker this time
    err = capsys.readouterr().err
    assert "phase 1-filter is complete, reused" in err and "phase 2-dedup.exact is complete, reused" in err
    assert "phase 3-dedup.minhash is complete" not in err
    assert _parquet_files(crashed) == _parquet_files(reference)
    assert (crashed / "stats.json").read_bytes() == (reference / "stats.json").read_bytes()


def test_changed_config_reruns_from_the_first_phase_it_affects(small, tmp_path, capsys):
    root, config, reference = small
    changed = tmp_path / "changed"
    shutil.copytree(reference, changed)
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(config.read_text(encoding="utf-8") + "minhash: {threshold: 0.7}\n", encoding="utf-8")
    capsys.readouterr()
    assert _curate(root, changed, config=stricter) == 0
    err = capsys.readouterr().err
    # The signatures are written by phase 2 for phase 3, so both rerun; the filters do not.
    assert "phase 1-filter is complete, reused" in err and "2-dedup.exact is complete" not in err
    assert _stats(changed)["config"]["minhash"]["threshold"] == 0.7
    assert _stats(changed)["accounting"]["ok"]
