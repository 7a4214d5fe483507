"""OUT/report.html on a real (small) curate run, rendered in headless Debian Chromium."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from beam_pipeline import main as cli
from corpus.manifest import FORMAT
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


def _manifest(corpus_dir):
    """The parts of a build's manifest.json the report reads (corpus/manifest.py format)."""
    corpus_dir.mkdir(parents=True)
    phases = [("phase1_4k", 4096, 90, {"korean": 300, "multilingual": 300, "code": 300},
               {"korean": {"none": 9}, "multilingual": {"none": 8}, "code": {"none": 4, "psm": 3, "spm": 3}},
               {"padding_fraction": 0.0025, "documents_split": 7}),
              ("phase2_32k", 32768, 1, {"korean": 10, "multilingual": 10, "code": 10},
               {"korean": {"none": 1}, "multilingual": {"none": 1}, "code": {"none": 1, "psm": 1}},
               {"padding_fraction": 0.5, "documents_split": 0})]
    entries = [{"name": name, "seq_len": seq_len, "rows": rows, "files": [], "tokens_per_bucket": tokens,
               "fim": {m: sum(c.get(m, 0) for c in fim.values()) for m in ("none", "psm", "spm")},
               "stats": {"fim_per_bucket": fim, "packing": packing}}
              for name, seq_len, rows, tokens, fim, packing in phases]
    balance = {"buckets": {b: {"unique_tokens": 200, "achieved": 310} for b in ("korean", "multilingual", "code")}}
    (corpus_dir / "manifest.json").write_text(json.dumps({"format": FORMAT, "phases": entries, "balance": balance}),
                                             encoding="utf-8")


def test_report_opens_with_a_headline_of_documents_rates_pii_and_tokens_per_bucket_and_phase(curated_run, tmp_path):
    stats = json.loads((curated_run / "stats.json").read_text(encoding="utf-8"))
    _manifest(tmp_path / "corpus")
    page = make_report(curated_run, tmp_path / "corpus").read_text(encoding="utf-8")
    first_section = re.search(r"<h1>.*?</h1>(.*?)(<h2>|<figure)", page, re.S).group(2)
    assert first_section == "<h2>" and page.index("<h2>Headline</h2>") < page.index("<figure")
    korean, total = stats["buckets"]["korean"], stats["totals"]
    dedup = sum(n for reason, n in korean["rejected"].items() if reason.startswith("dedup:"))
    cells = re.findall(r"<tr><td>korean</td>(.*?)</tr>", page)[0]
    assert cells.startswith(f"<td>{korean['read']:,}</td><td>{korean['kept']:,}</td>"
                            f"<td>{korean['rejected_total'] / korean['read']:.1%}</td><td>{dedup / korean['read']:.1%}</td>")
    assert f"<td>200</td><td>310</td><td>1.55</td><td>300</td><td>10</td><td>0.0%</td>" in cells  # tokens, phases, FIM
    code = re.findall(r"<tr><td>code</td>(.*?)</tr>", page)[0]
    assert code.endswith(f"<td>{7 / 12:.1%}</td>")  # psm + spm of the code bucket's segments, both phases
    assert f"<tr><td>total</td><td>{total['read']:,}</td>" in page
    assert "<tr><td>phase1_4k</td><td>4,096</td><td>90</td><td>900</td><td>96.8%</td>" in page
    assert "<td>0.25%</td><td>7</td></tr>" in page and "<td>50.00%</td><td>0</td></tr>" in page


def test_headline_without_a_corpus_shows_the_curate_columns_only(curated_run):
    page = make_report(curated_run, curated_run / "no-corpus").read_text(encoding="utf-8")
    header = re.search(r"<h2>Headline</h2><table class='headline'><tr>(.*?)</tr>", page).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == ["bucket", "docs read", "docs kept", "rejected", "dedup", "errors",
                                                     "PII findings"]
