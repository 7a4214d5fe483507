"""PII placeholders become their reserved ids (COORD interface 1): the build reads curate's
``pii_spans`` and encodes each span as the id of ``<|pii:TYPE|>``, everything else as ordinary
text, so no placeholder decodes from ordinary tokens of a PII-dense corpus, while a literal
placeholder typed in a document (no span) stays ordinary tokens. Curated files with and without the
column build together; spans that do not match their text skip the document with a reason."""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.document import CODE, KOREAN, MULTILINGUAL
from corpus.placeholders import PLACEHOLDERS, placeholder
from corpus.shards import FIM_NONE
from corpus.tokenizer.specials import NUM_SPECIAL_TOKENS
from mixtures.fim import EOT
from mixtures.tokenize import PII_SPANS, SpanError, encode_with_spans, reserved_spans
from tests.conftest import read_sample
from tests.mixtures.conftest import build, document_segments, write_curated

SPAN_TYPE = pa.list_(pa.struct([("start", pa.int32()), ("length", pa.int32()), ("type", pa.string())]))
TYPES = ("email", "phone", "rrn", "credit_card", "ip_address", "secret", "street_address")
LITERAL = {"id": "typed-placeholder", "text": "메일은 <|pii:email|> 로 보내세요. Not a boundary: <|endoftext|> end."}
BAD_SPAN = "bad-span"
CONFIG = {"fim": {"rate": {KOREAN: 0.5, CODE: 0.5}}, "context_phases": {"phase1_seq_len": 1024, "phase2_seq_len": 4096}}


def with_placeholders(text: str, every: int = 5) -> tuple[str, list[dict]]:
    """``text`` with every ``every``-th word replaced by a placeholder, as curate's scrubber writes
    them, and the spans it records (code points of the new text)."""
    out, spans, pos, n = [], [], 0, 0
    for k, match in enumerate(re.finditer(r"\S+", text)):
        out.append(text[pos:match.start()])
        n += match.start() - pos
        if k % every == every - 1:
            token = placeholder(TYPES[k % len(TYPES)])
            spans.append({"start": n, "length": len(token), "type": TYPES[k % len(TYPES)]})
            out.append(token)
            n += len(token)
        else:
            out.append(match.group())
            n += len(match.group())
        pos = match.end()
    out.append(text[pos:])
    return "".join(out), spans


@pytest.fixture(scope="module")
def records():
    recs, spans = {}, {}
    for bucket, name, count in ((KOREAN, "ko", 30), (MULTILINGUAL, "multi", 10), (CODE, "code", 30)):
        recs[bucket] = []
        for k, r in enumerate(read_sample(name, count)):
            # Mostly documents that fit a row, a few cut; multilingual, the smallest bucket, is kept whole.
            source = r["text"] if k < 5 and bucket != MULTILINGUAL else r["text"][:2000]
            text, doc_spans = with_placeholders(source) if bucket != MULTILINGUAL else (source, [])
            recs[bucket].append({"id": r["id"], "text": text})
            spans[r["id"]] = doc_spans
    recs[MULTILINGUAL].append(LITERAL)  # in the file without the column
    spans[LITERAL["id"]] = []
    bad_text, bad_spans = with_placeholders(read_sample("ko", 31)[-1]["text"])
    bad_spans[0]["start"] += 1  # off by one: does not cover its placeholder
    recs[KOREAN].append({"id": BAD_SPAN, "text": bad_text})
    spans[BAD_SPAN] = bad_spans
    return recs, spans


@pytest.fixture(scope="module")
def pii_build(tmp_path_factory, tokenizer_dir, records):
    from corpus.tokenizer import load

    recs, spans = records
    root = tmp_path_factory.mktemp("pii_spans")
    curated = write_curated(root / "curated", recs)
    for bucket in recs:
        path = curated / bucket / "part-00000.parquet"
        table = pq.read_table(path)
        if bucket == MULTILINGUAL:  # a file without the column, as an older curate run wrote
            table = table.drop_columns([PII_SPANS])
        else:
            column = pa.array([spans[i] for i in table.column("id").to_pylist()], SPAN_TYPE)
            table = table.set_column(table.schema.get_field_index(PII_SPANS), PII_SPANS, column)
        pq.write_table(table, path)
    manifest = build(curated, tokenizer_dir, root / "corpus", CONFIG)
    return manifest, root / "corpus", load(tokenizer_dir)


