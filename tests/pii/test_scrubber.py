"""The scrubber as a whole: several spans, overlaps, idempotence, determinism, offline operation,
code that stays valid, and the library API."""
from __future__ import annotations

import ast
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pii
from pii.eval_data import CODE_DECOYS, DECOYS_EN, DECOYS_KO, generate
from pii.placeholders import PLACEHOLDERS, placeholder
from pii.recognizers import LANGUAGE_INDEPENDENT, network
from pii.recognizers.phone import InternationalPhoneRecognizer
from pii.scrubber import Finding, Scrubber, resolve_overlaps


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber()


def test_text_with_several_pii_spans_gets_each_typed_placeholder(scrubber):
    text = ("홍길동(주민등록번호 900101-1234568)의 연락처는 010-1234-5678, 메일 hong@example.co.kr, "
            "주소 서울특별시 중구 세종대로 110입니다. 카드 4111 1111 1111 1111.")
    result = scrubber.scrub(text, "ko", "korean")
    assert result.text == ("홍길동(주민등록번호 <|pii:rrn|>)의 연락처는 <|pii:phone|>, 메일 <|pii:email|>, "
                           "주소 <|pii:street_address|>입니다. 카드 <|pii:credit_card|>.")
    assert result.counts() == {"email": 1, "phone": 1, "rrn": 1, "credit_card": 1, "street_address": 1}
    assert [text[f.start:f.end] for f in result.findings] == [
        "900101-1234568", "010-1234-5678", "hong@example.co.kr", "서울특별시 중구 세종대로 110", "4111 1111 1111 1111"]


def test_overlapping_findings_resolve_to_the_longest_span():
    short = Finding("phone", 10, 23, 1.0, "kr_mobile")
    longer = Finding("bank_account", 8, 23, 0.55, "account_grouped")
    inside = Finding("ip_address", 30, 37, 0.6, "ipv4")
    outer = Finding("secret", 28, 40, 0.8, "quoted_assignment")
    assert resolve_overlaps([short, inside, longer, outer]) == [longer, outer]
    # equal spans: higher score wins, whatever the input order
    a, b = Finding("driver_license", 0, 15, 0.95, "licence"), Finding("bank_account", 0, 15, 0.55, "account_grouped")
    assert resolve_overlaps([a, b]) == resolve_overlaps([b, a]) == [a]


def test_url_password_wins_over_the_email_shaped_userinfo(scrubber):
    result = scrubber.scrub("DSN=postgres://admin:s3cr3t@db.example.com/app")
    assert result.text == "DSN=postgres://admin:<|pii:secret|>@db.example.com/app"


FRAGMENTS = [
    "010-1234-5678", "900101-1234568", "hong@example.co.kr", "4111-1111-1111-1111", "M123A4567",
    "220-81-62517", "8.8.4.4", "2001:4860:4860::8888", "서울특별시 중구 세종대로 110", "+82 10 1234 5678",
    'password = "hunter2!"', "AKIAIOSFODNN7EXAMPLE", "계좌 110-123-456789", "주민번호 9001011234568",
    *DECOYS_KO, *DECOYS_EN, *CODE_DECOYS,
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6),
       st.sampled_from([" ", "\n", "", "에서 ", ", "]), st.sampled_from([None, "korean", "code"]))
def test_scrubbing_is_idempotent(scrubber, pieces, glue, bucket):
    once = scrubber.scrub(glue.join(pieces), None, bucket)
    twice = scrubber.scrub(once.text, None, bucket)
    assert twice.text == once.text
    assert twice.findings == ()


def test_generated_documents_are_idempotent_and_keep_no_labelled_value(scrubber):
    for doc in generate(120, seed=7):
        result = scrubber.scrub(doc.text, doc.lang, doc.bucket)
        assert scrubber.scrub(result.text, doc.lang, doc.bucket).text == result.text
        for span in doc.spans:
            assert doc.text[span.start:span.end] not in result.text


def test_findings_record_offsets_and_type_but_never_the_value(scrubber):
    result = scrubber.scrub("전화 010-1234-5678")
    (finding,) = result.findings
    assert finding.to_json() == {"type": "phone", "start": 3, "end": 16, "score": 1.0, "rule": "kr_mobile"}
    assert "5678" not in repr(finding.to_json())


