"""The scale-out runners: the curate graph is constructed (not run: no cluster is reachable here)
with the exact options the README documents for Dataflow, Flink and Spark."""
from __future__ import annotations

import gzip
import json

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, WorkerOptions

from beam_pipeline import curate_steps
from corpus.config import load
from corpus.readers import resolve_inputs
from transforms.config import CurateConfig
from transforms.curate import build_curate

DATAFLOW = ["--runner=DataflowRunner", "--project=my-project", "--region=asia-northeast3",
            "--temp_location=gs://my-bucket/tmp", "--staging_location=gs://my-bucket/staging",
            "--sdk_container_image=asia-northeast3-docker.pkg.dev/my-project/korpus/worker:0.1.0",
            "--sdk_location=container", "--machine_type=n2-highmem-8", "--max_num_workers=200",
            "--autoscaling_algorithm=THROUGHPUT_BASED", "--experiments=use_runner_v2"]
FLINK = ["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081", "--parallelism=64",
         "--environment_type=DOCKER", "--environment_config=korpus-worker:0.1.0"]
SPARK = ["--runner=SparkRunner", "--spark_master_url=spark://spark-master:7077",
         "--environment_type=DOCKER", "--environment_config=korpus-worker:0.1.0"]
PORTABLE_JOB_SERVER = ["--runner=PortableRunner", "--job_endpoint=localhost:8099",
                       "--environment_type=DOCKER", "--environment_config=korpus-worker:0.1.0"]

# Beam's own Dataflow tests run pipelines this way (dataflow_runner_test.py): `--dry_run` makes
# DataflowRunner validate the options, translate the pipeline and build the job request, and
# return before any network call (without it, validating the options asks GCS about the temp
# bucket's soft-delete policy and waits minutes for the timeout here); `--no_auth` skips the credentials lookup.
DATAFLOW_DRY_RUN = [*DATAFLOW, "--dry_run=True", "--no_auth", "--job_name=korpus-dry-run"]


@pytest.fixture
def tiny_input(tmp_path):
    path = tmp_path / "docs.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "a", "text": "한국어 문서입니다."}, ensure_ascii=False) + "\n")
    return str(path)


@pytest.mark.parametrize("options", [DATAFLOW_DRY_RUN, FLINK, SPARK, PORTABLE_JOB_SERVER],
                         ids=["dataflow", "flink", "spark", "portable-job-server"])
def test_curate_graph_constructs_for_runner(options, tiny_input, tmp_path):
    config = load(CurateConfig, "configs/default.yaml")
    pipeline = beam.Pipeline(options=PipelineOptions(options))
    build_curate(pipeline, resolve_inputs([tiny_input], [], config.read.skip), config, curate_steps(config),
                 str(tmp_path / "out"))
    proto = pipeline.to_runner_api()  # what the runner would submit
    names = {t.unique_name for t in proto.components.transforms.values()}
    assert any(name.startswith("Read") for name in names)
    assert any("WritePhaseStats" in name for name in names)
    assert type(pipeline.runner).__name__ == options[0].split("=", 1)[1]


def test_dataflow_options_parse_as_documented():
    options = PipelineOptions(DATAFLOW)
    gcp = options.view_as(GoogleCloudOptions)
    assert (gcp.project, gcp.region, gcp.temp_location) == ("my-project", "asia-northeast3", "gs://my-bucket/tmp")
    assert options.view_as(WorkerOptions).max_num_workers == 200


def dataflow_dry_run(pipeline: beam.Pipeline) -> object:
    """The Dataflow job the runner would submit (``apiclient.Job``)."""
    result = pipeline.run()
    assert result.state == "DONE"
    return result.job


def test_every_curate_phase_and_the_publish_step_translate_on_the_real_dataflow_runner(tiny_input, tmp_path):
    from transforms.curate import build_phase, make_plan
    from transforms.publish import WriteParts
    from corpus.shuffle_meter import ShuffleMeter

    config = load(CurateConfig, "configs/default.yaml")
    plan = make_plan(resolve_inputs([tiny_input], [], config.read.skip), config, curate_steps(config),
                     "gs://my-bucket/curated-run")
    assert [p.dirname for p in plan.phases] == ["1-filter", "2-dedup.exact", "3-dedup.minhash"]
    previous = None
    for phase in plan.phases:
        pipeline = beam.Pipeline(options=PipelineOptions(DATAFLOW_DRY_RUN))
        build_phase(pipeline, plan, phase, previous)
        job = dataflow_dry_run(pipeline)
        assert job.proto.name == "korpus-dry-run" and job.proto.type_.name == "JOB_TYPE_BATCH"
        names = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
        assert any("WritePhaseStats" in name for name in names), phase.dirname
        previous = {"files": [{"path": "docs/s00000000-0000000001.parquet", "rows": 1, "row_groups": [[1, 100]]}]}
    pipeline = beam.Pipeline(options=PipelineOptions(DATAFLOW_DRY_RUN))
    _ = pipeline | "Publish" >> WriteParts([], ShuffleMeter())
    dataflow_dry_run(pipeline)
