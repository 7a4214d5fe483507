"""A seeded, labelled PII evaluation set: Korean and English carrier sentences holding every PII
type in several formats, mixed with decoys (dates, prices, versions, ISBNs, order numbers, zip
codes, math, hashes, numbers in code, private IPs) that must not be scrubbed.

Values are synthetic but structurally real: registration numbers have real birth dates (half of
them with the pre-2020 check digit, half post-2020 random tails that fail it), cards pass Luhn
with real issuer prefixes, business numbers carry the NTS check digit, international phones are
valid for libphonenumber. Types whose shapes are only PII with context (bank accounts, old
passports, bare digit runs) get carrier sentences that say so, as real text does; the same shapes
also appear as decoys without context.

``generate(n_docs, seed)`` is deterministic: the same arguments give the same documents.
"""
from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass
from typing import Callable

import phonenumbers

from pii.recognizers.checks import brn_checksum_ok, frn_checksum_ok, luhn_ok, rrn_checksum_ok


@dataclass(frozen=True)
class Span:
    type: str
    start: int
    end: int


@dataclass(frozen=True)
class LabelledDoc:
    text: str
    spans: tuple[Span, ...]
    lang: str
    bucket: str


# --- values ---------------------------------------------------------------------------------

def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _birth_date(rng: random.Random, century: int) -> str:
    year = rng.randrange(1940, 2000) if century == 1900 else rng.randrange(2000, 2024)
    month, day = rng.randrange(1, 13), rng.randrange(1, 29)
    return f"{year % 100:02d}{month:02d}{day:02d}"


def _registration(rng: random.Random, sex_digits: dict[str, int], checksum: Callable[[str], bool]) -> str:
    sex = rng.choice(sorted(sex_digits))
    head = _birth_date(rng, sex_digits[sex]) + sex + _digits(rng, 5)
    want_valid = rng.random() < 0.5  # half pre-2020 (check digit), half post-2020 (random tail)
    for check in string.digits:
        if checksum(head + check) == want_valid:
            return head + check
    raise AssertionError("unreachable: ten check digits cover both outcomes")


def rrn(rng: random.Random) -> str:
    return _registration(rng, {"1": 1900, "2": 1900, "3": 2000, "4": 2000}, rrn_checksum_ok)


def frn(rng: random.Random) -> str:
    return _registration(rng, {"5": 1900, "6": 1900, "7": 2000, "8": 2000}, frn_checksum_ok)


def kr_phone(rng: random.Random) -> str:
    kind = rng.choice(["mobile", "mobile", "seoul", "regional", "voip", "safe"])
    prefix = {"mobile": rng.choice(["010", "010", "011", "016", "017", "019"]), "seoul": "02",
              "regional": rng.choice(["031", "032", "042", "051", "053", "062", "064"]), "voip": "070",
              "safe": "050" + rng.choice("2345")}[kind]
    middle = _digits(rng, rng.choice([3, 4]))
    last = _digits(rng, 4)
    style = rng.choice(["-", "-", ".", " ", "+82", "paren"])
    if style == "+82":
        return f"+82 {prefix[1:]}-{middle}-{last}"
    if style == "paren":
        return f"({prefix}) {middle}-{last}"
    return f"{prefix}{style}{middle}{style}{last}"


def _valid_number(rng: random.Random, region: str) -> phonenumbers.PhoneNumber:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
    national = str(example.national_number)
    while True:  # vary the subscriber part until libphonenumber accepts it
        candidate = national[:-4] + _digits(rng, 4)
        number = phonenumbers.parse(candidate, region)
        if phonenumbers.is_valid_number(number):
            return number


def intl_phone(rng: random.Random) -> str:
    number = _valid_number(rng, rng.choice(["US", "GB", "DE", "JP", "FR"]))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def us_national_phone(rng: random.Random) -> str:
    return phonenumbers.format_number(_valid_number(rng, "US"), phonenumbers.PhoneNumberFormat.NATIONAL)


def email(rng: random.Random) -> str:
    user = rng.choice(["hong.gildong", "kim_minji", "lee.s", "park2024", "john.doe", "j.smith+news", "dev-team"])
    domain = rng.choice(["naver.com", "daum.net", "gmail.com", "example.co.kr", "snu.ac.kr", "company.io", "mail.kr"])
    return f"{user}{rng.randrange(100)}@{domain}"


