"""The build graph through the real DataflowRunner with ``--dry_run``: Dataflow validates the
options and translates every transform of the build (read, tokenize, balance, context phases,
FIM, pack, manifest) without a network call, as for curate in tests/test_runners.py."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from corpus.upsampling import UpsamplingConfig
from mixtures.build import BuildConfig, _ManifestWriter, build_pipeline, tokenizer_info
from tests.mixtures.conftest import write_curated
from tests.test_runners import DATAFLOW_DRY_RUN, dataflow_dry_run


def test_the_build_graph_translates_on_the_real_dataflow_runner(tmp_path, tokenizer_dir, small_records):
    curated = write_curated(tmp_path / "curated", small_records)
    output = "gs://my-bucket/corpus"
    config = BuildConfig()
    writer = _ManifestWriter(output, tokenizer_info(str(tokenizer_dir)), config, {}, {})
    pipeline = beam.Pipeline(options=PipelineOptions(DATAFLOW_DRY_RUN))
    build_pipeline(pipeline, str(curated), str(tokenizer_dir), output, None, config, UpsamplingConfig(), writer)
    job = dataflow_dry_run(pipeline)
    assert job.proto.name == "korpus-dry-run" and job.proto.type_.name == "JOB_TYPE_BATCH"
    names = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    for step in ("ReadCurated", "Tokenize", "Balance", "WriteManifest"):
        assert any(name.startswith(step) for name in names), step
    assert sum(name.startswith("Pack[") and name.count("/") == 0 for name in names) == 2  # one per context phase
