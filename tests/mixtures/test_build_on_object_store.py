"""``beam_pipeline.py build`` with curated input, tokenizer and output on an object store: Beam's
in-process runner and the in-memory test filesystem (``memtest://``, tests/mixtures/memfs.py)
stand in for Dataflow and GCS, and the graph is constructed (not run) with each scale-out runner's
documented options. Not tested here: a real object store (GCS, S3) or cluster."""
from __future__ import annotations

import hashlib

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from corpus.completion import MARKER_NAME
from corpus.manifest import MANIFEST_NAME, Manifest, ManifestError
from corpus.shards import PhaseReader
from corpus.storage import download
from corpus.upsampling import UpsamplingConfig
from mixtures.build import BuildConfig, _ManifestWriter, build_pipeline, tokenizer_info
from tests.mixtures import memfs
from tests.mixtures.conftest import FIM_ALL_BUCKETS, build, write_curated
from tests.test_runners import DATAFLOW_DRY_RUN, FLINK, PORTABLE_JOB_SERVER, SPARK

# One process: the pipeline's workers share the test filesystem's dict.
IN_PROCESS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


def _without_tokenizer_path(manifest: Manifest) -> dict:
    data = manifest.to_json()
    del data["tokenizer"]["path"]  # the one place the manifest names an input location
    return data


def test_a_build_on_an_object_store_writes_the_local_builds_bytes_and_leaves_only_shards_and_manifest(
        tmp_path, memtest_root, default_build, tokenizer_dir, small_records):
    local_manifest, local_corpus = default_build
    curated = memfs.upload(write_curated(tmp_path / "curated", small_records), f"{memtest_root}/curated")
    tokenizer = memfs.upload(tokenizer_dir, f"{memtest_root}/tokenizer")
    corpus = f"{memtest_root}/corpus"
    stale = [f"{corpus}/phase1_4k/part-99999-00.arrow", f"{corpus}/.build-work/0.bin"]  # an older build's
    memfs.OBJECTS.update({name: b"left over" for name in stale})

    manifest = build(curated, tokenizer, corpus, {"fim": FIM_ALL_BUCKETS}, beam_args=IN_PROCESS)

    assert _without_tokenizer_path(manifest) == _without_tokenizer_path(local_manifest)
    objects = memfs.under(corpus)
    shards = {f"{corpus}/{f.path}": f.sha256 for phase in manifest.phases for f in phase.files}
    # no work dir, temp or stale object; the completion marker is written last (corpus/completion.py)
    assert set(objects) == {*shards, f"{corpus}/{MANIFEST_NAME}", f"{corpus}/{MARKER_NAME}"}
    assert {name: hashlib.sha256(objects[name]).hexdigest() for name in shards} == shards

    copy = download(corpus, tmp_path / "copy")
    for phase in manifest.phases:
        reader, expected = PhaseReader(copy, phase.name), PhaseReader(local_corpus, phase.name)
        assert len(reader) == phase.rows > 0
        assert (reader.tokens_batch(range(len(reader))) == expected.tokens_batch(range(len(expected)))).all()

    Manifest.load(corpus).verify()  # on the object store itself
    first = next(iter(shards))
    memfs.OBJECTS[first] = memfs.OBJECTS[first][:-1] + b"\0"  # one byte changed
    with pytest.raises(ManifestError, match="sha256 mismatch"):
        Manifest.load(corpus).verify()


@pytest.mark.parametrize("options", [DATAFLOW_DRY_RUN, FLINK, SPARK, PORTABLE_JOB_SERVER],
                         ids=["dataflow", "flink", "spark", "portable-job-server"])
def test_the_build_graph_constructs_for_each_runner_with_everything_on_an_object_store(
        options, tmp_path, memtest_root, tokenizer_dir, small_records):
    curated = memfs.upload(write_curated(tmp_path / "curated", small_records), f"{memtest_root}/curated")
    tokenizer = memfs.upload(tokenizer_dir, f"{memtest_root}/tokenizer")
    corpus, config = f"{memtest_root}/corpus", BuildConfig()
    pipeline = beam.Pipeline(options=PipelineOptions(options))
    writer = _ManifestWriter(corpus, tokenizer_info(tokenizer), config, {}, {})
    build_pipeline(pipeline, curated, tokenizer, corpus, None, config, UpsamplingConfig(), writer)
    names = {t.unique_name for t in pipeline.to_runner_api().components.transforms.values()}  # what would be submitted
    assert "WriteManifest" in names and any(name.startswith("Pack[") for name in names)
    assert type(pipeline.runner).__name__ == options[0].split("=", 1)[1]
    assert memfs.under(corpus) == {}  # constructing the graph writes nothing