def _ordinary_runs(ids: list[int]) -> list[list[int]]:
    runs, run = [], []
    for i in ids:
        if i < NUM_SPECIAL_TOKENS:
            runs.append(run)
            run = []
        else:
            run.append(i)
    return [*runs, run]


def test_recorded_spans_are_reserved_ids_in_the_shards_and_no_placeholder_decodes_from_ordinary_tokens(pii_build,
                                                                                                       records):
    manifest, corpus, tok = pii_build
    recs, spans = records
    texts = {r["id"]: r["text"] for bucket in recs.values() for r in bucket}
    pii_ids = {tok.special_tokens[p] for p in PLACEHOLDERS}
    reserved = whole = 0
    for seq_len, doc_id, fim, ids in document_segments(manifest, corpus):
        if doc_id == LITERAL["id"]:
            continue
        assert not any("<|pii:" in tok.decode(run) for run in _ordinary_runs(ids)), doc_id
        count = sum(1 for i in ids if i in pii_ids)
        reserved += count
        if spans.get(doc_id) and fim == FIM_NONE and tok.decode(ids[:-1]) == texts[doc_id]:
            assert count == len(spans[doc_id])  # a whole document: each of its spans is one reserved id
            whole += 1
    assert reserved > 500 and whole >= 10


def test_span_encoding_equals_the_tokenizers_own_special_token_encoding(pii_build, records):
    manifest, corpus, tok = pii_build
    recs, spans = records
    texts = {r["id"]: r["text"] for bucket in recs.values() for r in bucket}
    checked = 0
    for seq_len, doc_id, fim, ids in document_segments(manifest, corpus):
        text = texts.get(doc_id)
        if fim == FIM_NONE and text and spans[doc_id] and ids[-1] == tok.special_tokens[EOT]:
            expected = tok.encode(text, allow_special=True)  # every placeholder here is a span
            if len(expected) + 1 <= seq_len:
                assert ids[:-1] == expected, doc_id
                checked += 1
    assert checked >= 10


def test_a_literal_placeholder_curate_did_not_record_stays_ordinary_tokens(pii_build):
    manifest, corpus, tok = pii_build
    specials = set(range(NUM_SPECIAL_TOKENS)) - {tok.special_tokens[EOT]}
    found = 0
    for _, doc_id, fim, ids in document_segments(manifest, corpus):
        if doc_id == LITERAL["id"] and fim == FIM_NONE:
            assert not specials & set(ids) and ids.count(tok.special_tokens[EOT]) == 1
            assert tok.decode(ids[:-1]) == LITERAL["text"]  # "<|pii:email|>" and "<|endoftext|>" as typed
            found += 1
    assert found >= 1


def test_spans_that_do_not_match_their_text_skip_the_document_with_a_reason(pii_build):
    manifest, _, _ = pii_build
    assert manifest.provenance["skipped_documents"] == {"pii_spans:not_placeholder": 1}
    special = {"<|pii:email|>": 20}
    text = "a <|pii:email|> b"
    assert reserved_spans(text, [(2, 13, "email")], special) == ((2, 13, 20),)
    with pytest.raises(SpanError, match="pii_spans:unknown_type"):
        reserved_spans(text, [(2, 13, "phone")], special)
    with pytest.raises(SpanError, match="pii_spans:overlap"):
        reserved_spans(text, [(2, 13, "email"), (3, 13, "email")], special)
    with pytest.raises(SpanError, match="pii_spans:not_placeholder"):
        reserved_spans(text, [(1, 13, "email")], special)
    with pytest.raises(SpanError, match="pii_spans:null"):
        reserved_spans(text, [(None, 13, "email")], special)


def test_encoding_with_spans_keeps_the_text_around_them_ordinary(tokenizer_dir):
    from corpus.tokenizer import load

    tok = load(tokenizer_dir)
    email = tok.special_tokens["<|pii:email|>"]
    text = "write to <|pii:email|> or <|pii:email|>"
    ids = encode_with_spans(tok, [(text, [(9, 13, email)])])[0]  # only the first is curate's
    assert ids.count(email) == 1 and tok.decode(ids) == text
    assert ids[:ids.index(email)] == tok.encode("write to ")
