"""Every packed segment is lossless, read the way a trainer reads rows: a document that fits a row
is one segment that decodes to its text; a FIM segment's parts put back in order give its text; the
chunks of a long FIM-bucket document concatenate to the document (built at the production seq_len
with FIM on every bucket; ``test_packing.py`` checks the row-length pieces of buckets without FIM)."""
from __future__ import annotations

from collections import defaultdict

import pytest

from corpus.shards import FIM_NONE, FIM_PSM, FIM_SPM
from mixtures.fim import EOT, MIDDLE, PREFIX, SUFFIX
from tests.mixtures.conftest import document_segments


@pytest.fixture(scope="module")
def tok(tokenizer_dir):
    from corpus.tokenizer import load

    return load(tokenizer_dir)


@pytest.fixture(scope="module")
def texts(small_records) -> dict[str, str]:
    return {r["id"]: r["text"] for recs in small_records.values() for r in recs}


def _segments(default_build, eot: int):
    """(seq_len, doc id, fim mode, ids without a closing EOT, whether it closed with EOT) of every
    non-padding segment of every row."""
    for seq_len, doc_id, fim, ids in document_segments(*default_build):
        closed = ids[-1] == eot
        yield seq_len, doc_id, fim, ids[:-1] if closed else ids, closed


def _unfim(fim: int, ids: list[int], tok) -> str:
    special = tok.special_tokens
    pre, suf, mid = special[PREFIX], special[SUFFIX], special[MIDDLE]
    if fim == FIM_PSM:  # <PRE> prefix <SUF> suffix <MID> middle
        assert ids[0] == pre
        s, m = ids.index(suf), ids.index(mid)
        return tok.decode(ids[1:s]) + tok.decode(ids[m + 1:]) + tok.decode(ids[s + 1:m])
    assert fim == FIM_SPM and ids[:2] == [pre, suf]  # the paper's SPM variant: <PRE> <SUF> suffix <MID> prefix middle
    m = ids.index(mid)
    return tok.decode(ids[m + 1:]) + tok.decode(ids[2:m])


def test_a_plain_document_that_fits_a_row_is_one_segment_that_decodes_to_its_text(default_build, tok, texts):
    checked = 0
    for seq_len, doc_id, fim, ids, closed in _segments(default_build, tok.special_tokens[EOT]):
        if fim == FIM_NONE and doc_id in texts:
            assert closed and tok.decode(ids) == texts[doc_id], doc_id
            checked += 1
    assert checked >= 50


def test_fim_segments_reorder_to_their_text_and_long_documents_chunks_concatenate_to_it(default_build, tok, texts):
    chunk_texts: dict[str, set[str]] = defaultdict(set)
    checked = {FIM_PSM: 0, FIM_SPM: 0}
    for _, doc_id, fim, ids, closed in _segments(default_build, tok.special_tokens[EOT]):
        if doc_id in texts and fim == FIM_NONE:
            continue
        assert closed, doc_id  # FIM examples and FIM-bucket chunks end with their own EOT
        text = tok.decode(ids) if fim == FIM_NONE else _unfim(fim, ids, tok)
        if doc_id in texts:
            assert text == texts[doc_id], doc_id
        else:
            chunk_texts[doc_id].add(text)
        checked.get(fim) is not None and checked.__setitem__(fim, checked[fim] + 1)
    assert checked[FIM_PSM] >= 10 and checked[FIM_SPM] >= 10
    by_doc: dict[str, dict[int, str]] = defaultdict(dict)
    for chunk_id, variants in chunk_texts.items():
        assert len(variants) == 1, chunk_id  # every copy cuts a document the same way
        base, k = chunk_id.rsplit("#", 1)
        by_doc[base][int(k)] = variants.pop()
    assert by_doc, "expected long FIM-bucket documents cut into chunks"
    for base, chunks in by_doc.items():
        assert sorted(chunks) == list(range(len(chunks))), base
        assert "".join(chunks[k] for k in range(len(chunks))) == texts[base]


def test_fim_sentinels_never_come_from_document_text(default_build, tok):
    sentinels = {tok.special_tokens[t] for t in (PREFIX, SUFFIX, MIDDLE)}
    for _, _, fim, ids, _ in _segments(default_build, tok.special_tokens[EOT]):
        if fim == FIM_NONE:
            assert not sentinels & set(ids)
        else:
            assert sum(1 for i in ids if i in sentinels) == 3
