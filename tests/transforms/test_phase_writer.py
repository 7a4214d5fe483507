"""Curate's phase writer holds the files of one shard at a time: a bundle of many shards (the
DirectRunner gives each worker half the input in one bundle) must not keep a row group open per
shard until the bundle ends."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from corpus.readers import make_uid
from transforms.phase_io import ERRORS_PHASE_SCHEMA, _WritePerShardFn


def _error_row(uid: int) -> tuple[int, str, dict]:
    row = {"input": "in.jsonl", "location": f"in.jsonl:{uid}", "error": "bad", "excerpt": "", "records": 1, "uid": uid}
    return uid, "", row


def _writer(tmp_path) -> _WritePerShardFn:
    fn = _WritePerShardFn(str(tmp_path), ERRORS_PHASE_SCHEMA, _error_row, 1 << 20)
    fn.start_bundle()
    return fn


def test_a_shards_file_is_closed_when_the_next_shard_starts_not_at_the_end_of_the_bundle(tmp_path):
    fn = _writer(tmp_path)
    closed_during = {}
    for shard in range(3):
        for ordinal in range(4):
            closed_during[(shard, ordinal)] = [w.path for w in fn.process(make_uid(shard, ordinal))]
        assert len(fn._writers) == 1  # noqa: SLF001 (the one open shard)
    at_end = [w.value.path for w in fn.finish_bundle()]
    assert closed_during[(1, 0)] == ["s00000000-0000000000.parquet"]
    assert closed_during[(2, 0)] == ["s00000001-0000000000.parquet"]
    assert at_end == ["s00000002-0000000000.parquet"]
    assert [r["uid"] for r in pq.read_table(tmp_path / "s00000001-0000000000.parquet").to_pylist()] == \
        [make_uid(1, k) for k in range(4)]


def test_a_shard_that_comes_back_starts_a_new_file_and_its_read_order_is_still_checked(tmp_path):
    fn = _writer(tmp_path)
    for uid in (make_uid(0, 0), make_uid(0, 1), make_uid(1, 0)):
        list(fn.process(uid))
    assert [w.path for w in fn.process(make_uid(0, 5))] == ["s00000001-0000000000.parquet"]
    assert [w.value.path for w in fn.finish_bundle()] == ["s00000000-0000000005.parquet"]
    fn.start_bundle()
    list(fn.process(make_uid(0, 3)))
    list(fn.process(make_uid(1, 0)))
    with pytest.raises(RuntimeError, match="read order"):
        list(fn.process(make_uid(0, 2)))
