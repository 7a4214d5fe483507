"""Presidio's recognizer classes load without transformers and torch, and leave both importable
afterwards (each case runs in a fresh interpreter: this test process may hold them already)."""
from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_scrubber_imports_no_ml_stack_and_still_scrubs():
    out = _run("import sys\n"
               "from pii.scrubber import Scrubber\n"
               "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
               "print(Scrubber().scrub('문의: kim.minji@example.co.kr', 'ko').text)")
    masked, scrubbed = out.splitlines()
    assert masked == "[]"
    assert "kim.minji@example.co.kr" not in scrubbed and "<|pii:email|>" in scrubbed


@pytest.mark.parametrize("first", ["pii.recognizers.base", "torch"])
def test_torch_imports_normally_before_or_after(first):
    other = "torch" if first == "pii.recognizers.base" else "pii.recognizers.base"
    out = _run(f"import {first}\nimport {other}\nimport torch\nprint(torch.ones(2).sum().item())")
    assert out == "2.0"
