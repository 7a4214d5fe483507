"""The shard writer/reader and manifest verification, on small hand-made rows."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from corpus.manifest import Manifest, ManifestError, PhaseManifest, TokenizerInfo, file_digests
from corpus.shards import FIM_NONE, FIM_PSM, PackedRow, PhaseReader, ShardError, shard_schema, write_shard

SEQ_LEN = 8


def _rows(n: int, offset: int = 0) -> list[PackedRow]:
    rows = []
    for i in range(n):
        tokens = np.arange(SEQ_LEN, dtype=np.uint32) + 100 * (i + offset)
        rows.append(PackedRow(tokens, (0, 5), (0, 2), (f"doc{i + offset}", f"doc{i + offset + 1}"), (FIM_NONE, FIM_PSM)))
    return rows


def _corpus(tmp_path, sizes=(300, 7)) -> Manifest:
    files, offset = [], 0
    for k, n in enumerate(sizes):
        files.append(write_shard(tmp_path / "phase1" / f"part-{k:05d}.arrow", _rows(n, offset), SEQ_LEN, relative_to=tmp_path))
        offset += n
    tok = TokenizerInfo(path="tok", sha256="0" * 64, vocab_size=10, special_tokens={"<|endoftext|>": 0})
    manifest = Manifest(tok, [PhaseManifest("phase1", SEQ_LEN, files, {"korean": 1}, {"none": 1})])
    manifest.save(tmp_path)
    return manifest


def test_written_file_has_the_contract_schema(tmp_path):
    info = write_shard(tmp_path / "a.arrow", _rows(3), SEQ_LEN)
    with pa.memory_map(str(tmp_path / "a.arrow")) as source:
        table = ipc.open_file(source).read_all()
    assert table.schema == shard_schema(SEQ_LEN)
    assert str(table.schema.field("tokens").type) == f"fixed_size_list<item: uint32>[{SEQ_LEN}]"
    assert info.rows == 3 and table.num_rows == 3
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_reader_returns_rows_by_global_index_across_files_and_batches(tmp_path):
    _corpus(tmp_path)
    reader = PhaseReader(tmp_path, "phase1")
    assert len(reader) == 307 and reader.seq_len == SEQ_LEN
    for index in (0, 255, 256, 299, 300, 306):
        expected = np.arange(SEQ_LEN, dtype=np.uint32) + 100 * index
        np.testing.assert_array_equal(reader.tokens(index), expected)
        row = reader[index]
        assert row.seg_doc_ids == [f"doc{index}", f"doc{index + 1}"]
        assert row.seg_starts.tolist() == [0, 5] and row.seg_buckets.tolist() == [0, 2]
        assert row.seg_fim.tolist() == [FIM_NONE, FIM_PSM]
    batch = reader.tokens_batch([306, 0])
    assert batch.shape == (2, SEQ_LEN) and batch.dtype == np.uint32 and batch[0, 0] == 30600
    with pytest.raises(IndexError):
        reader.tokens(307)


def test_reader_tokens_are_views_of_the_mapped_file_not_copies(tmp_path):
    _corpus(tmp_path)
    tokens = PhaseReader(tmp_path, "phase1").tokens(1)
    assert not tokens.flags.owndata and not tokens.flags.writeable


def test_manifest_verify_detects_a_modified_file(tmp_path):
    _corpus(tmp_path)
    Manifest.load(tmp_path).verify()
    path = tmp_path / "phase1" / "part-00001.arrow"
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="sha256 mismatch"):
        PhaseReader(tmp_path, "phase1")


def test_manifest_verify_detects_a_missing_file_and_unknown_phase(tmp_path):
    _corpus(tmp_path)
    (tmp_path / "phase1" / "part-00000.arrow").unlink()
    manifest = Manifest.load(tmp_path)
    with pytest.raises(ManifestError, match="missing file"):
        manifest.verify()
    with pytest.raises(ManifestError, match="no phase"):
        manifest.phase("phase9")


def test_writer_rejects_rows_of_the_wrong_length_or_bad_segments(tmp_path):
    bad_len = PackedRow(np.zeros(SEQ_LEN - 1, np.uint32), (0,), (0,), ("d",), (0,))
    with pytest.raises(ShardError, match="tokens"):
        write_shard(tmp_path / "x.arrow", [bad_len], SEQ_LEN)
    bad_seg = PackedRow(np.zeros(SEQ_LEN, np.uint32), (1,), (0,), ("d",), (0,))
    with pytest.raises(ShardError, match="segments"):
        write_shard(tmp_path / "y.arrow", [bad_seg], SEQ_LEN)


def test_tree_digest_depends_on_content_not_location(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tokenizer.json").write_text("{}")
    digests = file_digests(tmp_path / "a")
    assert list(digests) == ["tokenizer.json"] and digests == file_digests(tmp_path / "b")
    (tmp_path / "b" / "tokenizer.json").write_text("{ }")
    assert file_digests(tmp_path / "a") != file_digests(tmp_path / "b")


def test_a_manifest_written_before_the_context_phase_rename_reads_its_stages_as_phases(tmp_path):
    _corpus(tmp_path)
    current = json.loads((tmp_path / "manifest.json").read_text())
    older = {key: value for key, value in current.items() if key != "phases"}
    older |= {"format": "korpus.corpus/1", "balance": {"stages": {"phase1": {"share_of_total": 1.0}}},
              "stages": [phase | {"name": "stage1_4k", "stats": {"stage2_plan": {"korean": {}}}} for phase in current["phases"]]}
    (tmp_path / "manifest.json").write_text(json.dumps(older))
    manifest = Manifest.load(tmp_path)
    assert [p.name for p in manifest.phases] == ["stage1_4k"] and manifest.phase("stage1_4k").stats == {"phase2_plan": {"korean": {}}}
    assert manifest.balance == {"phases": {"phase1": {"share_of_total": 1.0}}}
    reader = PhaseReader(tmp_path, "stage1_4k")  # the files are where the older manifest says
    assert len(reader) == 307 and list(reader.row(306).tokens) == list(_rows(1, 306)[0].tokens)
