"""Directory locks: a live holder refuses a second process naming its PID; a dead holder's lock
(however it died) is taken over; children never inherit it."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpus.locks import LOCK_NAME, LockedError, directory_lock, holder

ROOT = Path(__file__).resolve().parents[2]
HOLD = ("import sys, time; from corpus.locks import directory_lock\n"
        "with directory_lock(sys.argv[1], 'holder'):\n"
        "    print('held', flush=True); time.sleep(600)\n")


def _holder_process(directory: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_holder_refuses_a_second_process_and_a_killed_holders_lock_is_taken_over(tmp_path, capsys):
    proc = _holder_process(tmp_path)
    try:
        with pytest.raises(LockedError, match=rf"{tmp_path} is in use by PID {proc.pid} on .* \(holder, since "):
            with directory_lock(tmp_path, "second"):
                pass
    finally:
        proc.kill()  # SIGKILL: no cleanup ran, the lock file still names the dead PID
        proc.wait()
    assert holder(tmp_path)["pid"] == proc.pid
    with directory_lock(tmp_path, "second"):
        assert holder(tmp_path)["pid"] != proc.pid and holder(tmp_path)["command"] == "second"
    assert f"taking over the lock of PID {proc.pid}" in capsys.readouterr().err
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_file_naming_a_dead_pid_is_stale(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 2 ** 22 + 1, "command": "gone"}))
    with directory_lock(tmp_path, "new"):
        assert holder(tmp_path)["command"] == "new"


def test_a_child_process_does_not_inherit_the_lock(tmp_path):
    with directory_lock(tmp_path, "parent"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        time.sleep(0.1)
        with directory_lock(tmp_path, "after"):  # the parent let go; the live child holds nothing
            pass
    finally:
        child.kill()
        child.wait()
