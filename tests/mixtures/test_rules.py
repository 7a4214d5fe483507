"""The build's pure rules, without Beam: FIM split/arrangement, chunking, balance targets and
rounding, phase-2 fill, best-fit row packing."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.document import BUCKETS
from corpus.shards import FIM_PSM, FIM_SPM, PAD_BUCKET
from mixtures.balance import BalanceConfig, BalanceError, bucket_targets, copies_on_grid
from mixtures.fim import (EOT, FIM_ROOM, MIDDLE, PAD, PREFIX, SUFFIX, arrange, chunk_bounds, chunk_count,
                          expected_cost, fim_split, row_pieces)
from mixtures.pack import BestFitRows, materialize, pack_group, pack_order
from mixtures.records import PackUnit, Segment
from mixtures.token_store import StoreReader, StoreWriter
from mixtures.context_phases import SELECT_EXACT, _LengthHistogram, cost_class, selected, phase2_plan

SPECIAL = {EOT: 0, PREFIX: 1, MIDDLE: 2, SUFFIX: 3, PAD: 4}


@given(st.text(max_size=200), st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True))
def test_fim_split_parts_concatenate_to_the_text(text, u1, u2):
    (prefix, _), (middle, _), (suffix, _) = fim_split(text, u1, u2)
    assert prefix + middle + suffix == text


@given(st.lists(st.integers(0, 30), min_size=1, max_size=6), st.floats(0, 1, exclude_max=True),
       st.floats(0, 1, exclude_max=True))
def test_fim_split_never_cuts_a_reserved_span_and_carries_each_span_into_its_part(gaps, u1, u2):
    token = "<|pii:email|>"
    text, spans = "", []
    for gap in gaps:
        text += "x" * gap
        spans.append((len(text), len(token), 99))
        text += token
    parts = fim_split(text, u1, u2, spans)
    assert "".join(part for part, _ in parts) == text
    carried = [span for part, part_spans in parts for span in part_spans]
    assert len(carried) == len(spans)
    for part, part_spans in parts:
        assert all(part[s:s + n] == token for s, n, _ in part_spans)
        assert part.count(token) == len(part_spans)  # no placeholder is cut or lost


def test_fim_split_points_are_uniform_over_character_positions():
    rng = np.random.default_rng(0)
    text = "x" * 9
    counts = np.zeros(10)
    for u1, u2 in rng.random((20000, 2)):
        (prefix, _), (middle, _), _ = fim_split(text, u1, u2)
        counts[len(prefix)] += 1
        counts[len(prefix) + len(middle)] += 1
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()


def test_psm_and_spm_follow_the_papers_token_order():
    p, m, s = [10, 11], [20], [30, 31]
    assert arrange(FIM_PSM, p, m, s, SPECIAL) == [1, 10, 11, 3, 30, 31, 2, 20]
    assert arrange(FIM_SPM, p, m, s, SPECIAL) == [1, 3, 30, 31, 2, 10, 11, 20]


@given(st.text(min_size=1, max_size=300), st.integers(4, 40))
def test_fim_chunks_cut_at_character_starts_fit_their_limit_and_concatenate_to_the_text(text, max_tokens):
    data = text.encode("utf-8")
    token_bytes = np.ones(len(data), dtype=np.int64)  # one token per byte: cuts may fall inside a character
    bounds = chunk_bounds(token_bytes, data, max_tokens)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(data)
    assert all(a < b == c for (a, b), (c, _) in zip(bounds, bounds[1:]))
    assert all(b - a <= max_tokens for a, b in bounds)
    assert "".join(data[a:b].decode("utf-8") for a, b in bounds) == text  # each chunk decodes on its own


def test_a_document_without_fim_is_cut_at_row_length_only_when_longer_than_a_row():
    assert row_pieces(4095, 4096) == [(0, 4095, True)]
    assert row_pieces(4096, 4096) == [(0, 4096, False), (4096, 4096, True)]  # the last piece is only EOT
    pieces = row_pieces(10_000, 4096)
    assert pieces == [(0, 4096, False), (4096, 8192, False), (8192, 10_000, True)]


def test_long_fim_documents_get_chunks_that_leave_room_for_the_sentinels():
    assert chunk_count(4095, 4096) == 1 and chunk_count(4096, 4096) == 2
    assert chunk_count(40_000, 4096) == -(-40_000 // (4096 - FIM_ROOM)) == 10
    assert expected_cost(100, 0.0, 4096) == 101
    assert expected_cost(100, 0.5, 4096) == 103  # + EOT + 0.5 * 4 FIM tokens
    assert expected_cost(40_000, 0.5, 4096) == 40_000 + 10 + 20


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


def test_phase2_fill_takes_the_longest_copies_that_fit_exactly_by_smallest_hash():
    hist = {"korean": {(500, 0): _cell([500] * 2, [7, 9]), (300, 0): _cell([300], [5]),
                       (100, 0): _cell([100] * 4, [1, 2, 3, 4]), (10, 0): _cell([10] * 100, list(range(100)))}}
    plan = phase2_plan(hist, 0.5)["korean"]  # total 2700 -> budget 1350
    rules = plan["rules"]
    assert plan["budget"] == 1350
    assert rules[(500, 0)] == (None, 1.0) and rules[(300, 0)] == (None, 1.0)  # 1300 taken
    assert (100, 0) not in rules  # does not fit the remaining 50
    assert rules[(10, 0)] == (4, 1.0)  # 5 of 100 short copies: the 5 smallest hashes, exactly
    assert plan["planned"] == 1350
    assert [selected(rules[(10, 0)], key) for key in (0, 4, 5)] == [True, True, False]


def test_a_partial_cell_of_two_long_copies_takes_exactly_one():
    plan = phase2_plan({"code": {(1000, 0): _cell([1000, 1000], [11, 99]),
                                 (1, 0): _cell([1] * 1000, list(range(1000)))}}, 0.5)["code"]
    assert plan["rules"][(1000, 0)] == (11, 1.0)  # one of the two, the one with the smaller hash


def test_copies_of_different_lengths_in_one_cost_class_fill_the_budget_exactly():
    # 1000..1003 share a class; the smallest hashes go while their exact costs fit: 1003 + 1000.
    assert {cost_class(c) for c in (1000, 1001, 1002, 1003)} == {1000}
    hist = {"korean": {(1000, 0): _cell([1003, 1000, 1002, 1001], [1, 2, 3, 4]), (1, 0): _cell([1] * 2, [0, 1])}}
    plan = phase2_plan(hist, 0.5)["korean"]  # total 4008 -> budget 2004
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


def _unit(name: str, length: int, writer: StoreWriter) -> PackUnit:
    ids = np.arange(100, 100 + length - 1)  # + EOT = length
    return PackUnit(sum(map(ord, name)), Segment(name, 0, 0, writer.put_tokens(ids), length - 1))  # key: ties by name


def test_best_fit_places_each_unit_whole_into_the_row_with_least_room_and_pads_the_rest(tmp_path):
    writer = StoreWriter(tmp_path)
    units = [_unit(n, size, writer) for n, size in (("a", 6), ("b", 5), ("c", 4), ("d", 3), ("e", 2), ("f", 2))]
    writer.close()
    packer = BestFitRows(8, max_open_rows=16)
    plans = [plan for unit in sorted(units, key=pack_order) for plan in packer.add(unit)] + list(packer.finish())
    # decreasing: a(6) opens row 1, b(5) row 2, c(4) row 3; d(3) fits b's row (room 3) exactly;
    # e(2) fits a's row (room 2) exactly; f(2) goes to c's row (room 4, the only one left).
    assert sorted(p.seg_doc_ids for p in plans) == [("a", "e"), ("b", "d"), ("c", "f", "")]
    padded = next(p for p in plans if p.padding)
    assert padded.padding == 2 and padded.seg_starts == (0, 4, 6)
    assert padded.seg_buckets[-1] == PAD_BUCKET and padded.seg_fim[-1] == 0
    row = materialize(padded, StoreReader(tmp_path), SPECIAL, 8)
    assert row.tokens.tolist() == [100, 101, 102, 0, 100, 0, 4, 4]  # c + EOT, f + EOT, two <|fim_pad|>


def test_best_fit_with_a_bound_on_open_rows_closes_the_fullest_and_still_never_cuts_a_unit(tmp_path):
    writer = StoreWriter(tmp_path)
    units = [_unit(f"u{i}", size, writer) for i, size in enumerate((7, 6, 5, 4, 3, 2, 1, 1))]
    writer.close()
    packer = BestFitRows(8, max_open_rows=2)
    plans = [plan for unit in sorted(units, key=pack_order) for plan in packer.add(unit)] + list(packer.finish())
    ids = [d for p in plans for d in p.seg_doc_ids if d]
    assert sorted(ids) == sorted(u.segment.doc_id for u in units)  # every unit exactly once
    first = plans[0]  # u0 (7), u1 (6), u2 (5): the third open row closes the fullest, u0's
    assert first.seg_doc_ids == ("u0", "") and first.padding == 1
    reader = StoreReader(tmp_path)
    assert all(materialize(p, reader, SPECIAL, 8).tokens.shape == (8,) for p in plans)


def test_a_unit_longer_than_a_row_is_refused(tmp_path):
    writer = StoreWriter(tmp_path)
    unit = _unit("long", 9, writer)
    writer.close()
    with pytest.raises(ValueError, match="9 tokens, rows hold 8"):
        list(BestFitRows(8, 4).add(unit))


@pytest.mark.parametrize("max_open_rows", [1 << 14, 256])
def test_best_fit_pads_under_one_percent_of_rows_of_web_like_lengths_where_next_fit_pads_far_more(max_open_rows):
    """Ding et al. 2024's claim, on 20,000 lognormal lengths (median ~600 tokens, as web text) cut
    at row length as the build cuts them, with all ~6,000 rows open or only 256 (windowed); the
    peer is next fit (a new row whenever a unit does not fit the current one)."""
    rng = np.random.default_rng(0)
    seq_len = 4096
    sizes = [size for n in rng.lognormal(6.4, 1.2, 20_000).astype(int) + 2
             for size in (min(seq_len, n - k) for k in range(0, n, seq_len))]
    units = [PackUnit(int(rng.integers(1 << 62)), Segment(f"d{i}", 0, 0, b"", size - 1)) for i, size in enumerate(sizes)]
    rows = list(pack_group(units, seq_len, max_open_rows))
    best_fit = sum(r.padding for r in rows) / (len(rows) * seq_len)
    next_fit_rows, fill = 1, 0
    for size in sizes:
        if fill + size > seq_len:
            next_fit_rows, fill = next_fit_rows + 1, 0
        fill += size
    next_fit = 1 - sum(sizes) / (next_fit_rows * seq_len)
    assert sum(len(r.pieces) for r in rows) == len(units)
    assert best_fit < 0.01 and next_fit > 10 * best_fit
    assert list(pack_group(reversed(units), seq_len, max_open_rows)) == rows  # arrival order does not matter
