"""OUT/report.html on a real (small) curate run, rendered in headless Debian Chromium."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from beam_pipeline import main as cli
from corpus.report import make_report
from tests.conftest import read_sample
from tests.mixtures import memfs

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]


@pytest.fixture(scope="module")
def curated_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    for name in ("ko", "multi", "code"):
        with open(root / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for record in read_sample(name, 12):
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    out = root / "out"
    rc = cli(["curate", "--input", str(root / "ko.jsonl"), "--input", str(root / "multi.jsonl"),
              "--code-input", str(root / "code.jsonl"), "--output", str(out)])
    assert rc == 0
    return out


def test_report_has_a_plot_per_section_and_is_self_contained(curated_run):
    page = make_report(curated_run).read_text(encoding="utf-8")
    titles = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)
    assert any(t.startswith("Filter funnel per bucket") for t in titles)
    assert any(t.startswith("Languages of kept text") for t in titles)
    assert any(t.startswith("Document length, korean") for t in titles)
    assert "Knowledge score per bucket" in titles
    assert "PII findings per type (scrubbed to typed placeholders)" in titles
    assert not re.search(r'(src|href)="(https?:|//)', page), "the report must not load anything from the network"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium_without_console_errors(curated_run, tmp_path):
    page = make_report(curated_run)
    result = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                             page.as_uri()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    body = re.search(r'<body data-plots="(\d+)" data-plots-decoded="(\d+)"', result.stdout)
    assert body, "the page's load handler did not run"
    plots, decoded = map(int, body.groups())
    assert plots >= 6 and decoded == plots
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console


def test_report_reads_only_stats_and_report_data_not_the_text(curated_run, tmp_path):
    small = tmp_path / "out"
    small.mkdir()
    for name in ("stats.json", "report_data.json"):
        shutil.copy(curated_run / name, small / name)  # no curated/ or rejected/ Parquet at all
    page = make_report(small).read_text(encoding="utf-8")
    assert page.count('<figure class="plot">') == make_report(curated_run).read_text(encoding="utf-8").count(
        '<figure class="plot">') >= 6
    assert "Sample documents (PII-scrubbed" in page


def test_report_of_an_object_store_run_is_written_there(curated_run):
    url = memfs.upload(curated_run, "memtest://report-test/out")
    try:
        assert make_report(url) == f"{url}/report.html"
        page = memfs.under(url)[f"{url}/report.html"].decode("utf-8")
        assert page == make_report(curated_run).read_text(encoding="utf-8").replace(str(curated_run), url)
    finally:
        memfs.clear("memtest://report-test")
