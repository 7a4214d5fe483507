"""A corpus on an object store: the loader sees the local corpus's batches, each rank fetches only the
shards it reads, a damaged cached copy is fetched again, a damaged remote shard is a clear error, and
``trainer.train --corpus URL`` trains the same steps as on the local directory."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.mixtures import memfs
from tests.trainer.test_train import run_trainer, trajectory, write_config, write_tokenizer
from trainer import train
from trainer.corpus_cache import CorpusFetchError, CorpusSource
from trainer.data import ShardLoader, corpus_fingerprint, plan_training_phases
from trainer.synthetic import write_corpus

URL = "memtest://corpus-cache-test/corpus"
GLOBAL_BATCH_TOKENS = 256  # 8 rows of 32


@pytest.fixture()
def corpus(tmp_path) -> Path:
    local = write_corpus(tmp_path / "corpus", [("phase1_4k", 32, 40), ("phase2_32k", 64, 12)], files_per_phase=4)
    memfs.upload(local, URL)
    yield local
    memfs.clear("memtest://corpus-cache-test")


def _loader(source: CorpusSource, rank: int = 0, world_size: int = 1) -> ShardLoader:
    plans = plan_training_phases(source.manifest, GLOBAL_BATCH_TOKENS, 64, world_size)
    return ShardLoader(source.root, plans, corpus_fingerprint(source.manifest), rank, world_size, seed=0,
                       document_masking=True, fetch=source.fetch)


def _cached(source: CorpusSource) -> set[str]:
    return {str(p.relative_to(source.root)) for p in source.root.rglob("*.arrow")}


def test_url_corpus_gives_the_local_batches_and_fetches_only_the_shards_read(corpus, tmp_path):
    remote = CorpusSource(URL, tmp_path / "cache")
    local = CorpusSource(corpus)
    assert not local.remote and local.fetch is None and remote.remote
    assert corpus_fingerprint(remote.manifest) == corpus_fingerprint(local.manifest)
    from_url, from_disk = _loader(remote), _loader(local)
    batch, expected = from_url.next_step(), from_disk.next_step()
    for got, want in zip(batch.micro_batches, expected.micro_batches):
        assert np.array_equal(got.tokens, want.tokens) and np.array_equal(got.labels, want.labels)
    files = remote.manifest.phase("phase1_4k").files
    starts = np.cumsum([0] + [f.rows for f in files])
    read = {files[np.searchsorted(starts, row, side="right") - 1].path for row in batch.rows}
    assert _cached(remote) == read  # phase-1 shards this step read, nothing of phase 2
    assert not any(name.startswith("phase2_32k") for name in _cached(remote))


def test_a_damaged_cached_shard_is_fetched_again(corpus, tmp_path):
    first = CorpusSource(URL, tmp_path / "cache")
    name = first.manifest.phase("phase1_4k").files[0].path
    path = first.local_file(name)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: only the hash tells
    path.write_bytes(bytes(data))
    again = CorpusSource(URL, tmp_path / "cache")
    assert again.local_file(name).read_bytes() == (corpus / name).read_bytes()


def test_a_remote_shard_that_does_not_match_the_manifest_is_a_clear_error(corpus, tmp_path):
    source = CorpusSource(URL, tmp_path / "cache")
    name = source.manifest.phase("phase2_32k").files[1].path
    memfs.OBJECTS[f"{URL}/{name}"] = memfs.OBJECTS[f"{URL}/{name}"][:-8] + b"\0" * 8
    with pytest.raises(CorpusFetchError, match=f"{name}: downloaded .* sha256 .*manifest says"):
        source.local_file(name)
    assert not (source.root / name).exists()  # nothing half-trusted is left in the cache


def test_trainer_trains_the_same_steps_from_a_url_as_from_the_directory(tmp_path):
    local = tmp_path / "corpus"
    write_tokenizer(local / "tokenizer")
    write_corpus(local, [("phase1_4k", 32, 53), ("phase2_32k", 64, 40)])
    url = memfs.upload(local, "memtest://corpus-cache-train/corpus")
    try:
        config = write_config(tmp_path / "train.yaml", global_batch_tokens=512, checkpoint={"every_steps": 10})
        run_trainer(local, tmp_path / "local_run", config, 2)
        assert train.main(["--corpus", url, "--corpus-cache", str(tmp_path / "cache"), "--preset", "tiny",
                           "--out", str(tmp_path / "url_run"), "--config", str(config), "--max-steps", "2",
                           "--device", "cpu"]) == 0
        assert trajectory(tmp_path / "url_run") == trajectory(tmp_path / "local_run")
        assert json.loads((tmp_path / "url_run" / "run.json").read_text())["corpus"] == url
    finally:
        memfs.clear("memtest://corpus-cache-train")
