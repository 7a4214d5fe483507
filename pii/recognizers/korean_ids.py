"""Korean national identifiers: resident and foreigner registration numbers, business
registration numbers, passports and driver licences.

Registration numbers issued since October 2020 carry a random tail instead of the region code and
check digit (Ministry of the Interior, 2020 RRN reform), so the checksum can no longer reject a
number. The decision is structural: a real birth date (YYMMDD valid in the century that the 7th
digit names) and a sex/century digit of the right class. The hyphenated form
``YYMMDD-GNNNNNN`` is distinctive enough to scrub on structure alone; a bare 13-digit run is
scrubbed on structure alone only when the old checksum holds, otherwise it needs context
(주민등록번호, RRN, ...). So do the other ways people write the separator (a space, a dot, a
spaced hyphen: ``880514 2135201``, ``951107.2034561``), which read as two numbers without a
label; full-width digits and en-dashes are folded to ASCII by the scrubber before matching. Trade-off: about 1.5% of random hyphenated ``6-7`` digit numbers have
a valid date and a sex digit of the right class and are scrubbed (precision), in exchange for
catching every post-2020 number written the usual way (recall).
"""
from __future__ import annotations

from typing import Callable

import regex

from pii.recognizers.base import ContextPatternRecognizer, Rule
from pii.recognizers.checks import (
    FRN_CENTURY,
    RRN_CENTURY,
    brn_checksum_ok,
    frn_checksum_ok,
    only_digits,
    rrn_checksum_ok,
    valid_birth_date,
)
from pii.recognizers.shapes import DIGIT_RUN_TRIGGER, NUM_AFTER, NUM_BEFORE

_BIRTH_DATE = r"[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_DASH = r"-"
_LOOSE_SEPARATOR = r"(?: ?[\-.·] ?| )"


class _RegistrationNumberRecognizer(ContextPatternRecognizer):
    """YYMMDD-GNNNNNN where G names sex and century; subclasses fix the class of G."""

    CENTURY: dict[str, int] = {}
    checksum_ok: Callable[[str], bool]

    def validate_result(self, pattern_text: str) -> bool | None:
        digits = only_digits(pattern_text)
        century = self.CENTURY.get(digits[6])
        if century is None or not valid_birth_date(digits, century):
            return False
        # True raises the score to 1.0 (Presidio); None keeps the structural score.
        return True if type(self).checksum_ok(digits) else None

    def needs_context(self, rule: Rule, matched: str) -> bool:
        # A checksum raises confidence in a bare run; a loose separator needs a label regardless.
        if rule.name.endswith("_loose"):
            return True
        return rule.needs_context and not type(self).checksum_ok(only_digits(matched))


class RrnRecognizer(_RegistrationNumberRecognizer):
    """주민등록번호: sex/century digit 1-4."""

    PII_TYPE = "rrn"
    TRIGGER = DIGIT_RUN_TRIGGER
    MIN_DIGITS = 13
    CENTURY = RRN_CENTURY
    checksum_ok = staticmethod(rrn_checksum_ok)
    RULES = (
        Rule("rrn", NUM_BEFORE + _BIRTH_DATE + _DASH + r"[1-4][0-9]{6}" + NUM_AFTER, 0.6),
        Rule("rrn_loose", NUM_BEFORE + _BIRTH_DATE + _LOOSE_SEPARATOR + r"[1-4][0-9]{6}" + NUM_AFTER, 0.4,
             needs_context=True),
        Rule("rrn_bare", NUM_BEFORE + _BIRTH_DATE + r"[1-4][0-9]{6}" + NUM_AFTER, 0.4, needs_context=True, bare=True,
             run=13),
    )
    CONTEXT = ("주민", "생년월일", "resident registration", "rrn", "registration number")


class FrnRecognizer(_RegistrationNumberRecognizer):
    """외국인등록번호: sex/century digit 5-8."""

    PII_TYPE = "frn"
    TRIGGER = DIGIT_RUN_TRIGGER
    MIN_DIGITS = 13
    CENTURY = FRN_CENTURY
    checksum_ok = staticmethod(frn_checksum_ok)
    RULES = (
        Rule("frn", NUM_BEFORE + _BIRTH_DATE + _DASH + r"[5-8][0-9]{6}" + NUM_AFTER, 0.6),
        Rule("frn_loose", NUM_BEFORE + _BIRTH_DATE + _LOOSE_SEPARATOR + r"[5-8][0-9]{6}" + NUM_AFTER, 0.4,
             needs_context=True),
        Rule("frn_bare", NUM_BEFORE + _BIRTH_DATE + r"[5-8][0-9]{6}" + NUM_AFTER, 0.4, needs_context=True, bare=True,
             run=13),
    )
    CONTEXT = ("외국인", "foreigner", "alien registration", "frn", "registration number",
               "residence card")


