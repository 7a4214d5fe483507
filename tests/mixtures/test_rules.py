"""The build's pure rules, without Beam: FIM split/arrangement, chunking, balance targets and
rounding, stage-2 fill, row packing."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.document import BUCKETS
from corpus.shards import FIM_PSM, FIM_SPM
from mixtures.balance import BalanceConfig, BalanceError, bucket_targets, copies_on_grid
from mixtures.fim import EOT, MIDDLE, PREFIX, SUFFIX, arrange, chunk_count, chunk_text, expected_cost, fim_split
from mixtures.pack import _RowBuilder, materialize
from mixtures.records import Segment
from mixtures.token_store import StoreReader, StoreWriter
from mixtures.staging import SELECT_EXACT, _LengthHistogram, cost_class, selected, stage2_plan

SPECIAL = {EOT: 0, PREFIX: 1, MIDDLE: 2, SUFFIX: 3}


@given(st.text(max_size=200), st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True))
def test_fim_split_parts_concatenate_to_the_text(text, u1, u2):
    prefix, middle, suffix = fim_split(text, u1, u2)
    assert prefix + middle + suffix == text


def test_fim_split_points_are_uniform_over_character_positions():
    rng = np.random.default_rng(0)
    text = "x" * 9
    counts = np.zeros(10)
    for u1, u2 in rng.random((20000, 2)):
        prefix, middle, _ = fim_split(text, u1, u2)
        counts[len(prefix)] += 1
        counts[len(prefix) + len(middle)] += 1
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()


def test_psm_and_spm_follow_the_papers_token_order():
    p, m, s = [10, 11], [20], [30, 31]
    assert arrange(FIM_PSM, p, m, s, SPECIAL) == [1, 10, 11, 3, 30, 31, 2, 20]
    assert arrange(FIM_SPM, p, m, s, SPECIAL) == [1, 3, 30, 31, 2, 10, 11, 20]


@given(st.text(min_size=1, max_size=300), st.integers(1, 20))
def test_chunks_concatenate_to_the_text(text, pieces):
    chunks = chunk_text(text, pieces)
    assert "".join(chunks) == text and len(chunks) <= pieces


def test_long_fim_documents_get_one_chunk_per_context():
    assert chunk_count(4095, 4096) == 1 and chunk_count(4096, 4096) == 2 and chunk_count(40_000, 4096) == 10
    assert expected_cost(100, 0.0, 4096) == 101
    assert expected_cost(100, 0.5, 4096) == 103  # + EOT + 0.5 * 4 FIM tokens
    assert expected_cost(40_000, 0.5, 4096) == 40_000 + 10 + 9 + 20


def test_default_total_is_max_epochs_times_the_smallest_bucket():
    totals = {"korean": 1000, "multilingual": 5000, "code": 3000}
    assert bucket_targets(totals, None, BalanceConfig()) == {b: 4000 for b in BUCKETS}
    assert bucket_targets(totals, 6000, BalanceConfig()) == {b: 2000 for b in BUCKETS}
    with pytest.raises(BalanceError, match="bucket korean"):
        bucket_targets(totals, 30_000, BalanceConfig())
    capped = bucket_targets(totals, 30_000, BalanceConfig(small_bucket="cap"))
    assert capped == {"korean": 4000, "multilingual": 10_000, "code": 10_000}


def test_hash_seeded_rounding_is_unbiased():
    scales, shifts = np.array([1.0]), np.array([0.0])
    rng = np.random.default_rng(1)
    for expected in (0.3, 1.0, 2.7):
        copies = [copies_on_grid(expected, u, scales, shifts, cap=4)[0, 0] for u in rng.random(20000)]
        assert set(copies) <= {int(np.floor(expected)), int(np.floor(expected)) + 1}
        assert np.mean(copies) == pytest.approx(expected, abs=0.02)


def _cell(costs: list[int], hashes: list[int]) -> list:
    """A histogram cell as the combiner leaves it: copies, total cost, the SELECT_EXACT smallest (hash, cost)."""
    return [len(costs), sum(costs), sorted(zip(hashes, costs))[:SELECT_EXACT]]


def test_stage2_fill_takes_the_longest_copies_that_fit_exactly_by_smallest_hash():
    hist = {"korean": {(500, 0): _cell([500] * 2, [7, 9]), (300, 0): _cell([300], [5]),
                       (100, 0): _cell([100] * 4, [1, 2, 3, 4]), (10, 0): _cell([10] * 100, list(range(100)))}}
    plan = stage2_plan(hist, 0.5)["korean"]  # total 2700 -> budget 1350
    rules = plan["rules"]
    assert plan["budget"] == 1350
    assert rules[(500, 0)] == (None, 1.0) and rules[(300, 0)] == (None, 1.0)  # 1300 taken
    assert (100, 0) not in rules  # does not fit the remaining 50
    assert rules[(10, 0)] == (4, 1.0)  # 5 of 100 short copies: the 5 smallest hashes, exactly
    assert plan["planned"] == 1350
    assert [selected(rules[(10, 0)], key) for key in (0, 4, 5)] == [True, True, False]


def test_a_partial_cell_of_two_long_copies_takes_exactly_one():
    plan = stage2_plan({"code": {(1000, 0): _cell([1000, 1000], [11, 99]),
                                 (1, 0): _cell([1] * 1000, list(range(1000)))}}, 0.5)["code"]
    assert plan["rules"][(1000, 0)] == (11, 1.0)  # one of the two, the one with the smaller hash


def test_copies_of_different_lengths_in_one_cost_class_fill_the_budget_exactly():
    # 1000..1003 share a class; the smallest hashes go while their exact costs fit: 1003 + 1000.
    assert {cost_class(c) for c in (1000, 1001, 1002, 1003)} == {1000}
    hist = {"korean": {(1000, 0): _cell([1003, 1000, 1002, 1001], [1, 2, 3, 4]), (1, 0): _cell([1] * 2, [0, 1])}}
    plan = stage2_plan(hist, 0.5)["korean"]  # total 4008 -> budget 2004
    assert plan["rules"][(1000, 0)] == (2, 1.0) and plan["rules"][(1, 0)] == (0, 1.0)
    assert plan["planned"] == 2004


def test_length_histogram_stays_small_however_many_distinct_lengths():
    histogram = _LengthHistogram()
    acc = histogram.create_accumulator()
    for cost in range(1, 1_000_001, 7):  # 142,858 distinct costs up to a million tokens
        acc = histogram.add_input(acc, ("code", (cost_class(cost), 0), (cost * 2654435761 % 2**64, cost)))
    cells = acc["code"]
    assert len(cells) < 256 + 128 * (20 - 8)  # exact below 256, 128 classes per octave above
    assert sum(c[0] for c in cells.values()) == 142_858
    assert sum(c[1] for c in cells.values()) == sum(range(1, 1_000_001, 7))
    assert max(c / cost_class(c) for c in range(256, 1_000_000, 997)) <= 1 + 1 / 128


def test_row_builder_cuts_exact_rows_continues_segments_at_offset_zero_and_reads_tokens_back(tmp_path):
    writer = StoreWriter(tmp_path)
    a = Segment("a", 0, 0, writer.put_tokens(np.arange(10, 15)), 5)  # packed: 10..14 EOT
    b = Segment("b", 2, 1, writer.put_tokens([20, 21]), 2)  # packed: 20 21 EOT
    writer.close()
    builder = _RowBuilder(4)
    plans = [*builder.add(a), *builder.add(b)]
    rows = [materialize(plan, StoreReader(tmp_path), 0, 4) for plan in plans]
    assert [r.tokens.tolist() for r in rows] == [[10, 11, 12, 13], [14, 0, 20, 21]]
    assert rows[1].seg_starts == (0, 2) and rows[1].seg_doc_ids == ("a", "b") and rows[1].seg_fim == (0, 1)
    assert builder.partial() == {2: 1}  # the EOT of "b" is left for a row that is dropped
