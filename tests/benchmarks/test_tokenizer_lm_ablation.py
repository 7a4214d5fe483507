import numpy as np
import pytest

from benchmarks import tokenizer_lm_ablation as ablation


def test_equal_bytes_gives_every_bucket_the_same_utf8_bytes_cut_at_a_character():
    texts = {"korean": ["가나다라" * 10, "마바사" * 10], "code": ["x = 1\n" * 100]}
    out = ablation.equal_bytes(texts, budget=100)
    sizes = {bucket: sum(len(t.encode("utf-8")) for t in docs) for bucket, docs in out.items()}
    assert sizes["code"] == 50 and 48 <= sizes["korean"] <= 50  # a Hangul syllable is 3 bytes
    assert out["korean"] == ["가나다라" * 4]  # the first document, cut on a syllable (48 of 50 bytes)


def test_token_stream_prefixes_each_document_and_refuses_a_lossy_tokenizer():
    lengths = np.array([0, 1, 1, 1], dtype=np.int64)  # id 0 is <|endoftext|>; ids 1-3 one byte each
    variant = ablation.Variant("bytes", 4, lambda text: [1 + (ord(c) % 3) for c in text], lengths, eos=0)
    ids, byte_counts = ablation.token_stream(variant, ["ab", "c"])
    assert ids.tolist()[0] == 0 and ids.tolist()[3] == 0 and byte_counts.tolist() == [0, 1, 1, 0, 1]
    lossy = ablation.Variant("lossy", 4, lambda text: [1], lengths, eos=0)
    with pytest.raises(AssertionError, match="cover 1 bytes of a 2-byte document"):
        ablation.token_stream(lossy, ["ab"])


@pytest.mark.parametrize("tag, expected", [("JKS", "particle/ending"), ("EF", "particle/ending"), ("NNG", "stem"),
                                           ("VV", "stem"), ("XSV", "affix"), ("VV+EP", "fused"), ("SF", "other")])
def test_morpheme_classes_follow_mecab_ko_dic_tags(tag, expected):
    assert ablation._morpheme_class(tag) == expected


def test_every_byte_of_korean_text_gets_a_class():
    text = "철수가 학교에 갔다."
    classes = ablation.morpheme_byte_classes([text])
    assert len(classes) == len(text.encode("utf-8"))
    assert ablation.CLASSES[classes[len("철수".encode())]] == "particle/ending"  # 가
