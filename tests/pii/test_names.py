"""Names next to PII: a name marked by a role word in the clause of an account, registration
number or phone is scrubbed (MeCab-ko-dic person names, and full names it has no entry for);
a name alone, a role word before an ordinary noun, or a name in another sentence is not."""
from __future__ import annotations

import pytest

from corpus.placeholders import PII_TYPES
from pii.scrubber import Scrubber


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber()


NAMED = [
    ("예금주 정하윤, 국민은행 123401-04-567890", "정하윤"),
    ("환불은 신한 110-482-913745 (예금주: 오승민)으로", "오승민"),
    ("성명: 김서윤\n주민등록번호: 880514-2135201", "김서윤"),  # a form's lines are one clause
    ("담당자 서지원 대리 (02-2100-3456)", "서지원"),
    ("수신인 박지훈님 010-6543-2109", "박지훈"),
    ("이름은 최영수입니다. 연락처 010-1234-5678", None),  # another sentence
    ("이름: 남궁민수 / 휴대폰 010-1234-5678", "남궁민수"),  # a two-syllable surname
    ("예금주 홍길동 계좌 110-123-456789", "홍길동"),  # MeCab reads it as a compound noun
    ("예금주 박하은, 계좌 110-123-456789", "박하은"),  # MeCab reads a verb form
    ("예금주 최수빈님 계좌 110-123-456789", "최수빈"),  # MeCab reads prefix + noun
    ("주민번호 900101-1234568 성명 이서연", "이서연"),  # the identifier comes first
    ("예금주 조예준 계좌 110-123-456789", "조예준"),  # MeCab reads a noun and a verb stem
]


@pytest.mark.parametrize("text,name", NAMED)
def test_a_name_a_role_word_marks_next_to_an_identifier_is_scrubbed(scrubber, text, name):
    names = [text[f.start:f.end] for f in scrubber.find(text, "ko", "korean") if f.type == "person"]
    assert names == ([name] if name else [])


NOT_NAMES = [
    "예금주 본인 명의 계좌 110-123-456789", "예금주: 주식회사 한빛 110-123-456789", "담당자 변경 안내: 02-123-4567",
    "성명서를 발표했다. 문의 010-1234-5678", "성명 정리한 문서 010-1234-5678", "성명 미상, 연락처 010-1234-5678", "수신인 주소 확인 010-1234-5678",
    "예금주 변호사 사무실 110-123-456789", "성명 기재란에 주민번호 900101-1234568", "이름 변경시 010-1234-5678",
    "담당자 부재중 010-1234-5678", "성명 정자로 010-1234-5678",
    "담당자 김민지 대리가 발표했다.",  # a name with a role word but no identifier
    "김민지 씨의 연락처는 010-1234-5678",  # an identifier but no role word
]


@pytest.mark.parametrize("text", NOT_NAMES)
def test_role_words_before_other_words_and_names_without_identifiers_stay(scrubber, text):
    assert [f for f in scrubber.find(text, "ko", "korean") if f.type == "person"] == []


def test_an_identifier_scrubbed_upstream_still_anchors_its_holders_name(scrubber):
    assert scrubber.scrub("예금주 정하윤 <|pii:bank_account|>").text == "예금주 <|pii:person|> <|pii:bank_account|>"


def test_names_are_off_when_person_is_not_among_the_types():
    without = Scrubber([t for t in PII_TYPES if t != "person"])
    assert without.scrub("예금주 정하윤, 계좌 110-482-913745").text == "예금주 정하윤, 계좌 <|pii:bank_account|>"