def test_scrubbing_is_deterministic_across_instances():
    docs = generate(60, seed=3)
    first = [Scrubber().scrub(d.text, d.lang, d.bucket) for d in docs]
    second = [Scrubber().scrub(d.text, d.lang, d.bucket) for d in docs]
    assert first == second


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during PII scrubbing")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_scrubbing_works_offline_with_the_bundled_suffix_list(no_network, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no suffix-list cache from earlier runs to fall back on
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    network.offline_suffix_extractor.cache_clear()
    try:
        result = Scrubber().scrub("메일 kim@snu.ac.kr, user@mail.example.museum, not@an.invalidtld")
    finally:
        network.offline_suffix_extractor.cache_clear()
    assert result.text == "메일 <|pii:email|>, <|pii:email|>, not@an.invalidtld"
    assert not any(tmp_path.rglob("*"))  # nothing written to a cache either


def test_scrubbed_python_stays_valid_python(scrubber):
    code = (
        "import os\n\n"
        'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"\n'
        "DB = {'host': 'db.example.com', 'password': 'Tr0ub4dor&3'}\n"
        "URL = 'mysql://root:hunter22@10.0.0.5:3306/app'\n"
        "ADMINS = ['kim@example.com']  # ask 010-1234-5678\n"
        'SERVER = "121.134.5.77"\n'
        "MAX = 2147483647\n"
    )
    result = scrubber.scrub(code, "python", "code")
    ast.parse(result.text)
    assert result.counts() == {"email": 1, "phone": 1, "ip_address": 1, "secret": 3}
    assert "MAX = 2147483647" in result.text


def test_library_api_scrub_uses_every_type():
    result = pii.scrub("연락처 010-1234-5678", lang="ko", bucket="korean")
    assert isinstance(result, pii.ScrubResult)
    assert result.text == "연락처 " + placeholder("phone")


def test_placeholders_in_input_are_left_as_they_are(scrubber):
    text = " ".join(PLACEHOLDERS) + ' password = "<|pii:secret|>"'
    assert scrubber.scrub(text).text == text


def test_scrubber_limited_to_some_types_ignores_the_others():
    result = Scrubber(["email"]).scrub("a@example.com 010-1234-5678")
    assert result.text == "<|pii:email|> 010-1234-5678"
    with pytest.raises(ValueError, match="unknown PII types"):
        Scrubber(["emails"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS + list(PLACEHOLDERS)), min_size=1, max_size=6),
       st.sampled_from([" ", "\n", "", "에서 "]))
def test_spans_index_exactly_the_placeholders_this_scrub_wrote(scrubber, pieces, glue):
    text = glue.join(pieces)
    result = scrubber.scrub(text)
    assert len(result.spans) == len(result.findings)
    for span, finding in zip(result.spans, result.findings):
        assert span.type == finding.type
        assert result.text[span.start:span.start + span.length] == placeholder(span.type)
    # every other placeholder in the output was typed in the input and is not a span
    written = {span.start for span in result.spans}
    typed = [i for i in range(len(result.text)) if result.text.startswith("<|pii:", i) and i not in written]
    assert len(typed) == sum(text.count(p) for p in PLACEHOLDERS)


def test_a_placeholder_typed_in_the_input_is_not_a_span(scrubber):
    result = scrubber.scrub("<|pii:email|> 그리고 kim@example.com")
    assert result.text == "<|pii:email|> 그리고 <|pii:email|>"
    assert [(s.start, s.length, s.type) for s in result.spans] == [(18, 13, "email")]


def test_windows_around_trigger_hits_find_what_a_whole_text_scan_finds(monkeypatch):
    from tests.conftest import read_sample
    from tests.pii.formats_set import documents

    items = [(d.text, d.lang, d.bucket) for d in generate(200, seed=9)]
    items += [(d.doc.text, d.doc.lang, d.doc.bucket) for d in documents()]
    items += [(r["text"], "ko", "korean") for r in read_sample("ko", 150)]
    windowed = [Scrubber().find(*item) for item in items]
    for cls in LANGUAGE_INDEPENDENT + (InternationalPhoneRecognizer,):
        monkeypatch.setattr(cls, "WINDOW", None)
    assert [Scrubber().find(*item) for item in items] == windowed


def test_the_scrubbers_fast_path_finds_what_presidios_analyze_finds():
    def resolved(results):  # Presidio drops duplicate and contained spans; the scrubber's overlap rule does too
        return [(f.start, f.end, f.score) for f in resolve_overlaps(Finding("phone", s, e, score, "") for s, e, score in results)]

    for doc in generate(120, seed=13):
        for recognizer in Scrubber().recognizers(doc.lang, doc.bucket):
            via_presidio = [(r.start, r.end, r.score) for r in recognizer.analyze(doc.text, [recognizer.PII_TYPE])]
            fast = [(m.start, m.end, m.score) for m in recognizer.matches(doc.text)]
            assert resolved(fast) == resolved(via_presidio)
