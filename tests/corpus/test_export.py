"""corpus.export: the corpus as Megatron-LM, OLMo-core and HF datasets read it, checked with their
own readers (megatron-core's IndexedDataset, ai2-olmo-core's NumpyFSLDataset, datasets.load_from_disk)."""
import json
from pathlib import Path

import numpy as np
import pytest

from corpus.completion import require_complete
from corpus.export import ExportError, export, main, position_ids, segments
from corpus.manifest import Manifest, PhaseManifest, TokenizerInfo
from corpus.shards import PAD_BUCKET, PackedRow, PhaseReader, loss_mask, write_shard
from corpus.tokenizer.specials import ENDOFTEXT, FIM_PAD, SPECIAL_TOKENS
from tests.mixtures.conftest import build, write_curated

SPECIALS = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
EOS, PAD = SPECIALS[ENDOFTEXT], SPECIALS[FIM_PAD]
SEQ = 16


def _row(segments_spec, rng):
    """segments_spec: [(doc_id, bucket, length)], the last may be ("", PAD_BUCKET, n) padding."""
    tokens, starts = [], []
    for doc_id, bucket, length in segments_spec:
        starts.append(len(tokens))
        if bucket == PAD_BUCKET:
            tokens += [PAD] * length
        else:
            body = rng.integers(64, 3000, size=length - 1).tolist()
            if doc_id.endswith("fim"):
                body[1] = PAD  # a <|fim_pad|> inside a document: masked, but still the document's token
            tokens += body + [EOS]
    assert len(tokens) == SEQ
    return PackedRow(tokens=np.array(tokens, dtype=np.uint32), seg_starts=tuple(starts),
                     seg_buckets=tuple(b for _, b, _ in segments_spec), seg_doc_ids=tuple(d for d, _, _ in segments_spec),
                     seg_fim=tuple(0 for _ in segments_spec))


@pytest.fixture(scope="module")
def padded_corpus(tmp_path_factory) -> Path:
    """Two phases, rows with padding tails, a document id with a comma, two files in phase one."""
    root = tmp_path_factory.mktemp("padded")
    rng = np.random.default_rng(0)
    specs = {"p1": [[("a", 0, 6), ("b,1", 1, 10)], [("c-fim", 2, 12), ("", PAD_BUCKET, 4)],
                    [("d", 0, 16)], [("e", 1, 3), ("f", 2, 3), ("", PAD_BUCKET, 10)]],
             "p2": [[("g", 2, 9), ("h", 0, 7)]]}
    phases = []
    for name, rows in specs.items():
        packed = [_row(r, rng) for r in rows]
        halves = [packed[:2], packed[2:]] if len(packed) > 2 else [packed]
        files = [write_shard(root / name / f"part-{i}.arrow", half, SEQ, relative_to=root) for i, half in enumerate(halves)]
        phases.append(PhaseManifest(name=name, seq_len=SEQ, files=files, tokens_per_bucket={}, fim={}))
    Manifest(tokenizer=TokenizerInfo(path="tok", sha256="0" * 64, vocab_size=3000, special_tokens=SPECIALS),
             phases=phases).save(root)
    return root


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory, tokenizer_dir_for_export, export_records) -> Path:
    root = tmp_path_factory.mktemp("real")
    curated = write_curated(root / "curated", export_records)
    build(curated, tokenizer_dir_for_export, root / "corpus",
          {"fim": {"rate": {"korean": 0.3, "multilingual": 0.3, "code": 0.5}},
           "context_phases": {"phase1_name": "phase1", "phase1_seq_len": 128, "phase2_name": "phase2", "phase2_seq_len": 1024}})
    return root / "corpus"


@pytest.fixture(scope="module")
def tokenizer_dir_for_export(tmp_path_factory):
    from corpus.tokenizer import train
    from tests.conftest import read_sample

    texts = [r["text"] for name in ("ko", "multi", "code") for r in read_sample(name, 60)]
    directory = tmp_path_factory.mktemp("tokenizer")
    train(texts, vocab_size=1024).save(directory)
    return directory


@pytest.fixture(scope="module")
def export_records():
    from tests.conftest import read_sample

    return {"korean": read_sample("ko", 40), "multilingual": read_sample("multi", 20), "code": read_sample("code", 40)}


def our_rows(corpus: Path):
    manifest = Manifest.load(corpus)
    return {s.name: [PhaseReader(corpus, s.name).row(i) for i in range(s.rows)] for s in manifest.phases}


def our_segments(corpus: Path):
    return {name: [row.tokens[s.start:s.end] for row in rows for s in segments(row)]
            for name, rows in our_rows(corpus).items()}


@pytest.mark.parametrize("corpus_fixture", ["padded_corpus", "real_corpus"])
def test_megatron_indexed_dataset_reads_our_documents(corpus_fixture, request, tmp_path):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    corpus = request.getfixturevalue(corpus_fixture)
    record = export("megatron", corpus, tmp_path)
    for name, expected in our_segments(corpus).items():
        dataset = IndexedDataset(str(tmp_path / name))
        assert len(dataset) == len(expected) == record["phases"][name]["segments"]
        for k, tokens in enumerate(expected):
            np.testing.assert_array_equal(dataset[k], tokens.astype(np.int32))
        np.testing.assert_array_equal(dataset.document_indices, np.arange(len(expected) + 1))
        assert PAD not in np.concatenate([dataset[k] for k in range(len(dataset))])[-1:]  # no padding tail
    require_complete(tmp_path, "export")


