"""The stateful loader: disjoint per-rank rows, global state that resumes on another rank count, phase plans."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from corpus.manifest import Manifest
from corpus.shards import FIM_NONE, FIM_PSM, PAD_BUCKET, PackedRow
from corpus.tokenizer.specials import ENDOFTEXT, FIM_MIDDLE, FIM_PAD, FIM_PREFIX, FIM_SUFFIX
from trainer.synthetic import EOS, write_corpus, write_rows
from trainer.data import (DataError, ShardLoader, corpus_fingerprint, plan_training_phases, segment_layout,
                          verify_corpus_files)
from trainer.model import IGNORE_INDEX
from trainer.permutation import RowPermutation
from trainer.prefetch import PrefetchingLoader

GLOBAL_BATCH_TOKENS = 256  # 8 rows of 32, 4 rows of 64


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    # phase 1: 8 full steps and a 3-row tail; phase 2: 5 full steps.
    return write_corpus(tmp_path_factory.mktemp("corpus"), [("phase1_4k", 32, 67), ("phase2_32k", 64, 20)])


def loader_for(corpus: Path, rank: int, world_size: int, micro_batch_tokens: int = 64) -> ShardLoader:
    manifest = Manifest.load(corpus)
    plans = plan_training_phases(manifest, GLOBAL_BATCH_TOKENS, micro_batch_tokens, world_size)
    return ShardLoader(corpus, plans, corpus_fingerprint(manifest), rank, world_size, seed=0, document_masking=True)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000, 4099])
def test_row_permutation_is_a_bijection(n: int):
    rows = RowPermutation(n, seed=5, salt="phase1_4k")(np.arange(n))
    assert sorted(rows.tolist()) == list(range(n))


def test_row_permutation_depends_on_seed_and_phase_salt():
    positions = np.arange(500)
    base = RowPermutation(500, 0, "a")(positions)
    assert not np.array_equal(base, RowPermutation(500, 1, "a")(positions))
    assert not np.array_equal(base, RowPermutation(500, 0, "b")(positions))
    assert np.array_equal(base, RowPermutation(500, 0, "a")(positions))


def test_segment_layout_numbers_documents_and_restarts_positions():
    doc, pos = segment_layout(np.array([0, 3, 4]), 7)
    assert doc.tolist() == [0, 0, 0, 1, 2, 2, 2]
    assert pos.tolist() == [0, 1, 2, 0, 0, 1, 2]


def test_labels_never_cross_a_document_boundary(corpus: Path):
    batch = loader_for(corpus, 0, 1).next_step()
    for mb in batch.micro_batches:
        doc_ids, labels, tokens = mb.layout.doc_ids, mb.labels, mb.tokens
        assert (labels[:, -1] == IGNORE_INDEX).all()
        same_doc = doc_ids[:, 1:] == doc_ids[:, :-1]
        assert (labels[:, :-1][same_doc] == tokens[:, 1:][same_doc]).all()
        assert (labels[:, :-1][~same_doc] == IGNORE_INDEX).all()
        # Every segment except a row's last ends with <|endoftext|>, which is itself a target.
        assert (tokens[:, :-1][~same_doc] == EOS).all()


def test_ranks_read_disjoint_slices_that_make_up_the_global_batch(corpus: Path):
    single, rank0, rank1 = loader_for(corpus, 0, 1), loader_for(corpus, 0, 2), loader_for(corpus, 1, 2)
    for _ in range(13):  # every step of both phases
        whole, a, b = single.next_step(), rank0.next_step(), rank1.next_step()
        assert np.array_equal(np.concatenate([a.rows, b.rows]), whole.rows)
        assert not set(a.rows) & set(b.rows)
    assert single.next_step() is None and rank0.next_step() is None


def test_resume_from_two_ranks_onto_one_consumes_exactly_the_rows_not_yet_seen(corpus: Path):
    ranks = [loader_for(corpus, r, 2) for r in range(2)]
    seen: dict[int, list[int]] = {0: [], 1: []}
    for _ in range(5):
        for loader in ranks:
            batch = loader.next_step()
            seen[batch.phase_index] += batch.rows.tolist()
    state = ranks[0].state_dict()
    assert state == ranks[1].state_dict()  # the state is global: no rank in it
    resumed = loader_for(corpus, 0, 1)
    resumed.load_state_dict(state)
    while (batch := resumed.next_step()) is not None:
        seen[batch.phase_index] += batch.rows.tolist()
    plans = resumed.plans
    for index, plan in enumerate(plans):
        assert len(seen[index]) == len(set(seen[index])) == plan.steps * plan.rows_per_step
    assert len(set(range(plans[0].rows)) - set(seen[0])) == plans[0].tail_rows == 3
    assert set(seen[1]) == set(range(plans[1].rows))


def test_a_checkpoint_state_from_before_the_context_phase_rename_resumes_at_the_same_position(corpus: Path):
    loader = loader_for(corpus, 0, 1)
    while loader.next_step().phase_index == 0:
        pass
    state = loader.state_dict()
    older = {("stage_index" if key == "phase_index" else key): value for key, value in state.items()}
    resumed = loader_for(corpus, 0, 1)
    resumed.load_state_dict(older)
    assert resumed.state_dict() == state and state["phase_index"] == 1


def test_plan_keeps_the_global_batch_constant_in_tokens_and_derives_micro_batches(corpus: Path):
    s1, s2 = plan_training_phases(Manifest.load(corpus), GLOBAL_BATCH_TOKENS, micro_batch_tokens=64, world_size=2)
    assert s1.tokens_per_step == s2.tokens_per_step == GLOBAL_BATCH_TOKENS
    assert (s1.rows_per_step, s1.micro_rows, s1.accumulation, s1.steps) == (8, 2, 2, 8)
    assert (s2.rows_per_step, s2.micro_rows, s2.accumulation, s2.steps) == (4, 1, 2, 5)


def test_loader_switches_phase_after_the_planned_steps(corpus: Path):
    loader = loader_for(corpus, 0, 1)
    seq_lens = [loader.next_step().plan.seq_len for _ in range(13)]
    assert seq_lens == [32] * 8 + [64] * 5


def test_plan_rejects_batches_that_do_not_fit(corpus: Path):
    manifest = Manifest.load(corpus)
    with pytest.raises(DataError, match="not a multiple"):
        plan_training_phases(manifest, 100, 64, 1)
    with pytest.raises(DataError, match="does not split"):
        plan_training_phases(manifest, GLOBAL_BATCH_TOKENS, 64, 3)
    with pytest.raises(DataError, match="fewer than one global batch"):
        plan_training_phases(manifest, 64 * 32, 64, 1)


def test_an_empty_phase_is_skipped_but_an_all_empty_corpus_is_an_error(tmp_path: Path):
    partly = write_corpus(tmp_path / "partly", [("phase1_4k", 32, 67), ("phase2_32k", 64, 0)], seed=3)
    assert [p.name for p in plan_training_phases(Manifest.load(partly), GLOBAL_BATCH_TOKENS, 64, 1)] == ["phase1_4k"]
    empty = write_corpus(tmp_path / "empty", [("phase1_4k", 32, 0), ("phase2_32k", 64, 0)], seed=3)
    with pytest.raises(DataError, match="every phase of the corpus is empty"):
        plan_training_phases(Manifest.load(empty), GLOBAL_BATCH_TOKENS, 64, 1)


def test_loader_refuses_state_from_another_corpus(corpus: Path, tmp_path: Path):
    other = write_corpus(tmp_path / "other", [("phase1_4k", 32, 67), ("phase2_32k", 64, 20)], seed=9)
    state = loader_for(other, 0, 1).state_dict()
    with pytest.raises(DataError, match="different corpus"):
        loader_for(corpus, 0, 1).load_state_dict(state)


def test_verify_reports_a_shard_that_changed_after_the_build(tmp_path: Path):
    root = write_corpus(tmp_path / "c", [("phase1_4k", 32, 20)])
    manifest = Manifest.load(root)
    assert verify_corpus_files(manifest, 0, 1) == []
    shard = root / manifest.phases[0].files[1].path
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert verify_corpus_files(manifest, 0, 1) == [f"sha256 mismatch {shard}"]
    # Two ranks split the files: the mismatch is found exactly once between them.
    problems = verify_corpus_files(manifest, 0, 2) + verify_corpus_files(manifest, 1, 2)
    assert problems == [f"sha256 mismatch {shard}"]


# Special-token ids as every korpus tokenizer has them (corpus/tokenizer/specials.py).
SPECIALS = {ENDOFTEXT: 0, FIM_PREFIX: 1, FIM_MIDDLE: 2, FIM_SUFFIX: 3, FIM_PAD: 4}
PAD = SPECIALS[FIM_PAD]


def padded_rows() -> list[PackedRow]:
    """Rows of 16 as the build writes them (interface 3): a document, a FIM segment with <|fim_pad|> filler,
    and a trailing padding segment (bucket PAD_BUCKET, doc id "", all <|fim_pad|>); then a full row."""
    fim = [1, 70, 71, 3, 72, PAD, PAD, 2, 73, 0]  # <|fim_prefix|> .. <|fim_suffix|> .. pads <|fim_middle|> .. EOS
    row0 = np.array([50, 51, 0] + fim + [PAD] * 3, dtype=np.uint32)
    row1 = np.array(list(range(80, 95)) + [0], dtype=np.uint32)
    return [PackedRow(row0, (0, 3, 13), (0, 2, PAD_BUCKET), ("a", "b", ""), (FIM_NONE, FIM_PSM, FIM_NONE)),
            PackedRow(row1, (0,), (1,), ("c",), (FIM_NONE,))]


def padded_loader(tmp_path: Path, document_masking: bool, fim_pad_id: int | None = PAD) -> ShardLoader:
    root = write_rows(tmp_path / f"padded-{document_masking}", [("phase1_4k", 16, padded_rows())], 100, SPECIALS)
    manifest = Manifest.load(root)
    plans = plan_training_phases(manifest, 32, 32, 1)
    return ShardLoader(root, plans, corpus_fingerprint(manifest), 0, 1, seed=0, document_masking=document_masking,
                       fim_pad_id=fim_pad_id)


@pytest.mark.parametrize("document_masking", [True, False])
def test_loss_mask_covers_fim_pad_targets_and_every_position_of_the_padding_segment(tmp_path, document_masking):
    (mb,) = padded_loader(tmp_path, document_masking).next_step().micro_batches
    by_row = {tuple(row[:3].tolist()): (row, labels) for row, labels in zip(mb.tokens, mb.labels)}
    tokens, labels = by_row[(50, 51, 0)]
    targets = tokens[1:].tolist() + [IGNORE_INDEX]
    expected = [IGNORE_INDEX if t == PAD else t for t in targets]
    expected[13:] = [IGNORE_INDEX] * 3  # the padding segment: no position predicts
    if document_masking:
        expected[2] = IGNORE_INDEX  # document a's <|endoftext|> does not predict document b's first token
    assert labels.tolist() == expected
    assert labels.tolist()[12] == IGNORE_INDEX  # the FIM segment's <|endoftext|> predicts a pad: masked
    full_tokens, full_labels = by_row[(80, 81, 82)]
    assert full_labels.tolist() == full_tokens[1:].tolist() + [IGNORE_INDEX]  # a full row: every target kept


def test_a_padding_segment_is_masked_even_without_a_fim_pad_id(tmp_path):
    (mb,) = padded_loader(tmp_path, True, fim_pad_id=None).next_step().micro_batches
    row = [i for i in range(2) if mb.tokens[i, 0] == 50][0]
    assert (mb.labels[row, 13:] == IGNORE_INDEX).all() and (mb.labels[row, 12] == IGNORE_INDEX)
    assert mb.labels[row, 7].item() == PAD  # a FIM filler target is only masked by its id


@pytest.mark.parametrize("document_masking, expected", [(True, 3 ** 2 + 10 ** 2 + 3 ** 2 + 16 ** 2),
                                                        (False, 2 * 16 ** 2)])
def test_attention_square_sums_the_squared_lengths_attention_runs_over(tmp_path, document_masking, expected):
    (mb,) = padded_loader(tmp_path, document_masking).next_step().micro_batches
    assert mb.attention_square == expected


def test_prefetching_loader_yields_the_same_steps_and_saves_the_state_of_what_was_consumed(corpus: Path):
    reference = loader_for(corpus, 0, 1)
    expected = []
    while (batch := reference.next_step()) is not None:
        expected.append(batch)
    first = PrefetchingLoader(loader_for(corpus, 0, 1), depth=3)
    consumed = [first.next_step() for _ in range(5)]
    deadline = time.monotonic() + 10
    while not first._queue.full() and time.monotonic() < deadline:  # let the thread read ahead
        time.sleep(0.01)
    state = first.state_dict()
    ahead = first.loader.state_dict()
    assert first._queue.full() and (ahead["phase_index"], ahead["position"]) > (state["phase_index"], state["position"])
    first.close()
    after_five = loader_for(corpus, 0, 1)
    for _ in range(5):
        after_five.next_step()
    assert state == after_five.state_dict()  # the consumed position, not the prefetched one
    resumed = PrefetchingLoader(loader_for(corpus, 0, 1), depth=3)
    resumed.load_state_dict(state)
    rest = []
    while (batch := resumed.next_step()) is not None:
        rest.append(batch)
    assert resumed.next_step() is None
    for got, want in zip(consumed + rest, expected, strict=True):
        assert (got.phase_index, got.position) == (want.phase_index, want.position)
        assert np.array_equal(got.rows, want.rows)
        for a, b in zip(got.micro_batches, want.micro_batches, strict=True):
            assert torch.equal(a.tokens, b.tokens) and torch.equal(a.labels, b.labels)


def test_prefetching_loader_raises_the_readers_error_in_the_training_thread(corpus: Path):
    loader = loader_for(corpus, 0, 1)
    loader.plans = [dataclasses.replace(loader.plans[0], rows=loader.plans[0].rows + 1)] + loader.plans[1:]
    with pytest.raises(Exception, match="planned"):
        PrefetchingLoader(loader).next_step()
