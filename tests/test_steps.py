"""``beam_pipeline.py run``: one command for curate → tokenizer → build, resumable and skipping
finished steps; ends with OUT/report.html."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from beam_pipeline import main as cli
from corpus.config import ConfigError
from tests.conftest import read_sample

ROOT = Path(__file__).resolve().parents[1]
SMALL_BUILD = {"context_phases": {"phase1_name": "phase1", "phase1_seq_len": 128,
                                  "phase2_name": "phase2", "phase2_seq_len": 1024}}


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
    broken = _run_config(tmp_path, {"context_phases": {**SMALL_BUILD["context_phases"], "phase1_seq_len": -1}})
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
                                                 "source": "curate stats.json: steps.knowledge.upsampling"}
    assert 'alt="Final tokens per bucket and context phase"' in (out / "report.html").read_text(encoding="utf-8")

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


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that never comes in a container counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _metric_steps(run_dir) -> list[int]:
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line)["step"] for line in lines if line.strip()]


def _trainer_pid(run_dir, run_pid: int) -> int | None:
    """The PID in the run directory's lock, once a trainer (not ``run`` itself) holds it."""
    try:
        pid = json.loads((run_dir / ".lock").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None
    return pid if pid != run_pid and _alive(pid) else None


def test_killing_run_by_pid_leaves_no_trainer_alive_and_a_rerun_resumes_it(tmp_path):
    _write_inputs(tmp_path)
    build = {"context_phases": {**SMALL_BUILD["context_phases"], "phase2_seq_len": 256}}  # rows of 128 and 256: small steps
    config = yaml.safe_load(open(_run_config(tmp_path, build)))
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(
        {"global_batch_tokens": 256, "micro_batch_tokens": 256, "checkpoint": {"every_steps": 1},
         "optim": {"warmup_steps": 2}, "verify_corpus": "size"}))
    config["train"] = {"enabled": True, "preset": "tiny", "max_steps": 6, "device": "cpu",
                       "config": str(tmp_path / "train.yaml"), "export": False}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    out, run_dir = tmp_path / "out", tmp_path / "out" / "run"
    command = [sys.executable, str(ROOT / "beam_pipeline.py"), "run", "--config", str(tmp_path / "run.yaml"),
               "--output", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    for sig in (signal.SIGKILL, signal.SIGTERM):  # killed outright (the trainer gets PDEATHSIG), then politely
        run = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for(lambda: _trainer_pid(run_dir, run.pid) or run.poll() is not None, 600, "the trainer to start")
        assert run.poll() is None, run.stderr.read().decode()[-3000:]
        trainer = _trainer_pid(run_dir, run.pid)
        os.kill(run.pid, sig)
        assert run.wait(timeout=120) == (-sig if sig == signal.SIGKILL else 128 + sig)
        run.stderr.close()
        _wait_for(lambda: not _alive(trainer), 60, f"trainer {trainer} to die with run (signal {sig})")

    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "curate: up to date" in rerun.stdout and "train: done" in rerun.stdout
    assert _metric_steps(run_dir) == [1, 2, 3, 4, 5, 6]  # one row per step: never two trainers in one run


def test_a_second_run_on_the_same_output_is_refused_naming_the_first(tmp_path):
    from corpus.locks import directory_lock

    out = tmp_path / "out"
    with directory_lock(out, "first run"):
        with pytest.raises(SystemExit, match=rf"run: error: {out} is in use by PID {os.getpid()} .*first run"):
            cli(["run", "--config", _run_config(tmp_path, SMALL_BUILD), "--output", str(out)])
    assert not (out / ".lock").exists()