@pytest.mark.parametrize("corpus_fixture", ["padded_corpus", "real_corpus"])
def test_olmo_numpy_dataset_reads_our_rows_masks_and_documents(corpus_fixture, request, tmp_path):
    from olmo_core.data import NumpyFSLDataset
    from olmo_core.data.utils import iter_document_indices

    corpus = request.getfixturevalue(corpus_fixture)
    export("olmo", corpus, tmp_path)
    manifest = Manifest.load(corpus)
    for phase in manifest.phases:
        rows = our_rows(corpus)[phase.name]
        paths = sorted((tmp_path / phase.name).glob("part-?????.npy"))
        masks = [p.with_name(p.stem + ".label_mask.npy") for p in paths]
        dataset = NumpyFSLDataset(*paths, sequence_length=phase.seq_len, pad_token_id=PAD, eos_token_id=EOS,
                                  vocab_size=manifest.tokenizer.vocab_size, dtype=np.uint32, label_mask_paths=masks)
        dataset.prepare()
        assert len(dataset) == len(rows)
        for k, row in enumerate(rows):
            item = dataset[k]
            np.testing.assert_array_equal(item["input_ids"].numpy(), row.tokens.astype(np.int64))
            np.testing.assert_array_equal(item["label_mask"].numpy(), loss_mask(row, PAD))
        boundaries = [b for p in paths for b in iter_document_indices(p, use_array_if_local=False)]
        expected, first = [], 0
        for path_index, path in enumerate(paths):
            file_rows = rows[first:first + phase.files[path_index].rows]
            expected.append([(i * phase.seq_len + s.start, i * phase.seq_len + s.end)
                             for i, row in enumerate(file_rows) for s in segments(row)])
            first += len(file_rows)
        assert boundaries == [b for per_file in expected for b in per_file]


@pytest.mark.parametrize("corpus_fixture", ["padded_corpus", "real_corpus"])
def test_hf_dataset_loads_with_labels_masked_and_positions_per_document(corpus_fixture, request, tmp_path):
    import datasets

    corpus = request.getfixturevalue(corpus_fixture)
    export("hf", corpus, tmp_path / "hf")
    loaded = datasets.load_from_disk(str(tmp_path / "hf"))
    for name, rows in our_rows(corpus).items():
        split = loaded[name]
        assert len(split) == len(rows)
        for k, row in enumerate(rows):
            item = split[k]
            np.testing.assert_array_equal(item["input_ids"], row.tokens)
            labels = np.asarray(item["labels"])
            np.testing.assert_array_equal(labels == -100, ~loss_mask(row, PAD))
            np.testing.assert_array_equal(item["position_ids"], position_ids(row))
            assert item["seg_doc_ids"] == list(row.seg_doc_ids)


def test_position_ids_restart_per_segment_and_padding_is_masked(padded_corpus):
    row = our_rows(padded_corpus)["p1"][1]  # c-fim (12 tokens, a <|fim_pad|> inside) + 4 padding
    np.testing.assert_array_equal(position_ids(row), [*range(12), *range(4)])
    mask = loss_mask(row, PAD)
    assert mask.tolist() == [True, False] + [True] * 10 + [False] * 4
    assert [s.doc_id for s in segments(row)] == ["c-fim"]


def test_export_json_records_every_file_sha256_and_provenance(padded_corpus, tmp_path):
    import hashlib

    record = export("megatron", padded_corpus, tmp_path)
    on_disk = json.loads((tmp_path / "export.json").read_text())
    assert on_disk == json.loads(json.dumps(record))
    for name, entry in record["files"].items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == entry["sha256"]
    assert record["source"]["manifest_sha256"] == hashlib.sha256((padded_corpus / "manifest.json").read_bytes()).hexdigest()
    assert record["phases"]["p1"]["tokens"] == 6 + 10 + 12 + 16 + 3 + 3


def test_object_store_export_equals_the_local_one(padded_corpus, tmp_path):
    import uuid

    from corpus import storage
    from tests.mixtures import memfs

    memtest_root = f"{memfs.SCHEME}://{uuid.uuid4().hex}"

    for name in storage.list_files(padded_corpus):
        with open(padded_corpus / name, "rb") as src, storage.create(storage.join(memtest_root, "corpus", name)) as dst:
            dst.write(src.read())
    export("olmo", storage.join(memtest_root, "corpus"), storage.join(memtest_root, "out"))
    export("olmo", padded_corpus, tmp_path)
    for name in ("p1/part-00000.npy", "p1/part-00001.label_mask.npy", "p2/part-00000.csv.gz"):
        with storage.open_read(storage.join(memtest_root, "out", name)) as fh:
            assert fh.read() == (tmp_path / name).read_bytes()
    memfs.clear(memtest_root)


def test_a_damaged_shard_is_an_error_naming_it(padded_corpus, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(padded_corpus, copy)
    shard = copy / "p2" / "part-0.arrow"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ExportError, match="part-0.arrow: sha256"):
        export("hf", copy, tmp_path / "out")
    assert main(["--format", "megatron", "--corpus", str(copy), "--output", str(tmp_path / "out2")]) == 2
    assert "export: error:" in capsys.readouterr().err
