"""The Hugging Face class shipped in a saved tokenizer directory gives the training ids.

One tokenizer is trained on the first 120 sample records of each bucket; parity is checked on records it
never saw (120-219), on text written here, and on hostile strings. ``encode`` (corpus.tokenizer) is the
reference: it is what the build wrote into the shards.
"""
from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys

import pytest
import tokenizers
import transformers
from transformers import AutoTokenizer

from corpus.tokenizer import SPECIAL_TOKENS, load, train
from corpus.tokenizer.hf_files import MODULE_FILE
from tests.conftest import read_sample

VOCAB = 3000

# Written for this test, not taken from any corpus: news, chat, honorifics, mixed scripts, numbers.
HELD_OUT = [
    "서울시는 오는 3월부터 지하철 2호선의 배차 간격을 줄이겠다고 밝혔다. 출근 시간대 혼잡도가 150%를 넘는 구간이 많기 때문이다.",
    "어제 산 운동화가 생각보다 작아서 교환하려고 했는데, 매장에서는 영수증이 없으면 안 된다고 하더라고요ㅠㅠ",
    "할머니께서 끓여 주신 된장찌개는 언제 먹어도 맛있습니다. 감자랑 애호박을 듬뿍 넣으셨어요!",
    "K-팝 아이돌 그룹의 월드투어가 LA, 뉴욕, 파리를 거쳐 12월 24일 서울에서 막을 내린다.",
    "회의록: 1) 예산안 검토 2) 다음 분기 채용 계획 3) 기타 안건 — 참석자 김철수, 이영희, 박민준",
    "The committee's 2024 report (pp. 17-23) didn't address the 12,345,678-won shortfall.",
    "Die Straßenbahn fährt um 7:45 Uhr ab; naïve café-goers wait at Königsplatz.",
    "東京の天気は晴れ、最高気温は２８度です。Москва — столица России. القاهرة مدينة كبيرة.",
    "def fib(n: int) -> int:\n    if n < 2:\n        return n  # 기저 사례\n    return fib(n - 1) + fib(n - 2)\n",
    "fn main() {\n\tlet v: Vec<u32> = (0..10).map(|x| x * x).collect();\n\tprintln!(\"{:?}\", v);\n}\n",
    "SELECT id, name FROM users WHERE created_at >= '2024-01-01' ORDER BY id DESC LIMIT 100;",
]