def _with_luhn(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    return next(body + d for d in string.digits if luhn_ok(body + d))


def credit_card(rng: random.Random) -> str:
    if rng.random() < 0.2:
        number = _with_luhn(rng.choice(["34", "37"]), 15, rng)
        return f"{number[:4]}-{number[4:10]}-{number[10:]}"
    number = _with_luhn(rng.choice(["4", "51", "55", "2221", "6011", "35", "94"]), 16, rng)
    sep = rng.choice(["-", " "])
    return sep.join(number[i:i + 4] for i in range(0, 16, 4))


def bank_account(rng: random.Random) -> str:
    groups = rng.choice([(6, 2, 6), (3, 3, 6), (4, 3, 6), (3, 6, 5), (3, 4, 4, 2), (3, 6, 2, 3), (3, 2, 6)])
    if rng.random() < 0.2:
        return _digits(rng, sum(groups))
    return "-".join(_digits(rng, n) for n in groups)


def passport(rng: random.Random) -> str:
    kind = rng.choice("MMMSROD")
    if rng.random() < 0.5:
        return f"{kind}{_digits(rng, 3)}{rng.choice(string.ascii_uppercase)}{_digits(rng, 4)}"
    return f"{kind}{_digits(rng, 8)}"


def driver_license(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"{rng.choice(['서울', '경기', '부산'])} {_digits(rng, 2)}-{_digits(rng, 6)}-{_digits(rng, 2)}"
    return f"{rng.choice(['11', '12', '13', '21', '28'])}-{_digits(rng, 2)}-{_digits(rng, 6)}-{_digits(rng, 2)}"


def business_id(rng: random.Random) -> str:
    head = _digits(rng, 9)
    number = next(head + d for d in string.digits if brn_checksum_ok(head + d))
    return f"{number[:3]}-{number[3:5]}-{number[5:]}"


def ip_address(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return f"2001:4860:{rng.randrange(1, 0xffff):x}::{rng.randrange(1, 0xffff):x}"
    return f"{rng.choice([8, 23, 52, 61, 104, 121, 211])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def street_address(rng: random.Random) -> str:
    area = rng.choice(["서울특별시 강남구", "서울 중구", "경기도 성남시 분당구", "부산광역시 해운대구", "대전광역시 유성구"])
    road = rng.choice(["테헤란로", "세종대로", "판교역로", "해운대해변로", "대학로", "중앙로146번길"])
    return f"{area} {road} {rng.randrange(1, 400)}"


_SURNAMES = ("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "남궁")
_GIVEN = ("민준", "서연", "지훈", "하은", "도윤", "수빈", "예준", "지아", "현우", "채원")


def person_name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN)


def _token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def secret(rng: random.Random) -> str:
    kind = rng.choice(["aws", "github", "slack", "jwt", "google"])
    if kind == "aws":
        return "AKIA" + _token(rng, 16, string.ascii_uppercase + string.digits)
    if kind == "github":
        return "ghp_" + _token(rng, 36)
    if kind == "slack":
        return f"xoxb-{_digits(rng, 11)}-{_digits(rng, 12)}-{_token(rng, 24)}"
    if kind == "google":
        return "AIza" + _token(rng, 35)
    return f"eyJ{_token(rng, 20)}.eyJ{_token(rng, 30)}.{_token(rng, 43)}"


# --- carriers -------------------------------------------------------------------------------
# (value generator, Korean templates, English templates); {v} is the value. Each template
# carries the context real text would have; context-free templates exist for the types that
# need none.
CARRIERS: dict[str, tuple[Callable[[random.Random], str], tuple[str, ...], tuple[str, ...]]] = {
    "rrn": (rrn, ("주민등록번호: {v}", "본인 주민번호는 {v}입니다.", "신청인 {v} (생년월일 확인)"),
            ("Resident registration number: {v}", "Her RRN is {v}.")),
    "frn": (frn, ("외국인등록번호 {v}로 조회했습니다.", "외국인 등록번호는 {v}"),
            ("Alien registration number {v} was issued.", "FRN: {v}")),
    "phone": (kr_phone, ("연락처 {v}로 전화 주세요.", "문의: {v}", "{v}으로 문자 보내 주세요."),
              ("Call me at {v}.", "Phone: {v}", "reach the office on {v} after 9am")),
    "email": (email, ("이메일은 {v}입니다.", "{v}으로 보내주세요."), ("Contact {v} for details.", "mail me: {v}")),
    "credit_card": (credit_card, ("카드번호 {v} 로 결제했습니다.", "{v} 카드가 정지되었습니다."),
                    ("Card number {v}, exp 12/27.", "charged to {v} yesterday")),
    "bank_account": (bank_account, ("입금 계좌: 국민은행 {v} 예금주 {name}", "신한 계좌번호 {v}로 송금 부탁드립니다."),
                     ("Please wire to account {v} at Woori Bank.", "Bank account no. {v}")),
    "passport": (passport, ("여권번호 {v}", "여권 번호가 {v}인 승객"), ("Passport number: {v}", "passport {v} expires soon")),
    "driver_license": (driver_license, ("운전면허번호 {v}", "면허증 {v} 확인 완료"),
                       ("Korean driver's license {v}", "licence no {v}")),
    "business_id": (business_id, ("사업자등록번호 {v}", "상호: 한빛상사 / {v}"), ("Business registration number {v}", "BRN {v}")),
    "ip_address": (ip_address, ("접속 IP {v}에서 로그인했습니다.", "서버 주소는 {v}"), ("login from {v} blocked", "host {v} is up")),
    "secret": (secret, ("실수로 토큰 {v}를 깃허브에 올렸습니다.",), ("Leaked key: {v}", "use the token {v} to log in")),
    "street_address": (street_address, ("주소: {v}", "{v}에 살고 있습니다."), ("Ship to {v}, Korea.", "Office: {v}")),
}

# Carriers for the code bucket: (template, value generator, lang). Only the value is PII.
CODE_CARRIERS: tuple[tuple[str, str, Callable[[random.Random], str]], ...] = (
    ('AWS_ACCESS_KEY_ID = "{v}"\n', "secret", lambda rng: "AKIA" + _token(rng, 16, string.ascii_uppercase + string.digits)),
    ('const token = "{v}";\n', "secret", lambda rng: "ghp_" + _token(rng, 36)),
    ("SLACK_BOT_TOKEN={v}\n", "secret", lambda rng: f"xoxb-{_digits(rng, 11)}-{_digits(rng, 12)}-{_token(rng, 24)}"),
    ('db_password = "{v}"\n', "secret", lambda rng: _token(rng, 12) + "!"),
    ('    "api_key": "{v}",\n', "secret", lambda rng: _token(rng, 32)),
    ("DATABASE_URL = 'postgres://admin:{v}@db.example.com:5432/app'\n", "secret", lambda rng: _token(rng, 14)),
    ("headers = {{'Authorization': 'Bearer {v}'}}\n", "secret", secret),
    ("# Author: Kim <{v}>\n", "email", email),
    ('ALLOWED_HOSTS = ["{v}"]\n', "ip_address", ip_address),
)

DECOYS_KO = (
    "2024-03-15 12:30:45에 공지되었습니다.", "회의는 2024.03.15 오후 3시입니다.", "가격은 1,234,000원입니다.",
    "할인율 35.5%가 적용됩니다.", "버전 1.2.3.4 업데이트 안내", "ISBN 978-89-6626-123-4", "우편번호 06236",
    "주문번호 2024031512345678 배송 시작", "운송장 번호 6012-3456-7890", "1+1=2, 3.14159 * 2 = 6.28318",
    "2023년 매출은 12,345,678,901원으로 집계되었다.", "총 1,000,000명이 참가했다.", "학교로 10명이 갔다.",
    "사내 서버 192.168.0.10 점검", "로컬 주소 127.0.0.1 사용", "커밋 3f2a9c1d4e5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f",
    "제품 모델 M12345678 출시", "상품코드 20240315-00123", "좌표 37.5665, 126.9780", "시간: 09:30-18:00",
)
DECOYS_EN = (
    "Released on 2024-03-15 at 12:30:45 UTC.", "Price: $1,299.99 (was $1,499.00).", "Growth was 12.5% in Q3.",
    "Upgrade to version 10.2.3.4 today.", "ISBN 978-0-306-40615-7", "ZIP 90210-1234", "Order #2024031512345678 shipped.",
    "Tracking number 1Z999AA10123456784", "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "Call stack at line 1234567 of parser.c", "The population was 51,780,579 in 2023.", "ratio 1:2:3:4",
    "Meeting from 10:00 to 11:30 on 03/15/2024.", "Serial no. 4111111111111111 (test fixture)",
    "The model number is S12345678.", "local server 10.0.0.1", "Interval 2024.01.01-2024.12.31",
)
CODE_DECOYS = (
    "MAX_INT = 2147483647\n", "MASK = 0x7fffffff\n", "TIMEOUT_NS = 30000000000\n", "for i in range(1000000):\n",
    "    assert version == '1.2.3.4'\n", "HOST = '127.0.0.1'\n", "password = os.environ['DB_PASSWORD']\n",
    "def check_password(password: str) -> bool:\n", 'token = request.headers.get("X-Token")\n',
    "EPOCH_MS = 1700000000000\n", "checksum = 'd41d8cd98f00b204e9800998ecf8427e'\n", "PHONE_RE = r'01[016789]-\\d{3,4}-\\d{4}'\n",
    "# line 1234567: fixed overflow\n", "secret_key = settings.SECRET_KEY\n",
)


def generate(n_docs: int, seed: int = 0) -> list[LabelledDoc]:
    """``n_docs`` labelled documents: three in four natural-language (half Korean, half English),
    one in four code."""
    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        if i % 4 == 3:
            docs.append(_code_doc(rng))
        else:
            docs.append(_text_doc(rng, "ko" if i % 2 == 0 else "en"))
    return docs


@dataclass
class TypeScore:
    """Span-level counts for one type: a finding is a true positive when it overlaps a labelled
    span of the same type; a labelled span is found when some finding of its type overlaps it."""

    gold: int = 0
    found: int = 0
    predicted: int = 0
    correct: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0


def score(docs: list[LabelledDoc], findings: list[list[tuple[str, int, int]]]) -> dict[str, TypeScore]:
    """Per-type scores of ``findings`` ((type, start, end) per document) against the labels."""
    scores: dict[str, TypeScore] = {}
    for doc, predicted in zip(docs, findings, strict=True):
        for span in doc.spans:
            entry = scores.setdefault(span.type, TypeScore())
            entry.gold += 1
            entry.found += any(t == span.type and s < span.end and span.start < e for t, s, e in predicted)
        for t, s, e in predicted:
            entry = scores.setdefault(t, TypeScore())
            entry.predicted += 1
            entry.correct += any(span.type == t and s < span.end and span.start < e for span in doc.spans)
    return dict(sorted(scores.items()))


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.length = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def add_value(self, template: str, pii_type: str, value: str, name: str = "") -> None:
        """``template`` with ``{v}`` = ``value`` (labelled ``pii_type``) and ``{name}`` = ``name``
        (labelled ``person``: the templates put a role word before it)."""
        for i, piece in enumerate(re.split(r"(\{v\}|\{name\})", template)):
            if i % 2 == 0:
                self.add(piece.replace("{{", "{").replace("}}", "}"))
                continue
            pii_type_here, text = (pii_type, value) if piece == "{v}" else ("person", name)
            self.spans.append(Span(pii_type_here, self.length, self.length + len(text)))
            self.add(text)

    def text(self) -> str:
        return "".join(self.parts)


def _text_doc(rng: random.Random, lang: str) -> LabelledDoc:
    builder = _Builder()
    decoys = DECOYS_KO if lang == "ko" else DECOYS_EN
    pieces = [("decoy", rng.choice(decoys)) for _ in range(rng.randrange(1, 4))]
    pieces += [("pii", rng.choice(sorted(CARRIERS))) for _ in range(rng.randrange(0, 3))]
    if lang == "en" and rng.random() < 0.3:
        pieces.append(("intl", ""))
    rng.shuffle(pieces)
    for kind, item in pieces:
        if kind == "decoy":
            builder.add(item)
        elif kind == "intl":
            value = intl_phone(rng) if rng.random() < 0.6 else us_national_phone(rng)
            builder.add_value(rng.choice(("Call {v} anytime.", "Tel: {v}")), "phone", value)
        else:
            make, ko_templates, en_templates = CARRIERS[item]
            template = rng.choice(ko_templates if lang == "ko" else en_templates)
            builder.add_value(template, item, make(rng), person_name(rng) if "{name}" in template else "")
        builder.add(" " if rng.random() < 0.7 else "\n")
    return LabelledDoc(builder.text(), tuple(builder.spans), lang, "korean" if lang == "ko" else "multilingual")


def _code_doc(rng: random.Random) -> LabelledDoc:
    builder = _Builder()
    builder.add("import os\n\n")
    lines = [("decoy", i) for i in rng.sample(range(len(CODE_DECOYS)), rng.randrange(1, 4))]
    lines += [("pii", rng.randrange(len(CODE_CARRIERS))) for _ in range(rng.randrange(0, 3))]
    rng.shuffle(lines)
    for kind, index in lines:
        if kind == "decoy":
            builder.add(CODE_DECOYS[index])
        else:
            template, pii_type, make = CODE_CARRIERS[index]
            builder.add_value(template, pii_type, make(rng))
    return LabelledDoc(builder.text(), tuple(builder.spans), "python", "code")
