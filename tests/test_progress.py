"""The console of a long run: per-phase progress lines (counts, rates, ETA), Beam's logging in a file
unless --verbose, and where a remote runner's job and counters are."""
from __future__ import annotations

import json
import re
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

from beam_pipeline import main
from corpus.progress import (ERRORS, INPUT_BYTES, KEPT, READ, REJECTED, Expected, PhaseProgress, Tap,
                             dataflow_job_url, progress_line, run_pipeline, runner_note, shares_local_disk)
from corpus.document import Document
from tests.conftest import read_sample


def _doc(text: str) -> Document:
    return Document(id=text, text=text, source="s", kind="text", input="i")


def test_progress_line_shows_counts_rates_elapsed_and_an_eta_from_the_share_of_input_read():
    totals = {READ: [1234, 5_000_000], KEPT: [1000, 0], REJECTED: [200, 0], ERRORS: [34, 0],
              INPUT_BYTES: [10, 250_000_000]}
    line = progress_line("curate 1-filter", totals, 100.0, Expected(input_bytes=1_000_000_000))
    assert line == ("curate 1-filter  read 1,234 docs 5.0 MB | kept 1,000 | rejected 200 | errors 34 | "
                    "12.3 docs/s 0.1 MB/s | 0:01:40 | ETA 0:05:00 (25% of 1.00 GB of input files)")
    by_docs = progress_line("curate 2-dedup.exact", totals, 3600.0, Expected(documents=4936))
    assert by_docs.endswith("| 1:00:00 | ETA 3:00:00 (25% of 4,936 docs)")
    finished = progress_line("curate 2-dedup.exact", totals, 3600.0, Expected(documents=1234), finished=True)
    assert finished.endswith("| 1:00:00 | read 100% of 1,234 docs | done")


def test_dataflow_gets_the_job_url_and_where_its_counters_are_and_no_local_progress():
    options = PipelineOptions(["--runner=DataflowRunner", "--project=corpus-prj", "--region=asia-northeast3"])
    assert not shares_local_disk(options)
    url = "https://console.cloud.google.com/dataflow/jobs/asia-northeast3/2026-12-01_01_02_03-42?project=corpus-prj"
    assert dataflow_job_url("2026-12-01_01_02_03-42", "corpus-prj", "asia-northeast3") == url
    note = runner_note(options, "2026-12-01_01_02_03-42")
    assert url in note and "Custom counters" in note and "read/records" in note
    assert shares_local_disk(PipelineOptions([]))
    assert shares_local_disk(PipelineOptions(["--direct_running_mode=multi_processing"]))
    assert shares_local_disk(PipelineOptions(["--runner=PortableRunner", "--environment_type=LOOPBACK"]))
    assert not shares_local_disk(PipelineOptions(["--runner=PortableRunner", "--environment_type=DOCKER"]))


def test_taps_count_what_passes_and_the_last_line_sums_them(tmp_path):
    lines = tmp_path / "console.txt"
    options = PipelineOptions([])
    with lines.open("w") as stream, PhaseProgress("job", options, Expected(documents=3), stream) as progress:
        def wire(p):
            docs = p | beam.Create([_doc("가나"), _doc("abc"), _doc("")]) | "Read" >> Tap(progress.directory, READ)
            _ = docs | beam.Filter(lambda d: d.text) | "Kept" >> Tap(progress.directory, KEPT)
        run_pipeline(options, wire, progress)
    assert lines.read_text().splitlines()[-1].startswith("job  read 3 docs 0.0 MB | kept 2 | rejected 0 | errors 0 |")
    assert lines.read_text().rstrip().endswith("read 100% of 3 docs | done")


def _curate(tmp_path: Path, *extra: str) -> tuple[str, Path]:
    src = tmp_path / "in" / "ko.jsonl"
    src.parent.mkdir(exist_ok=True)
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in read_sample("ko", 12)), encoding="utf-8")
    config = tmp_path / "curate.yaml"
    config.write_text("pii: {enabled: false}\nminhash: {enabled: false}\n")
    out = tmp_path / f"out{len(extra)}"
    assert main(["curate", "--input", str(src), "--config", str(config), "--output", str(out), *extra]) == 0
    return out


def test_the_default_console_has_one_line_per_phase_and_no_beam_logging_which_verbose_brings_back(tmp_path, capsys):
    out = _curate(tmp_path)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("curate ")]  # plain lines: not a terminal
    phases = [line for line in lines if line.endswith("| done")]
    assert [line.split()[1] for line in phases] == ["1-filter", "2-dedup.exact"]
    assert all(re.search(r"read \d+ docs .* \| kept \d+ \| rejected \d+ \| errors \d+ \| .* docs/s .* \| done$", line)
               for line in phases), phases
    assert all(line.split()[1] in ("1-filter", "2-dedup.exact") and "ETA" in line for line in lines if line not in phases)
    assert "12 docs" in phases[0] and "of 12 docs" not in phases[0] and "input" in phases[0]
    assert "apache_beam" not in err and "INFO" not in err
    assert "apache_beam" in (out / "_logs" / "curate.log").read_text()

    verbose = _curate(tmp_path, "--verbose")
    err = capsys.readouterr().err
    assert "INFO apache_beam" in err and not (verbose / "_logs").exists()


def test_a_dataflow_job_prints_where_its_job_and_counters_are_instead_of_local_progress(tmp_path):
    from tests.test_runners import DATAFLOW_DRY_RUN

    options = PipelineOptions(DATAFLOW_DRY_RUN)
    console = tmp_path / "console.txt"
    with console.open("w") as stream, PhaseProgress("curate 1-filter", options, Expected(), stream) as progress:
        assert progress.directory is None
        run_pipeline(options, lambda p: p | beam.Create([1, 2]) | Tap(progress.directory, READ), progress)
    (line,) = console.read_text().splitlines()
    gcp = options.view_as(GoogleCloudOptions)
    assert line.startswith("curate 1-filter  job ") and "Custom counters" in line
    assert f"project={gcp.project}" in line or f"project {gcp.project}" in line
