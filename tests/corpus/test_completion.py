"""Completion markers: written last, required by the next step, readable on object stores."""
import uuid

import pytest

from corpus.completion import (MARKER_NAME, IncompleteInputError, clear_marker, read_marker, require_complete,
                               write_marker)


def test_directory_without_marker_is_refused_with_its_name(tmp_path):
    (tmp_path / "part-0.parquet").write_bytes(b"torn")
    with pytest.raises(IncompleteInputError, match=str(tmp_path)) as caught:
        require_complete(tmp_path, "curate")
    assert "\n" not in str(caught.value)


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(IncompleteInputError, match="no such directory"):
        require_complete(tmp_path / "absent", "curate")


def test_marker_of_another_step_is_refused(tmp_path):
    write_marker(tmp_path, "tokenizer", {})
    with pytest.raises(IncompleteInputError, match="'tokenizer', not of 'curate'"):
        require_complete(tmp_path, "curate")


def test_marker_round_trip_and_override(tmp_path):
    write_marker(tmp_path, "curate", {"files": 3, "rows": {"korean": 10}})
    assert require_complete(tmp_path, "curate")["produced"] == {"files": 3, "rows": {"korean": 10}}
    first = (tmp_path / MARKER_NAME).read_bytes()
    write_marker(tmp_path, "curate", {"rows": {"korean": 10}, "files": 3})
    assert (tmp_path / MARKER_NAME).read_bytes() == first  # sorted keys, no timestamp
    clear_marker(tmp_path)
    assert read_marker(tmp_path) is None
    assert require_complete(tmp_path, "curate", allow_incomplete=True) is None


def test_markers_on_an_object_store():
    from tests.mixtures import memfs

    root = f"{memfs.SCHEME}://{uuid.uuid4().hex}/out"
    try:
        with pytest.raises(IncompleteInputError, match="has no"):
            require_complete(root, "build")
        write_marker(root, "build", {"shards": 2})
        assert require_complete(root, "build")["produced"] == {"shards": 2}
    finally:
        memfs.clear(root.rsplit("/", 1)[0])
