"""corpus.allocator: the malloc settings reach this process's children, and a user's own setting stays.

Each case runs in a fresh interpreter: ``apply`` changes the process it runs in."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from corpus.allocator import OPT_OUT, SETTINGS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings exist only in glibc")

# applies the settings, then reports what it applied and what a child process it starts sees
_PROBE = """
import json, os, subprocess, sys
from corpus import allocator
applied = allocator.apply()
child = subprocess.run([sys.executable, "-c", "import json, os; print(json.dumps({k: os.environ.get(k) for k in %r}))"],
                       capture_output=True, text=True, check=True)
print(json.dumps({"applied": applied, "child": json.loads(child.stdout),
                  "not_beam": {k: allocator.environment_without_applied().get(k) for k in %r}}))
""" % (list(SETTINGS), list(SETTINGS))


def _probe(env: dict[str, str]) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS and k != OPT_OUT}
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, **env, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def test_children_inherit_every_setting():
    result = _probe({})
    expected = {name: str(value) for name, (value, _) in SETTINGS.items()}
    assert result["applied"] == expected
    assert result["child"] == expected
    assert result["not_beam"] == {name: None for name in SETTINGS}  # the trainer's environment


def test_a_variable_the_user_set_is_kept():
    result = _probe({"MALLOC_ARENA_MAX": "4"})
    assert "MALLOC_ARENA_MAX" not in result["applied"]
    assert result["child"]["MALLOC_ARENA_MAX"] == "4"
    assert result["child"]["MALLOC_MMAP_THRESHOLD_"] == str(SETTINGS["MALLOC_MMAP_THRESHOLD_"][0])
    assert result["not_beam"]["MALLOC_ARENA_MAX"] == "4" and result["not_beam"]["MALLOC_MMAP_THRESHOLD_"] is None


def test_glibc_tunables_for_malloc_keep_all_of_glibcs_reading():
    result = _probe({"GLIBC_TUNABLES": "glibc.malloc.arena_max=3"})
    assert result["applied"] == {}
    assert result["child"] == {name: None for name in SETTINGS}


def test_the_opt_out_keeps_glibc_defaults():
    result = _probe({OPT_OUT: "1"})
    assert result["applied"] == {}
    assert result["child"] == {name: None for name in SETTINGS}


def test_the_worker_image_sets_the_same_values():
    env_lines = [line.split()[1:] for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
                 if line.startswith("ENV ")]
    image = dict(item.split("=", 1) for line in env_lines for item in line)
    assert {name: image.get(name) for name in SETTINGS} == {name: str(value) for name, (value, _) in SETTINGS.items()}