HOSTILE = {
    "empty": "",
    "every_special_token_literal": "".join(SPECIAL_TOKENS),
    "special_tokens_in_korean": "문서 끝<|endoftext|>다음 문서 <|fim_prefix|>앞<|fim_suffix|>뒤<|fim_middle|>",
    "pii_placeholder_typed_in_a_page": "연락처: <|pii:email|> 또는 <|pii:phone|>",
    "broken_special_token": "<|endoftext| <|endoftext|| <|fim_pad",
    "lone_combining_marks": "\u0301\u0308 a\u0301 \u20dd 가\u0301",
    "emoji_zwj_and_skin_tones": "👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 하트❤️ 🇰🇷",
    "whitespace_runs": "a  b   c\t\t\td\n\n\n  e \u3000\u00a0 f" + " " * 300 + "g\r\n\r\n" + "\n" * 200,
    "only_spaces": " " * 1000,
    "controls_and_nul": "".join(chr(c) for c in range(32)) + "\x7f\x85\u2028\u2029\x00",
    "nfd_and_compat_jamo": "\u1112\u1161\u11ab\u1100\u1173\u11af ㅋㅋㅋ\u3164ㅎㅎ",
    "long_hangul_run": "가나다라마바사" * 2000,
    "digits": "0123456789 ٣٤٥ ①②③ 1,000,000.00",
    "private_use_and_astral": "\ue000\U0010fffd\U0001f600",
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    texts = [r["text"] for name in ("ko", "multi", "code") for r in read_sample(name, 120)]
    return train(texts, VOCAB).save(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def ours(saved):
    return load(saved)


@pytest.fixture(scope="module")
def hf(saved):
    return AutoTokenizer.from_pretrained(saved, trust_remote_code=True)


@pytest.fixture(scope="module")
def unseen() -> list[str]:
    return [r["text"] for name in ("ko", "multi", "code") for r in read_sample(name, 220)[120:]]


def test_hf_ids_equal_training_ids_on_unseen_sample_documents_of_every_bucket(ours, hf, unseen):
    mismatched = [i for i, text in enumerate(unseen) if hf(text)["input_ids"] != ours.encode(text)]
    assert not mismatched, f"{len(mismatched)} of {len(unseen)} documents differ, first {mismatched[:5]}"
    assert hf.encode(unseen[0]) == ours.encode(unseen[0])


def test_hf_ids_equal_training_ids_on_held_out_text_written_for_the_test(ours, hf):
    for text in HELD_OUT:
        assert hf(text)["input_ids"] == ours.encode(text), text


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hf_ids_equal_training_ids_on_hostile_strings(ours, hf, name):
    text = HOSTILE[name]
    ids = ours.encode(text)
    assert hf(text)["input_ids"] == ids
    assert hf.decode(ids) == text


def test_literal_special_tokens_are_ordinary_bytes_by_default_and_reserved_ids_only_when_allowed(ours, hf):
    text = HOSTILE["special_tokens_in_korean"]
    by_default = hf(text)["input_ids"]
    assert by_default == ours.encode(text)
    assert not set(by_default) & set(ours.special_tokens.values())
    allowed = hf(text, split_special_tokens=False)["input_ids"]
    assert allowed == ours.encode(text, allow_special=True)
    assert ours.special_tokens["<|endoftext|>"] in allowed
    every = HOSTILE["every_special_token_literal"]
    assert hf(every, split_special_tokens=False)["input_ids"] == list(range(len(SPECIAL_TOKENS)))
    # Texts of several hundred characters between special tokens: the pre-tokenizer cuts them in rounds while
    # the matched special tokens keep their places in the backend's list of splits.
    long = "<|endoftext|>".join(t * 5 for t in HELD_OUT) + "<|fim_pad|>"
    assert hf(long, split_special_tokens=False)["input_ids"] == ours.encode(long, allow_special=True)
    assert hf(long)["input_ids"] == ours.encode(long)


def test_batch_encode_equals_single_encode_and_training_ids(ours, hf, unseen):
    texts = unseen[:40] + HELD_OUT + list(HOSTILE.values())
    expected = [ours.encode(t) for t in texts]
    assert hf(texts)["input_ids"] == expected
    assert hf.batch_decode(expected) == texts
    padded = hf(texts[:5], padding=True, return_tensors="pt")
    assert padded["input_ids"].shape[1] == max(len(ids) for ids in expected[:5])
    assert (padded["input_ids"][padded["attention_mask"] == 0] == hf.pad_token_id).all()


def test_decode_round_trips_and_equals_training_decode(ours, hf, unseen):
    for text in unseen[:60] + HELD_OUT:
        ids = ours.encode(text)
        assert hf.decode(ids) == ours.decode(ids) == text
    with_specials = ours.encode(HOSTILE["special_tokens_in_korean"], allow_special=True)
    assert hf.decode(with_specials) == ours.decode(with_specials)


def test_offsets_point_at_the_characters_of_each_token(hf):
    for text in HELD_OUT[:5] + [HOSTILE["emoji_zwj_and_skin_tones"], HOSTILE["whitespace_runs"]]:
        encoding = hf(text, return_offsets_mapping=True)
        offsets = encoding["offset_mapping"]
        assert all(0 <= start <= end <= len(text) for start, end in offsets)
        assert [start for start, _ in offsets] == sorted(start for start, _ in offsets)
        for token_id, (start, end) in zip(encoding["input_ids"], offsets):
            piece = hf.decode([token_id])
            if "\ufffd" not in piece:  # a token holding whole characters: its offsets are those characters
                assert text[start:end] == piece, (text, token_id, start, end)


def test_without_trust_remote_code_no_loader_gives_other_ids(saved):
    for refused in (None, False):  # transformers refuses the auto_map's code, asked or not
        with pytest.raises(ValueError, match="trust_remote_code=True"):
            AutoTokenizer.from_pretrained(saved, trust_remote_code=refused)
    # and the plain tokenizer.json does not load, whoever reads it
    with pytest.raises(Exception, match="untagged enum"):
        transformers.PreTrainedTokenizerFast(tokenizer_file=str(saved / "tokenizer.json"))
    with pytest.raises(Exception, match="untagged enum"):
        tokenizers.Tokenizer.from_file(str(saved / "tokenizer.json"))
    assert "trust_remote_code=True" in json.loads((saved / "tokenizer.json").read_text())["pre_tokenizer"]["note"]


def test_shipped_class_loads_without_korpus_on_the_path(saved, ours, tmp_path):
    script = ("import json, sys; from transformers import AutoTokenizer\n"
              "tok = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)\n"
              "assert not any(m == 'corpus' or m.startswith(('corpus.', 'pii')) for m in sys.modules), 'korpus imported'\n"
              "print(json.dumps([tok(t)['input_ids'] for t in json.loads(sys.argv[2])]))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_MODULES_CACHE": str(tmp_path / "hf")}
    texts = HELD_OUT[:4] + [HOSTILE["special_tokens_in_korean"]]
    result = subprocess.run([sys.executable, "-I", "-c", script, str(saved), json.dumps(texts)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == [ours.encode(t) for t in texts]


def test_save_pretrained_pickle_and_deepcopy_keep_the_training_ids(saved, ours, hf, tmp_path):
    text = HELD_OUT[0] + HOSTILE["special_tokens_in_korean"]
    hf.save_pretrained(tmp_path / "resaved")
    assert (tmp_path / "resaved" / "tokenizer.json").read_bytes() == (saved / "tokenizer.json").read_bytes()
    assert (tmp_path / "resaved" / MODULE_FILE).exists()
    assert load(tmp_path / "resaved").encode(text) == ours.encode(text)
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "resaved", trust_remote_code=True)
    for copy_ in (reloaded, pickle.loads(pickle.dumps(hf)), copy.deepcopy(hf)):
        assert copy_(text)["input_ids"] == ours.encode(text)
        assert copy_(text, split_special_tokens=False)["input_ids"] == ours.encode(text, allow_special=True)
