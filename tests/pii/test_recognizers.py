"""Per type: Korean and English sentences that must be scrubbed (several formats each), and the
false-positive guards that must not be."""
from __future__ import annotations

import pytest

from pii.recognizers.checks import rrn_checksum_ok
from pii.scrubber import Scrubber


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber()


def found(scrubber: Scrubber, text: str, lang: str | None = None, bucket: str | None = None) -> list[tuple[str, str]]:
    return [(f.type, text[f.start:f.end]) for f in scrubber.find(text, lang, bucket)]


POSITIVES = [
    # RRN: hyphenated pre-2020 (checksum ok) and post-2020 (checksum fails), bare with context
    ("rrn", "주민등록번호는 900101-1234568입니다.", "900101-1234568"),
    ("rrn", "본인 확인: 021231-4987654", "021231-4987654"),
    ("rrn", "주민번호 9001011234568 로 조회", "9001011234568"),
    ("rrn", "Her resident registration number is 851130-2345671.", "851130-2345671"),
    # FRN
    ("frn", "외국인등록번호 900101-5234566 확인", "900101-5234566"),
    ("frn", "Foreigner registration no. 120315-7123456.", "120315-7123456"),
    # Korean phones in every plan and separator
    ("phone", "연락처 010-1234-5678로 주세요", "010-1234-5678"),
    ("phone", "휴대폰 010.9876.5432", "010.9876.5432"),
    ("phone", "전화 010 2222 3333 으로", "010 2222 3333"),
    ("phone", "번호 01012345678 입니다", "01012345678"),
    ("phone", "011-234-5678으로 연락", "011-234-5678"),
    ("phone", "서울 사무실 02-123-4567", "02-123-4567"),
    ("phone", "본사 031-8017-1234", "031-8017-1234"),
    ("phone", "제주 064-712-3456", "064-712-3456"),
    ("phone", "인터넷전화 070-4321-8765", "070-4321-8765"),
    ("phone", "안심번호 0505-123-4567", "0505-123-4567"),
    ("phone", "(02) 555-1234 로 문의", "(02) 555-1234"),
    ("phone", "Call +82 10-1234-5678 tomorrow.", "+82 10-1234-5678"),
    ("phone", "Phone: +82-2-555-1234", "+82-2-555-1234"),
    ("phone", "전화 0212345678", "0212345678"),
    # International
    ("phone", "Call us at +1 415-555-2671 today.", "+1 415-555-2671"),
    ("phone", "London office +44 20 7946 0018.", "+44 20 7946 0018"),
    ("phone", "Tokyo: +81 3-1234-5678", "+81 3-1234-5678"),
    # E-mail, glued to a Korean particle
    ("email", "메일은 hong.gildong@example.co.kr으로 보내세요", "hong.gildong@example.co.kr"),
    ("email", "Contact john.doe+news@gmail.com for details.", "john.doe+news@gmail.com"),
    # Cards
    ("credit_card", "카드번호 4111-1111-1111-1111 결제", "4111-1111-1111-1111"),
    ("credit_card", "Card 5555 5555 5555 4444 was declined.", "5555 5555 5555 4444"),
    ("credit_card", "Amex 3782-822463-10005", "3782-822463-10005"),
    ("credit_card", "credit card 4012888888881881", "4012888888881881"),
    # Bank accounts (context)
    ("bank_account", "입금 계좌: 국민은행 123456-12-123456 예금주 홍길동", "123456-12-123456"),
    ("bank_account", "신한 계좌번호 110-123-456789로 송금", "110-123-456789"),
    ("bank_account", "Wire to account 1002-345-678901 at Woori Bank.", "1002-345-678901"),
    ("bank_account", "농협 계좌 302-1234-5678-91", "302-1234-5678-91"),
    # Passport
    ("passport", "여권번호 M123A4567 입니다", "M123A4567"),
    ("passport", "passport number M12345678", "M12345678"),
    ("passport", "Diplomatic passport D987B6543 issued.", "D987B6543"),
    # Driver licence
    ("driver_license", "운전면허 11-12-345678-90", "11-12-345678-90"),
    ("driver_license", "면허번호 서울 12-345678-90", "서울 12-345678-90"),
    ("driver_license", "Korean driver's license 28-21-123456-01.", "28-21-123456-01"),
    # Business registration (NTS check digit)
    ("business_id", "사업자등록번호 220-81-62517", "220-81-62517"),
    ("business_id", "Business registration number 2208162517", "2208162517"),
    # IPs
    ("ip_address", "접속 IP 8.8.4.4에서 로그인", "8.8.4.4"),
    ("ip_address", "login from 203.0.113.5 is fine" .replace("203.0.113.5", "121.134.5.77"), "121.134.5.77"),
    ("ip_address", "IPv6 2001:4860:4860::8888 응답 없음", "2001:4860:4860::8888"),
    # Addresses
    ("street_address", "주소: 서울특별시 중구 세종대로 110에서 만나요", "서울특별시 중구 세종대로 110"),
    ("street_address", "경기도 성남시 분당구 판교역로 235, 3층", "경기도 성남시 분당구 판교역로 235, 3층"),
    ("street_address", "Ship to 부산광역시 해운대구 해운대해변로 264 please.", "부산광역시 해운대구 해운대해변로 264"),
    # Secrets
    ("secret", 'aws_key = "AKIAIOSFODNN7EXAMPLE"', "AKIAIOSFODNN7EXAMPLE"),
    ("secret", "token: ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("secret", "SLACK=xoxb-12345678901-123456789012-abcdefghijklmnopqrstuvwx",
     "xoxb-12345678901-123456789012-abcdefghijklmnopqrstuvwx"),
    ("secret", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"),
    ("secret", 'db_password = "hunter2!"', "hunter2!"),
    ("secret", '{"api_key": "sk-proj-abc123def456"}', "sk-proj-abc123def456"),
    ("secret", "DB_PASSWORD=s3cr3t-pass\n", "s3cr3t-pass"),
    ("secret", "url = 'postgres://admin:Pa55word@db.example.com/app'", "Pa55word"),
]


@pytest.mark.parametrize("pii_type,text,value", POSITIVES, ids=[f"{t}:{v}" for t, _, v in POSITIVES])
def test_pii_in_korean_and_english_sentences_is_found_with_exact_span(scrubber, pii_type, text, value):
    assert (pii_type, value) in found(scrubber, text)


def test_private_key_block_is_replaced_whole():
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7v0lR\nQz8xYbK9w==\n-----END RSA PRIVATE KEY-----"
    text = f'KEY = """{key}"""\n'
    result = Scrubber().scrub(text, bucket="code")
    assert result.text == 'KEY = """<|pii:secret|>"""\n'


def test_post_2020_rrn_without_checksum_is_scrubbed(scrubber):
    # valid birth date and sex digit; the pre-2020 check digit would be 0, not 7
    assert not rrn_checksum_ok("9905051234567")
    assert found(scrubber, "신청인 990505-1234567") == [("rrn", "990505-1234567")]
    # the bare form of a number failing the old checksum needs context ...
    assert found(scrubber, "값 9905051234567") == []
    assert found(scrubber, "주민등록번호 9905051234567") == [("rrn", "9905051234567")]
    # ... while a bare number passing it does not
    assert rrn_checksum_ok("9905051234560")
    assert found(scrubber, "값 9905051234560") == [("rrn", "9905051234560")]


NEGATIVES = [
    "2024-03-15 12:30:45에 공지되었습니다.",
    "회의는 2024.03.15 오후 3시, 15.03.2024 (EU format), 03/15/2024 (US).",
    "가격은 1,234,000원, $1,299.99, ₩12,345,678입니다.",
    "할인율 35.5%, 성장률 -12.25%.",
    "버전 1.2.3.4 업데이트, Chrome 120.0.6099.109, version 10.2.3.4",
    "ISBN 978-89-6626-123-4 / ISBN 978-0-306-40615-7",
    "우편번호 06236, ZIP 90210-1234",
    "주문번호 2024031512345678 배송 시작, Order #4111111111111111 shipped",
    "1+1=2, 3.14159 * 2 = 6.28318, e = 2.718281828459045",
    "sha1 3f2a9c1d4e5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f, md5 d41d8cd98f00b204e9800998ecf8427e",
    "사내 서버 192.168.0.10, 로컬 127.0.0.1, 10.0.0.1, 문서용 2001:db8::1",
    "제품 모델 M12345678 출시",
    "학교로 10명이 갔다. 다시 이 길로 2번 왔다.",
    "인구는 51,780,579명 (2023년), 좌표 37.5665, 126.9780",
    "시간: 09:30-18:00, 비율 1:2:3:4",
    "가짜 주민번호 901301-1234567 (13월은 없다)",  # invalid month
    "사업자번호 123-45-67890",  # NTS check digit fails
    "카드 4111-1111-1111-1112",  # Luhn fails
    "5월 3일 공휴일, 2023년 12월 31일",
    "Call stack at line 1234567 of parser.c",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_false_positive_guards_leave_text_alone(scrubber, text):
    assert found(scrubber, text, "ko") == []


CODE_NEGATIVES = [
    "MAX_INT = 2147483647\nMASK = 0x7fffffff\nTIMEOUT_NS = 30000000000\n",
    "for i in range(1000000):\n    pass\n",
    "EPOCH_MS = 1700000000000\nSEED = 01012345678\n",
    "password = os.environ['DB_PASSWORD']\nsecret_key = settings.SECRET_KEY\n",
    "def check_password(password: str) -> bool:\n    return hmac.compare_digest(password, stored)\n",
    "token = request.headers.get('X-Token')\napi_key = get_api_key()\n",
    'PASSWORD = "${DB_PASSWORD}"\nsecret = "{{ vault_secret }}"\n',
    "HOST = '127.0.0.1'\nBIND = '0.0.0.0'\n",
    "PHONE_RE = r'01[016789]-\\d{3,4}-\\d{4}'\n",
    "values = [9001011234568, 4012888888881881]\n",
    "pairs = list(zip(sparse[::2], sparse[1::2]))\n",
    '# HTML5 spec section "8.2.4.44 Bogus comment state"\n',
    '# find the name: "13.2.5.8 Tag name state"\n',
    "Password: ********\npassword = '<your-password>'\n",
]


@pytest.mark.parametrize("code", CODE_NEGATIVES)
def test_numbers_and_names_in_code_are_not_pii(scrubber, code):
    assert found(scrubber, code, "python", "code") == []


SEEN_IN_REAL_MULTILINGUAL_TEXT = [
    ("it", "117 79 4F O 020 16 10 DLE (data link escape) 120 80 50 P 021 17 11 DC1"),  # ascii(7) table
    ("de", "Free Software Foundation, 59 Temple Place, Suite 330, Boston, MA 02111-1307, USA."),
]


@pytest.mark.parametrize("lang,text", SEEN_IN_REAL_MULTILINGUAL_TEXT)
def test_number_tables_and_zip_codes_are_not_national_phone_numbers(scrubber, lang, text):
    assert found(scrubber, text, lang) == []


def test_bare_mobile_number_needs_context_only_in_code(scrubber):
    assert found(scrubber, "번호 01012345678") == [("phone", "01012345678")]
    assert found(scrubber, "SEED = 01012345678\n", bucket="code") == []
    assert found(scrubber, "# 연락처 01012345678\n", bucket="code") == [("phone", "01012345678")]


def test_national_phone_formats_need_the_documents_language(scrubber):
    text = "Ruf uns an: 030 12345678."
    assert found(scrubber, text, "de") == [("phone", "030 12345678")]
    assert found(scrubber, text, "ko") == []
    us = "Call (415) 555-2671 now."
    assert found(scrubber, us, "en") == [("phone", "(415) 555-2671")]


# The formats issue 18 lists, each as people write them (the scrubber folds full-width digits and
# dashes); values invented, shapes from the format references in tests/pii/formats_set.py.
WRITTEN_VARIANTS = [
    ("rrn", "주민등록번호 880514 2135201 확인", "880514 2135201"),
    ("rrn", "주민번호: ８８０５１４－２１３５２０１", "８８０５１４－２１３５２０１"),
    ("rrn", "주민번호 880514.2135201", "880514.2135201"),
    ("rrn", "주민등록번호는 880514–2135201입니다", "880514–2135201"),
    ("rrn", "주민번호 880514 - 2135201", "880514 - 2135201"),
    ("rrn", "주민등록번호 2103044512873", "2103044512873"),  # post-2020: no valid check digit
    ("frn", "외국인등록번호 010930 7654321", "010930 7654321"),
    ("phone", "연락처 010–1234–5678", "010–1234–5678"),
    ("phone", "전화 010 - 1234 - 5678", "010 - 1234 - 5678"),
    ("phone", "휴대폰 010.1234.5678", "010.1234.5678"),
    ("phone", "(010) 1234-5678 로", "(010) 1234-5678"),
    ("phone", "핸드폰 ０１０－１２３４－５６７８", "０１０－１２３４－５６７８"),
    ("phone", "Tel +82 10 1234 5678", "+82 10 1234 5678"),
    ("phone", "Tel +82-(0)10-1234-5678", "+82-(0)10-1234-5678"),
    ("phone", "문의 02)282-1196", "02)282-1196"),
    ("phone", "본사 (051) 929-2269", "(051) 929-2269"),
    ("phone", "팩스 031.123.4567", "031.123.4567"),
    ("ip_address", "접속 IP 231.45.112.9 차단", "231.45.112.9"),
    ("ip_address", "서버 주소 245.10.3.77", "245.10.3.77"),
    ("ip_address", "refused by host at 226.8.14.201", "226.8.14.201"),
    ("driver_license", "운전면허 35-19-047821-61", "35-19-047821-61"),
    ("driver_license", "면허번호 91-07-123456-02", "91-07-123456-02"),
    ("secret", 'GITHUB_TOKEN="ghp_R2d2C3poL0kiSkywalker4Hansolo7Leia42"', "ghp_R2d2C3poL0kiSkywalker4Hansolo7Leia42"),
    ("secret", "HF_TOKEN=hf_QwErTyUiOpAsDfGhJkLzXcVbNm12345678", "hf_QwErTyUiOpAsDfGhJkLzXcVbNm12345678"),
    ("secret", "  NPM_TOKEN: npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    ("secret", "Authorization: Bearer 4fGh7JkL9mNpQrStUvWxYz0123", "4fGh7JkL9mNpQrStUvWxYz0123"),
    ("secret", 'api_key = "Qw7Er8Ty9Ui0Op1As2"', "Qw7Er8Ty9Ui0Op1As2"),
    ("secret", 'password: "Tr0ub4dor&3"', "Tr0ub4dor&3"),
    ("secret", 'hub = Client(token="a1b2c3d4e5f6g7h8i9j0")', "a1b2c3d4e5f6g7h8i9j0"),
    ("secret", "SLACK=xoxb-2184736510-4729183746512-Ab3Cd4Ef5Gh6", "xoxb-2184736510-4729183746512-Ab3Cd4Ef5Gh6"),
    ("secret", "OPENAI_API_KEY=sk-proj-4fGh7JkL9mNpQrStUvWxYz0123", "sk-proj-4fGh7JkL9mNpQrStUvWxYz0123"),
    ("secret", "key sk-9aB8cD7eF6gH5iJ4kL3mN2oP1qR0sT9 leaked", "sk-9aB8cD7eF6gH5iJ4kL3mN2oP1qR0sT9"),
]


@pytest.mark.parametrize("pii_type,text,value", WRITTEN_VARIANTS, ids=[f"{t}:{v}" for t, _, v in WRITTEN_VARIANTS])
def test_formats_as_people_write_them_are_found_with_exact_span(scrubber, pii_type, text, value):
    assert (pii_type, value) in found(scrubber, text, "ko", "code" if pii_type == "secret" else "korean")


AMBIGUOUS_WITHOUT_CONTEXT = [
    "두 값 880514 2135201 을 더한다",  # a spaced RRN shape is two numbers without a label
    "값 880514.2135201",
    "그룹 주소 231.45.112.9 로 보낸다",  # a multicast address with no IP/host word
    "코드 35-19-047821-61",  # a licence shape outside the region table, no licence word
    "펌웨어 255.1.0.12 배포", "버전 240.2.1.3", "firmware 250.4.4.1", "펌웨어 1.0.23.4로 업데이트",
    "배포일 2023.11.30. 시행 2020. 10. 5. 기준 2024.1.",
    "요청 ID 123e4567-e89b-12d3-a456-426614174000",
    "커밋 3b18e512dba79e4c8300dd08aeb37f8e728b8dad",
    "용량 2,147,483,648 바이트, 해상도 1920x1080, 가격 ₩1,250,000",
    "고객센터 1577-1000, 대표번호 1588-1234",
    "주문번호 20240315-0012345, 송장번호 6098-2231-4410",
    "Build 10.0.19045.3693, ISBN 978-0-13-468599-1, ISSN 1234-5679, DOI 10.1000/182",
]


@pytest.mark.parametrize("text", AMBIGUOUS_WITHOUT_CONTEXT)
def test_ambiguous_shapes_need_a_context_word_and_decoys_stay(scrubber, text):
    assert found(scrubber, text, "ko", "korean") == []


CODE_TOKEN_NAMES_THAT_ARE_NOT_SECRETS = [
    'pad_token = "[PAD]"\neos_token = "</s>"\n', 'tokenizer = "bert-base-uncased"\n', 'max_tokens = "4096"\n',
    'token = os.environ["HF_TOKEN"]\n', "Authorization: Bearer <token>\n", 'skip = "sk-learn"\n',
]


@pytest.mark.parametrize("code", CODE_TOKEN_NAMES_THAT_ARE_NOT_SECRETS)
def test_token_named_values_that_are_no_credential_stay(scrubber, code):
    assert found(scrubber, code, "python", "code") == []


def test_a_checksum_raises_confidence_but_a_loose_separator_still_needs_a_label(scrubber):
    assert rrn_checksum_ok("8805142135201")
    assert found(scrubber, "값 880514 2135201") == []
    (finding,) = Scrubber().find("주민번호 880514 2135201")
    assert finding.type == "rrn" and finding.score == 1.0


def test_a_number_two_types_claim_takes_the_type_of_the_nearer_context_word(scrubber):
    # 12 digits from 13: a licence (region 13) or an account; 면허 on the line before speaks
    # about the licence number there, 계좌 about this one
    text = "운전면허 11-22-334455-66 확인\n환불 계좌: 우리은행 131234567890 입니다"
    assert found(scrubber, text) == [("driver_license", "11-22-334455-66"), ("bank_account", "131234567890")]
