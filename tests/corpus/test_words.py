"""Filter words are datatrove's own tokenizers (the ones FineWeb-2 tuned on); shingling words stay MeCab."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from datatrove.utils.word_tokenizers import KiwiTokenizer, SpaCyTokenizer, load_word_tokenizer
from spacy.attrs import IS_PUNCT

from corpus.words import (
    DatatroveWords,
    RegexWordTokenizer,
    content_words,
    datatrove_tokenizer_name,
    filter_word_tokenizer,
    fineweb2_word_tokenizer,
    word_tokenizer,
)
from tests.conftest import read_sample

ROOT = Path(__file__).resolve().parents[2]


def test_korean_filter_words_are_datatroves_kiwi_skip_bigram_words_on_real_text():
    ours = filter_word_tokenizer("ko")
    reference = load_word_tokenizer("kor_Hang")  # what fineweb-2-pipeline.py's language=kor_Hang loads
    assert isinstance(reference, KiwiTokenizer) and reference.model_type == "sbg"
    assert isinstance(ours, DatatroveWords)
    records = sorted(read_sample("ko", 40), key=lambda r: len(r["text"]))[::10]  # short to long, 4 documents
    for record in records:
        assert ours.word_tokenize(record["text"]) == reference.word_tokenize(record["text"])


def test_korean_filter_words_keep_punctuation_and_overlap_where_mecab_words_do_not():
    text = "저는 학생입니다. (서울)"
    kiwi = filter_word_tokenizer("ko").word_tokenize(text)
    assert {".", "(", ")"} <= set(kiwi)
    assert "입" in kiwi and "입니다" in kiwi  # 이 + ㅂ니다 sliced from the text: overlapping tokens
    mecab = word_tokenizer("ko").word_tokenize(text)
    assert not {".", "(", ")"} & set(mecab)


def test_filter_words_use_the_fineweb2_name_not_the_iso_code():
    # datatrove maps the bare code "zh" to spaCy's multi-language tokenizer; FineWeb-2 split
    # cmn_Hani with spaCy's Chinese (jieba), and so do the filters.
    assert datatrove_tokenizer_name("zh") == "cmn_Hani"
    text = "这是一个用于测试的中文句子。"
    assert filter_word_tokenizer("zh").word_tokenize(text) == load_word_tokenizer("cmn_Hani").word_tokenize(text)
    assert datatrove_tokenizer_name("en") == "en"  # no FineWeb-2 config: datatrove's English default


def test_languages_whose_datatrove_tokenizer_is_not_pinned_fall_back_to_regex_words():
    assert datatrove_tokenizer_name("hi") is None  # IndicNLP
    assert datatrove_tokenizer_name("be") is None  # Stanza (downloaded models)
    assert datatrove_tokenizer_name("vi") is None  # spaCy's Vietnamese needs pyvi
    assert datatrove_tokenizer_name("") is None
    assert isinstance(filter_word_tokenizer("hi"), RegexWordTokenizer)


def test_content_words_drop_words_made_only_of_punctuation_like_datatroves_gopher_quality():
    assert content_words(["안녕", ".", "...", "(", "x-y", "--", "3"]) == ["안녕", "x-y", "3"]


def test_filter_words_are_tokenized_once_per_text_object():
    tokenizer = filter_word_tokenizer("ko")
    text = "".join(["캐시 확인 ", "문장입니다."])  # built at run time: not an interned constant
    assert tokenizer.word_tokenize(text) is tokenizer.word_tokenize(text)


@pytest.mark.parametrize("lang", ["de", "ru", "ja", "zh"])
def test_spacy_filter_words_sentences_and_spans_are_datatroves_without_the_unread_attributes(lang):
    # filter_word_tokenizer drops spaCy's lexeme attributes but is_punct (without_unread_lexeme_attributes);
    # datatrove's own instance keeps them all: both must split real text the same way.
    ours = filter_word_tokenizer(lang)
    reference = fineweb2_word_tokenizer(lang)
    assert isinstance(reference, SpaCyTokenizer)
    assert len(reference.tokenizer.vocab.lex_attr_getters) > 1
    assert list(ours._tokenizer.tokenizer.vocab.lex_attr_getters) == [IS_PUNCT]
    texts = [r["text"][:4000] for r in read_sample("multi", 120)[::6]]  # 20 documents, mixed languages
    texts.append("Er sagte: „Ja.“ Dann ging er. (Wirklich!) 1.000,5 km — http://example.org/x?y=1 e-mail@example.org")
    for text in texts:
        assert ours.word_tokenize(text) == reference.word_tokenize(text)
        assert ours.sent_tokenize(text) == reference.sent_tokenize(text)
        assert ours.span_tokenize(text) == reference.span_tokenize(text)


def test_spacy_filter_words_load_without_torch():
    # spaCy's thinc and Presidio's device detector (through spaCy's entry points) import torch
    # unless the pipeline is built inside corpus.optional_imports.without_ml_stacks.
    probe = ("import sys\n"
             "from corpus.words import filter_word_tokenizer\n"
             "assert filter_word_tokenizer('de').word_tokenize('Hallo Welt.') == ['Hallo', 'Welt', '.']\n"
             "import pii.recognizers.base\n"
             "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
             "import torch\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip().splitlines()[-1] == "[]"
