"""``beam_pipeline.py run``: one command for curate → tokenizer → build, resumable and skipping
finished steps; ends with OUT/report.html."""
from __future__ import annotations

import json

import pytest
import yaml

from beam_pipeline import main as cli
from corpus.config import ConfigError
from tests.conftest import read_sample

SMALL_BUILD = {"stages": {"stage1_name": "stage1", "stage1_seq_len": 128,
                          "stage2_name": "stage2", "stage2_seq_len": 1024}}


def _write_inputs(root):
    for name in ("ko", "multi", "code"):
        with open(root / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for record in read_sample(name, 12):
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _run_config(root, build_config: dict) -> str:
    (root / "build.yaml").write_text(yaml.safe_dump(build_config))
    # A non-default upsampling mapping: the build must take it from curate's stats.json.
    curate = {"pii": {"enabled": False}, "knowledge": {"upsampling": {"max_repeat": 3.0}}}
    (root / "curate.yaml").write_text(yaml.safe_dump(curate))
    config = {"curate": {"input": [str(root / "ko.jsonl"), str(root / "multi.jsonl")],
                         "code_input": [str(root / "code.jsonl")], "config": str(root / "curate.yaml")},
              "tokenizer": {"vocab_size": 512},
              "build": {"config": str(root / "build.yaml")}}
    (root / "run.yaml").write_text(yaml.safe_dump(config))
    return str(root / "run.yaml")


def test_run_resumes_after_a_failed_step_and_skips_finished_ones(tmp_path, capsys):
    _write_inputs(tmp_path)
    out = tmp_path / "out"
    broken = _run_config(tmp_path, {"stages": {**SMALL_BUILD["stages"], "stage1_seq_len": -1}})
    with pytest.raises(SystemExit, match="build"):
        cli(["run", "--config", broken, "--output", str(out)])
    assert (out / ".steps" / "curate.json").exists() and (out / ".steps" / "tokenizer.json").exists()
    assert not (out / ".steps" / "build.json").exists()
    curated_before = {p: p.stat().st_mtime_ns for p in (out / "curated").rglob("*.parquet")}
    capsys.readouterr()

    fixed = _run_config(tmp_path, SMALL_BUILD)  # only the build config changed
    assert cli(["run", "--config", fixed, "--output", str(out)]) == 0
    log = capsys.readouterr().out
    assert "curate: up to date, skipped" in log and "tokenizer: up to date, skipped" in log
    assert "build: running" in log and "build: done" in log
    assert {p: p.stat().st_mtime_ns for p in (out / "curated").rglob("*.parquet")} == curated_before
    manifest = json.loads((out / "corpus" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["balance"]["upsampling"] == {"threshold": 0.5, "max_repeat": 3.0,
                                                 "source": "curate stats.json: stages.knowledge.upsampling"}
    assert 'alt="Final tokens per bucket and stage"' in (out / "report.html").read_text(encoding="utf-8")

    assert cli(["run", "--config", fixed, "--output", str(out)]) == 0
    assert capsys.readouterr().out.count("up to date, skipped") == 3

    assert cli(["run", "--config", fixed, "--output", str(out), "--force"]) == 0
    assert "up to date" not in capsys.readouterr().out


def test_run_config_with_an_unknown_key_is_rejected_naming_it(tmp_path):
    (tmp_path / "run.yaml").write_text("tokenizer:\n  vocab: 8000\n")
    with pytest.raises(ConfigError, match=r"tokenizer\.vocab"):
        cli(["run", "--config", str(tmp_path / "run.yaml"), "--output", str(tmp_path / "out")])


def test_run_config_with_a_wrong_type_is_rejected_naming_it(tmp_path):
    (tmp_path / "run.yaml").write_text("train:\n  max_steps: many\n")
    with pytest.raises(ConfigError, match=r"train\.max_steps: expected int"):
        cli(["run", "--config", str(tmp_path / "run.yaml"), "--output", str(tmp_path / "out")])
