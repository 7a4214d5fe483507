"""Best-fit packing, checked the way a trainer reads rows: every document that fits a row lies
whole in one row, a longer one is cut only at row length, every FIM segment holds its three
sentinels and its <|endoftext|> in its own row, padding is one trailing <|fim_pad|> segment, and
the manifest's packing figures equal what the rows show."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from corpus.document import BUCKET_IDS, CODE, KOREAN
from corpus.shards import FIM_NONE, FIM_PSM, FIM_SPM, PAD_BUCKET, PhaseReader
from mixtures.fim import EOT, MIDDLE, PAD, PREFIX, SUFFIX
from tests.mixtures.conftest import build, write_curated

# FIM on code and Korean, none on multilingual (whose 100k-character documents are cut at row length).
CONFIG = {"fim": {"rate": {KOREAN: 0.3, CODE: 0.5}}}  # production seq_len 4,096 / 32,768


@pytest.fixture(scope="module")
def packed(tmp_path_factory, tokenizer_dir, small_records):
    from corpus.tokenizer import load

    root = tmp_path_factory.mktemp("packing")
    manifest = build(write_curated(root / "curated", small_records), tokenizer_dir, root / "corpus", CONFIG)
    return manifest, root / "corpus", load(tokenizer_dir)


def _segments(corpus, phase):
    """(row index, doc id, bucket, fim mode, tokens) of every segment of every row."""
    reader = PhaseReader(corpus, phase.name)
    for index in range(len(reader)):
        row = reader.row(index)
        assert row.tokens.shape == (phase.seq_len,)
        ends = [*row.seg_starts[1:].tolist(), phase.seq_len]
        for doc_id, start, end, bucket, fim in zip(row.seg_doc_ids, row.seg_starts.tolist(), ends,
                                                   row.seg_buckets.tolist(), row.seg_fim.tolist()):
            yield index, doc_id, bucket, fim, row.tokens[start:end]


def _has_its_sentinels(ids: list[int], fim: int, special: dict[str, int]) -> bool:
    pre, suf, mid, eot = (special[t] for t in (PREFIX, SUFFIX, MIDDLE, EOT))
    if ids[-1] != eot or [ids.count(t) for t in (pre, suf, mid)] != [1, 1, 1]:
        return False
    if fim == FIM_PSM:
        return ids[0] == pre and ids.index(suf) < ids.index(mid)
    return fim == FIM_SPM and ids[:2] == [pre, suf]


def test_no_fim_segment_lacks_a_sentinel_in_its_row_and_the_manifest_counts_none_split(packed):
    manifest, corpus, tok = packed
    checked = 0
    for phase in manifest.phases:
        for _, doc_id, _, fim, ids in _segments(corpus, phase):
            if fim != FIM_NONE:
                assert _has_its_sentinels(ids.tolist(), fim, tok.special_tokens), doc_id
                checked += 1
        packing = phase.stats["packing"]
        assert packing["fim_segments_split"] == 0
        assert packing["fim_segments"] == phase.fim["psm"] + phase.fim["spm"]
    assert checked == sum(s.stats["packing"]["fim_segments"] for s in manifest.phases) >= 50


def test_padding_is_one_trailing_fim_pad_segment_and_the_manifest_fraction_is_what_the_rows_hold(packed):
    manifest, corpus, tok = packed
    pad = tok.special_tokens[PAD]
    for phase in manifest.phases:
        reader = PhaseReader(corpus, phase.name)
        padding = 0
        for index in range(len(reader)):
            row = reader.row(index)
            buckets = row.seg_buckets.tolist()
            assert PAD_BUCKET not in buckets[:-1]
            if buckets[-1] == PAD_BUCKET:
                start = int(row.seg_starts[-1])
                assert row.seg_doc_ids[-1] == "" and row.seg_fim[-1] == 0
                assert (row.tokens[start:] == pad).all() and start > 0
                padding += phase.seq_len - start
            else:
                assert row.tokens[-1] == tok.special_tokens[EOT] or len(buckets) == 1  # full, or a long document's piece
        packing = phase.stats["packing"]
        assert packing["padding_tokens"] == padding
        assert packing["padding_fraction"] == pytest.approx(padding / (phase.rows * phase.seq_len))
        assert packing["rows"] == phase.rows
        assert phase.rows * phase.seq_len == sum(phase.tokens_per_bucket.values()) + padding


def test_a_document_that_fits_a_row_is_never_split_and_a_longer_one_is_cut_only_at_row_length(packed,
                                                                                               small_records):
    manifest, corpus, tok = packed
    eot = tok.special_tokens[EOT]
    texts = {r["id"]: r["text"] for recs in small_records.values() for r in recs}
    encoded = {doc_id: tok.encode(text) for doc_id, text in texts.items()}
    split = {}
    for phase in manifest.phases:
        seq_len = phase.seq_len
        long_copies: Counter[str] = Counter()
        for _, doc_id, bucket, fim, ids in _segments(corpus, phase):
            if bucket == PAD_BUCKET:
                continue
            base = doc_id if doc_id in encoded else doc_id.rsplit("#", 1)[0]  # ids may hold "#" themselves
            full = encoded[base]
            if len(full) + 1 <= seq_len:  # fits: the whole document, with its EOT, in this row
                assert doc_id == base and ids[-1] == eot
                if fim == FIM_NONE:
                    assert ids[:-1].tolist() == full
            elif doc_id != base:  # a FIM-bucket document's chunk: its own segment, with its own EOT
                assert ids[-1] == eot and bucket != BUCKET_IDS["multilingual"]
                long_copies[base] += doc_id.endswith("#0")
            else:  # no FIM: row-length pieces, slices of the document's ids at multiples of seq_len
                closed = ids[-1] == eot
                body = ids[:-1].tolist() if closed else ids.tolist()
                assert closed or len(body) == seq_len
                start = len(full) - len(body) if closed else next(
                    k * seq_len for k in range(len(full) // seq_len) if full[k * seq_len:(k + 1) * seq_len] == body)
                assert start % seq_len == 0 and full[start:start + len(body)] == body, doc_id
                long_copies[base] += closed  # one closing piece per copy
        packing = phase.stats["packing"]
        assert packing["documents_split"] == sum(long_copies.values()), phase.name
        assert sum(packing["documents_split_per_bucket"].values()) == packing["documents_split"]
        split[phase.name] = packing["documents_split"]
    assert split["phase1_4k"] > 0


def test_packing_figures_are_printed_by_the_cli_summary(packed):
    from mixtures.build import summary_lines

    manifest, _, _ = packed
    lines = [line for line in summary_lines(manifest) if " packing: " in line]
    assert len(lines) == 2
    packing = manifest.phases[0].stats["packing"]
    assert f"padding {packing['padding_fraction']:.4%}" in lines[0]
    assert f"documents split {packing['documents_split']:,}" in lines[0] and "FIM segments split 0" in lines[0]
    assert np.isfinite(packing["padding_fraction"])
