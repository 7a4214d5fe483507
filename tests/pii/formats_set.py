"""A second labelled PII set, written by hand from how each format is described and written in the
world, independently of ``pii/recognizers`` and of ``pii/eval_data.py``'s generator.

Each document marks a PII value as ``⟦type:value⟧`` and a decoy that must survive as
``⟦keep:value⟧``; ``documents()`` strips the marks and returns spans. Values are invented; they
follow the format references cited above each group. A third of the documents (every document
whose BLAKE2b digest is 0 mod 3) is the held-out part: recognizers may be tuned on ``dev`` only,
and ``benchmarks/pii_eval.py`` reports both parts separately.

Format references (what each group is written from):
- RRN/FRN: Resident Registration Act enforcement rules (주민등록법 시행규칙) and the Ministry of the
  Interior's October 2020 reform (digits 8-13 no longer region + check digit); foreigners'
  numbers (Immigration Act, 외국인등록번호) share the layout with a 5-8 seventh digit. Written with
  a hyphen, en-dash (word processors' auto-format), a space, dots, full-width digits (Korean IMEs'
  full-width mode) or nothing after the label.
- Phones: KCC telecommunication numbering rules (전기통신번호관리세칙): 02 and 031-064 area codes,
  010 mobile, 070 VoIP, 1588-style representative numbers (not personal; decoys here); ITU-T E.123
  and E.164 (+82 drops the trunk 0, the ``+82 (0)10`` business-card habit), and the Korean
  habit of ``02)123-4567`` and ``(051) 123-4567``.
- IP: RFC 791 dotted quads, RFC 4291 text form of IPv6; RFC 5771 multicast / RFC 1112 class E
  addresses are still addresses in a log (``접속 IP 231.x``); firmware and product versions written
  as dotted quads are not.
- Driver licences: National Police Agency layout RR-YY-NNNNNN-CC (region code, year, serial, check).
- Secrets: GitHub token prefixes (ghp_, gho_, ghs_, github_pat_; GitHub docs "About authentication
  to GitHub"), Slack token types (xoxb-, xoxp-, xapp-; Slack API docs), OpenAI API keys (sk-,
  sk-proj-), Hugging Face user access tokens (hf_), npm access tokens (npm_), RFC 6750 bearer
  tokens, and twelve-factor style environment variables (GITHUB_TOKEN, HF_TOKEN, NPM_TOKEN).
- Cards: ISO/IEC 7812 issuer prefixes and the Luhn check digit; grouped 4-4-4-4 / Amex 4-6-5.
- Bank accounts: the account layouts banks print on passbooks (KB 6-2-6, 신한 3-3-6, 우리 4-3-6,
  하나 3-6-5, 농협 3-4-4-2 / 6-2-6, 기업 3-6-2-3, 카카오뱅크 4-2-7).
- Passports: Korean passports (ICAO 9303 document number: one letter + 8 digits before 2021,
  letter + 3 digits + letter + 4 digits since the 2021 next-generation passport).
- Business ids: National Tax Service 사업자등록번호 XXX-XX-XXXXX.
- Addresses: 도로명주소 (Road Name Address Act), as printed on juso.go.kr.
- Names: a person named by a role word (예금주, 성명, 이름, 담당자, 수신인) in the clause that also
  holds an account, registration number or phone.
- Decoys: ISO 8601 and Korean dotted dates (2024. 3. 15.), RFC 4122 UUIDs, git object ids,
  ISBN/ISSN/DOI, KS/ISO standard numbers, byte sizes, semantic versions and Windows build
  numbers, firmware versions, order and invoice numbers, prices, Korean representative numbers.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pii.eval_data import LabelledDoc, Span

KEEP = "keep"
_MARK = re.compile(r"⟦([a-z_]+):(.+?)⟧", re.S)

# (bucket, lang, marked text)
RAW: tuple[tuple[str, str, str], ...] = (
    # --- registration numbers in forms, posts, chat ---------------------------------------
    ("korean", "ko", "가입신청서\n성명: ⟦person:김서윤⟧\n주민등록번호: ⟦rrn:880514 2135201⟧\n연락처: ⟦phone:010 - 4821 - 9930⟧\n"
                     "작성일 ⟦keep:2024. 3. 15.⟧"),
    ("korean", "ko", "주민번호 ⟦rrn:９１０２２３－１６５４３２６⟧ 로 본인확인이 안 된다고 나오네요. 전각으로 입력해서 그런가요?"),
    ("korean", "ko", "본인 주민등록번호는 ⟦rrn:020815–3789019⟧이고, 보호자 연락처는 ⟦phone:010–3345–7781⟧입니다."),
    ("korean", "ko", "[민원] 주민등록번호 ⟦rrn:7605121843211⟧ 조회 요청 (접수번호 ⟦keep:2024-000381⟧)"),
    ("korean", "ko", "주민번호 앞자리 다음 뒷자리 순서로: ⟦rrn:951107.2034561⟧ 맞는지 확인 부탁드립니다."),
    ("korean", "ko", "2021년에 태어난 조카 주민번호가 ⟦rrn:210304-4512873⟧인데 체크섬 계산기가 틀렸다고 하네요."),
    ("korean", "ko", "외국인등록번호: ⟦frn:890711-5123456⟧ / 체류자격 E-9 / 여권번호 ⟦passport:M48213970⟧"),
    ("korean", "ko", "외국인 등록번호 ⟦frn:010930 7654321⟧ (2020년 이후 발급)"),
    ("multilingual", "en", "Applicant: resident registration no. ⟦rrn:830219-1022335⟧, issued in Seoul."),
    ("multilingual", "en", "Her alien registration card shows ⟦frn:920405-6281937⟧; visa type D-2."),
    ("korean", "ko", "주민등록번호 ⟦rrn:690101 2345671⟧ 성명 ⟦person:박정숙⟧ 주소 ⟦street_address:대구광역시 수성구 달구벌대로 2450⟧"),
    ("korean", "ko", "생년월일 ⟦keep:1990.01.01⟧ 이후 출생자는 주민번호 ⟦rrn:９９１２３１ ２０１２３４３⟧ 형식으로 적어 주세요."),
    # --- phones -----------------------------------------------------------------------------
    ("korean", "ko", "문의 ⟦phone:02)282-1196⟧ 또는 ⟦phone:(051) 929-2269⟧, 팩스 ⟦phone:031.123.4567⟧. 대표번호 ⟦keep:1588-1234⟧"),
    ("korean", "ko", "중고 자전거 팝니다. 직거래만, 연락은 ⟦phone:010.7713.2045⟧ 문자 주세요. 가격 ⟦keep:150,000원⟧"),
    ("korean", "ko", "전화번호: ⟦phone:(010) 5512-3390⟧ 담당자 ⟦person:이도현⟧"),
    ("korean", "ko", "휴대폰 ⟦phone:０１０－９８７６－５４３２⟧ 로 인증번호를 보냈습니다."),
    ("multilingual", "en", "Call me on ⟦phone:+82 10 3141 5926⟧ when you land at Incheon."),
    ("multilingual", "en", "Seoul office: ⟦phone:+82-(0)2-3456-7890⟧, mobile ⟦phone:+82-(0)10-2718-2818⟧."),
    ("korean", "ko", "사무실 ⟦phone:070-8282-1004⟧ / 담당 ⟦phone:010 2233 4455⟧ (평일 ⟦keep:09:00-18:00⟧)"),
    ("korean", "ko", "수신인 ⟦person:최민호⟧ 님 ⟦phone:010-6543-2109⟧, 배송지 ⟦street_address:경기도 수원시 영통구 광교중앙로 145⟧"),
    ("korean", "ko", "연락처 ⟦phone:+82 (0)31-8017-4000⟧ 로 문의해 주세요. 주문번호 ⟦keep:20240315-0012345⟧"),
    ("korean", "ko", "긴급 연락망: ⟦phone:010 - 2975 - 6631⟧ (야간), ⟦phone:02 - 3410 - 2114⟧ (주간)"),
    ("multilingual", "en", "Contact: Jane Park, tel. ⟦phone:(02) 765-4321⟧, ext. 12"),
    # --- IPs and versions -------------------------------------------------------------------
    ("korean", "ko", "접속 IP ⟦ip_address:231.45.112.9⟧에서 비정상 로그인이 감지되었습니다. 펌웨어 ⟦keep:255.1.0.12⟧"),
    ("korean", "ko", "서버 주소 ⟦ip_address:245.10.3.77⟧ 로 SSH 접속이 안 됩니다. 버전 ⟦keep:240.2.1.3⟧ 입니다."),
    ("multilingual", "en", "Connection refused by host at ⟦ip_address:226.8.14.201⟧ (firmware ⟦keep:250.4.4.1⟧)."),
    ("korean", "ko", "로그: 2024-03-15T09:12:44Z 접속 IP ⟦ip_address:58.229.11.204⟧ 사용자 인증 실패"),
    ("multilingual", "en", "Failed password for root from ⟦ip_address:185.220.101.47⟧ port 52814 ssh2"),
    ("korean", "ko", "공유기 펌웨어 버전 ⟦keep:3.10.2.54⟧, 외부 IP ⟦ip_address:121.165.33.90⟧"),
    ("korean", "ko", "IPv6 주소 ⟦ip_address:2404:6800:4004:81b::200e⟧ 로도 접속 가능합니다."),
    ("multilingual", "en", "The client IP ⟦ip_address:239.255.12.4⟧ joined; build ⟦keep:10.0.19045.3693⟧."),
    # --- driver licences ------------------------------------------------------------------
    ("korean", "ko", "운전면허 ⟦driver_license:35-19-047821-61⟧ 로 렌터카 예약했습니다."),
    ("korean", "ko", "면허번호 ⟦driver_license:91-07-123456-02⟧ 입력 시 오류가 납니다."),
    ("korean", "ko", "운전면허번호: ⟦driver_license:12-15-889012-30⟧ (1종 보통)"),
    ("multilingual", "en", "Korean driver licence number ⟦driver_license:26-20-334455-10⟧ was verified."),
    # --- secrets in code and config -------------------------------------------------------
    ("code", "python", 'import os\nGITHUB_TOKEN = "⟦secret:ghp_R2d2C3poL0kiSkywalker4Hansolo7Leia42⟧"\n'),
    ("code", "shell", "export HF_TOKEN=⟦secret:hf_QwErTyUiOpAsDfGhJkLzXcVbNm12345678⟧\nexport NPM_TOKEN=⟦secret:npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8⟧\n"),
    ("code", "yaml", "steps:\n  - run: npm publish\n    env:\n      NPM_TOKEN: ⟦secret:npm_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8⟧\n"),
    ("code", "http", "GET /v1/models HTTP/1.1\nAuthorization: Bearer ⟦secret:sk-proj-4fGh7JkL9mNpQrStUvWxYz0123456789abcd⟧\nAccept: application/json\n"),
    ("code", "python", 'client = OpenAI(api_key="⟦secret:sk-9aB8cD7eF6gH5iJ4kL3mN2oP1qR0sT9uV8wX7yZ6⟧")\n'),
    ("code", "python", 'hub = Client(token="⟦secret:hf_mNoPqRsTuVwXyZaBcDeFgHiJkLmNoPqRsT⟧")\nrepo_id = "⟦keep:f47ac10b-58cc-4372-a567-0e02b2c3d479⟧"\n'),
    ("code", "yaml", 'database:\n  user: app\n  password: "⟦secret:Tr0ub4dor&3xyz⟧"\n  host: db.internal\n'),
    ("code", "python", 'SLACK_BOT_TOKEN = "⟦secret:xoxb-2184736510-4729183746512-Ab3Cd4Ef5Gh6Ij7Kl8Mn9Op⟧"\n'),
    ("code", "javascript", "const slack = new WebClient('⟦secret:xoxp-1234567890-0987654321-1122334455-a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6⟧');\n"),
    ("code", "ini", "[openai]\napi_key = \"⟦secret:sk-Qw7Er8Ty9Ui0Op1As2Df3Gh4Jk5Lz6Xc7Vb8Nm9⟧\"\n# commit ⟦keep:9fceb02d0ae598e95dc970b74767f19372d61af8⟧\n"),
    ("code", "shell", "curl -H 'Authorization: Bearer ⟦secret:ghs_16C7e42F292c6912E7710c838347Ae178B4a⟧' https://api.github.com/repos\n"),
    ("code", "python", "requests.get(url, headers={'Authorization': 'Bearer ⟦secret:hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567⟧'})\n"),
    ("code", "dotenv", "DB_HOST=localhost\nDB_PASSWORD=⟦secret:p4ssW0rd-2024!⟧\nAPP_VERSION=⟦keep:2.14.3⟧\n"),
    ("code", "json", '{\n  "name": "demo",\n  "version": "⟦keep:1.0.12⟧",\n  "api_key": "⟦secret:AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY⟧"\n}\n'),
    ("code", "python", 'gh = Github(auth=Auth.Token("⟦secret:github_pat_11ABCDEFG0123456789XYZ_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456⟧"))\n'),
    ("code", "toml", '[tool.poetry.http-basic.private]\nusername = "ci"\npassword = "⟦secret:ghp_Kx8Lm2Nq4Rs6Tv8Wx0Yz2Ab4Cd6Ef8Gh0Ij2⟧"\n'),
    ("code", "python", 'login(token="⟦secret:hf_ZyXwVuTsRqPoNmLkJiHgFeDcBa98765432⟧")  # size ⟦keep:1,048,576⟧ bytes\n'),
    # --- cards, accounts, names -----------------------------------------------------------
    ("korean", "ko", "입금계좌: 국민은행 ⟦bank_account:123401-04-567890⟧ 예금주 ⟦person:정하윤⟧. 금액 ⟦keep:₩1,250,000⟧"),
    ("korean", "ko", "환불은 신한 ⟦bank_account:110-482-913745⟧ (예금주: ⟦person:오승민⟧)으로 부탁드립니다."),
    ("korean", "ko", "카카오뱅크 ⟦bank_account:3333-05-1234567⟧ 예금주 ⟦person:한예슬⟧ 으로 송금했어요."),
    ("korean", "ko", "농협 계좌번호 ⟦bank_account:351-0987-6543-21⟧ 으로 보내주세요. 송장번호 ⟦keep:6098-2231-4410⟧"),
    ("korean", "ko", "우리은행 ⟦bank_account:1002-745-381920⟧ 예금주 ⟦person:윤지호⟧ / 문의 ⟦phone:010-8181-2323⟧"),
    ("korean", "ko", "결제 카드 ⟦credit_card:4580-1234-5678-9015⟧ 로 결제되었습니다. 승인번호 ⟦keep:30012345⟧"),
    ("multilingual", "en", "Card on file: ⟦credit_card:5425 2334 3010 9903⟧, expires 08/27."),
    ("multilingual", "en", "Charged to Amex ⟦credit_card:3714 496353 98431⟧ (order no. ⟦keep:112-3456789-0123456⟧)."),
    ("korean", "ko", "카드번호 ⟦credit_card:9410123412341237⟧ (BC카드) 재발급 요청"),
    ("korean", "ko", "성명 ⟦person:장민재⟧, 휴대전화 ⟦phone:010-3030-4040⟧, 이메일 ⟦email:minjae.jang@mail.co.kr⟧"),
    ("korean", "ko", "담당자: ⟦person:서지원⟧ 대리 (⟦phone:02-2100-3456⟧, ⟦email:jiwon.seo@corp.kr⟧)"),
    ("korean", "ko", "이름: ⟦person:임채원⟧ / 주민번호: ⟦rrn:970623-2456783⟧ / 계좌: 하나 ⟦bank_account:352-910234-56107⟧"),
    ("korean", "ko", "기업은행 ⟦bank_account:010-123456-01-011⟧ 예금주 ⟦person:강태윤⟧ 으로 입금 바랍니다."),
    # --- passports, business ids, e-mail, addresses -------------------------------------------
    ("korean", "ko", "여권번호 ⟦passport:M725K1934⟧ (2021년 이후 발급 차세대 여권)"),
    ("multilingual", "en", "Passport No. ⟦passport:M07341128⟧, Republic of Korea, valid until 2029."),
    ("korean", "ko", "사업자등록번호 ⟦business_id:120-81-47521⟧ / 대표 김○○ / ISBN ⟦keep:979-11-5839-123-6⟧"),
    ("korean", "ko", "상호 한빛출판 사업자번호: ⟦business_id:2148716534⟧ 통신판매업신고 ⟦keep:제2024-서울강남-01234호⟧"),
    ("multilingual", "en", "Reach the author at ⟦email:dr.j.lee@snu.ac.kr⟧ (DOI ⟦keep:10.1000/182⟧)."),
    ("korean", "ko", "제보는 ⟦email:tips_2024@hankyung.com⟧ 으로. ISSN ⟦keep:1234-5679⟧"),
    ("korean", "ko", "주소: ⟦street_address:서울특별시 강남구 테헤란로 152, 12층⟧ (역삼동)"),
    ("korean", "ko", "반송지 ⟦street_address:부산광역시 해운대구 센텀중앙로 97⟧ 으로 보내 주세요."),
    ("korean", "ko", "본점 소재지: ⟦street_address:전라남도 나주시 빛가람로 661⟧ 규격 ⟦keep:KS X ISO/IEC 27001:2014⟧"),
    # --- decoy-only documents ---------------------------------------------------------------
    ("korean", "ko", "배포일 ⟦keep:2023.11.30.⟧ 버전 ⟦keep:v4.2.1⟧ 용량 ⟦keep:2,147,483,648⟧ 바이트, 해상도 ⟦keep:1920x1080⟧"),
    ("korean", "ko", "요청 ID ⟦keep:123e4567-e89b-12d3-a456-426614174000⟧, 커밋 ⟦keep:3b18e512dba79e4c8300dd08aeb37f8e728b8dad⟧"),
    ("korean", "ko", "주문번호 ⟦keep:2024031598765432⟧ 결제 금액 ⟦keep:89,000원⟧, 배송 예정일 ⟦keep:2024.03.18⟧"),
    ("korean", "ko", "고객센터 ⟦keep:1577-1000⟧, 운영시간 ⟦keep:09:00~18:00⟧. 펌웨어 ⟦keep:1.0.23.4⟧로 업데이트하세요."),
    ("multilingual", "en", "Released ⟦keep:2024-03-15⟧; ISBN ⟦keep:978-0-13-468599-1⟧; price ⟦keep:$1,299.00⟧; version ⟦keep:12.4.0.1⟧"),
    ("multilingual", "en", "Invoice ⟦keep:INV-2024-000123⟧ for order ⟦keep:4500012345⟧; file size ⟦keep:734,003,200⟧ bytes."),
    ("code", "python", 'UUID = "⟦keep:550e8400-e29b-41d4-a716-446655440000⟧"\nSHA = "⟦keep:e83c5163316f89bfbde7d9ab23ca2e25604af290⟧"\nMAX_BYTES = ⟦keep:10485760⟧\n'),
    ("code", "python", 'VERSION = "⟦keep:2.13.0⟧"\ntoken = os.environ["HF_TOKEN"]\npassword = getpass.getpass()\n'),
    ("korean", "ko", "인구 ⟦keep:51,325,329⟧명(⟦keep:2024.1.⟧ 기준), 면적 ⟦keep:100,413⟧㎢, 시행 ⟦keep:2020. 10. 5.⟧"),
    ("korean", "ko", "특허 ⟦keep:10-2345678⟧호, 표준 ⟦keep:KS C IEC 60335-1⟧, 모델 ⟦keep:SM-S928N⟧"),
)


@dataclass(frozen=True)
class FormatsDoc:
    doc: LabelledDoc
    keep: tuple[Span, ...]
    heldout: bool


def _parse(bucket: str, lang: str, marked: str) -> FormatsDoc:
    pieces, spans, keep, length, position = [], [], [], 0, 0
    for match in _MARK.finditer(marked):
        before = marked[position:match.start()]
        pieces.append(before)
        length += len(before)
        pii_type, value = match.groups()
        (keep if pii_type == KEEP else spans).append(Span(pii_type, length, length + len(value)))
        pieces.append(value)
        length += len(value)
        position = match.end()
    pieces.append(marked[position:])
    text = "".join(pieces)
    heldout = int.from_bytes(hashlib.blake2b(marked.encode(), digest_size=8).digest(), "big") % 3 == 0
    return FormatsDoc(LabelledDoc(text, tuple(spans), lang, bucket), tuple(keep), heldout)


def documents(part: str = "all") -> list[FormatsDoc]:
    """The parsed documents of ``part``: ``dev``, ``heldout`` or ``all``."""
    docs = [_parse(*raw) for raw in RAW]
    if part == "all":
        return docs
    return [d for d in docs if d.heldout == (part == "heldout")]