class BusinessIdRecognizer(ContextPatternRecognizer):
    """사업자등록번호 NNN-NN-NNNNN with the National Tax Service check digit. The hyphenated
    3-2-5 shape plus a valid check digit is scrubbed as is; a bare 10-digit run also needs
    context (a tenth of random 10-digit numbers pass the check)."""

    PII_TYPE = "business_id"
    TRIGGER = DIGIT_RUN_TRIGGER
    MIN_DIGITS = 10
    RULES = (
        Rule("brn", NUM_BEFORE + r"[0-9]{3}-[0-9]{2}-[0-9]{5}" + NUM_AFTER, 0.6),
        Rule("brn_bare", NUM_BEFORE + r"[0-9]{10}" + NUM_AFTER, 0.4, needs_context=True, run=10),
    )
    CONTEXT = ("사업자", "등록번호", "business registration", "business number", "brn", "tax id",
               "tax registration")

    def validate_result(self, pattern_text: str) -> bool:
        return brn_checksum_ok(only_digits(pattern_text))


class PassportRecognizer(ContextPatternRecognizer):
    """Korean passport numbers (외교부 여권 번호): the format since December 2021 is a type
    letter, 3 digits, a letter, 4 digits (M123A4567); the older one a type letter and 8 digits
    (M12345678). Type letters: M multiple, S single, R travel certificate, O official,
    D diplomatic. The old shape matches many part numbers and needs context."""

    PII_TYPE = "passport"
    TRIGGER = regex.compile(r"[0-9]{3}(?<=[MSROD][0-9]{3})")  # digit first: see shapes.py
    WINDOW = (16, 16)
    RULES = (
        Rule("passport_2021", r"(?<![0-9A-Za-z_])[MSROD][0-9]{3}[A-Z][0-9]{4}(?![0-9A-Za-z_])", 0.5),
        Rule("passport_old", r"(?<![0-9A-Za-z_])[MSROD][0-9]{8}(?![0-9A-Za-z_])", 0.3, needs_context=True),
    )
    CONTEXT = ("여권", "passport")
    NEGATIVE_CONTEXT = ("model", "모델", "part no", "부품", "sku", "제품번호")


# Driver licence region codes since 2011 (11 서울 ... 28 제주; 27 is unassigned), and the
# region names printed on pre-2011 licences (서울 12-345678-90).
_LICENCE_REGION_CODE = r"(?:1[1-9]|2[0-689])"
_LICENCE_REGION_NAME = r"(?:서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산)"


class DriverLicenseRecognizer(ContextPatternRecognizer):
    """운전면허번호 RR-YY-NNNNNN-CC (region, year of issue, serial, check)."""

    PII_TYPE = "driver_license"
    TRIGGER = DIGIT_RUN_TRIGGER
    MIN_DIGITS = 10  # 서울 12-345678-90
    RULES = (
        Rule("licence", NUM_BEFORE + _LICENCE_REGION_CODE + r"-[0-9]{2}-[0-9]{6}-[0-9]{2}" + NUM_AFTER, 0.6),
        Rule("licence_region_name", _LICENCE_REGION_NAME + r" ?[0-9]{2}-[0-9]{6}-[0-9]{2}" + NUM_AFTER, 0.6),
        Rule("licence_bare", NUM_BEFORE + _LICENCE_REGION_CODE + r"[0-9]{10}" + NUM_AFTER, 0.3,
             needs_context=True, run=12),
        # Region codes outside the table (old or mistyped licences, other numbering) after a
        # licence word: the 2-2-6-2 shape is still a licence when the text says so.
        Rule("licence_any_region", NUM_BEFORE + r"[0-9]{2}-[0-9]{2}-[0-9]{6}-[0-9]{2}" + NUM_AFTER, 0.3,
             needs_context=True),
    )
    CONTEXT = ("면허", "driver", "licence", "license")

