"""A local job runs on the FnApiRunner with the worker processes it asks for, never through
Beam's Prism attempt (which downloads a binary and runs every worker inside the launcher)."""
from __future__ import annotations

import json
import os

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import prism_runner

from corpus.local_runner import FnApiDirectRunner, new_pipeline

MULTI_PROCESSING = ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]


@pytest.fixture
def prism_attempts(monkeypatch) -> list[str]:
    """Records every job handed to Prism; each attempt then fails as it does offline."""
    attempts: list[str] = []

    def attempt(self, pipeline, options):
        attempts.append("prism")
        raise RuntimeError("no prism binary here")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", attempt)
    return attempts


class _WritePid(beam.DoFn):
    def __init__(self, directory: str):
        self._directory = directory

    def process(self, element: int):
        with open(os.path.join(self._directory, f"{element}.pid"), "w", encoding="utf-8") as sink:
            sink.write(str(os.getpid()))
        yield element


def _run(pipeline: beam.Pipeline, directory: str) -> None:
    with pipeline:
        _ = (pipeline | beam.Create(range(20)) | beam.Reshuffle()
             | beam.ParDo(_WritePid(directory)) | beam.combiners.Count.Globally())


def test_beams_direct_runner_tries_prism_first(prism_attempts, tmp_path):
    """The premise of corpus.local_runner: if a Beam upgrade drops the attempt, the module can go."""
    _run(beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])), str(tmp_path))
    assert prism_attempts == ["prism"]


def test_direct_runner_jobs_run_in_worker_processes_without_a_prism_attempt(prism_attempts, tmp_path):
    pipeline = new_pipeline(PipelineOptions(MULTI_PROCESSING))
    assert isinstance(pipeline.runner, FnApiDirectRunner)
    _run(pipeline, str(tmp_path))
    assert prism_attempts == []
    pids = {path.read_text() for path in tmp_path.glob("*.pid")}
    assert len(list(tmp_path.glob("*.pid"))) == 20
    assert str(os.getpid()) not in pids  # every element was processed by a worker process
    assert len(pids) == 2  # by the two asked for (20 reshuffled elements: both get some)


@pytest.mark.parametrize("runner", [None, "DirectRunner", "direct", "SwitchingDirectRunner",
                                    "apache_beam.runners.direct.direct_runner.DirectRunner"])
def test_every_name_of_the_direct_runner_gets_the_fn_api_runner(runner):
    args = [f"--runner={runner}"] if runner else []
    assert isinstance(new_pipeline(PipelineOptions(args)).runner, FnApiDirectRunner)


def test_curate_phases_and_publish_make_no_prism_attempt(prism_attempts, tmp_path):
    """Every job of a curate run (phase jobs through corpus.progress.run_pipeline, then publish)."""
    from corpus.readers import resolve_inputs
    from transforms.config import CurateConfig
    from transforms.curate import curate, make_plan
    from transforms.exact_dedup import ExactDedup
    from transforms.normalize import normalize_step

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": text}) + "\n" for text in ["가나다", "abc", "가나다"]), encoding="utf-8")
    config = CurateConfig()
    plan = make_plan(resolve_inputs([str(source)], [], config.read.skip), config,
                     [normalize_step(config.normalize), ExactDedup(config.exact_dedup)], str(tmp_path / "out"))
    stats = curate(plan, ["--runner=DirectRunner"])
    assert (stats["totals"]["kept"], stats["totals"]["rejected"]) == (2, {"dedup:exact": 1})
    assert prism_attempts == []


def test_other_runners_are_left_to_beam():
    assert isinstance(new_pipeline(PipelineOptions(["--runner=PrismRunner"])).runner, prism_runner.PrismRunner)
