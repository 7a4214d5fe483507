"""Telephone numbers: Korean numbering plan, and international/national numbers of other
countries validated with libphonenumber (the ``phonenumbers`` package Presidio uses).

Korean plan (KCC 전기통신번호관리세칙): mobile 010/011/016-019, Seoul 02, regional 031-033,
041-044, 051-055, 061-064, internet telephony 070, personal/safe numbers 050X; +82 drops the
trunk 0. Separators ``-``, ``.``, space or a spaced hyphen (used consistently within a number),
or none; the area code may be in parentheses, or closed by one (``02)282-1196``, an old Korean
habit), and ``+82 (0)10`` keeps the trunk 0 in parentheses (ITU-T E.123 advises against it;
business cards do it anyway). Full-width digits and en-dashes are folded by the scrubber.
"""
from __future__ import annotations

from typing import Sequence

import phonenumbers
import regex

from pii.recognizers.base import ContextPatternRecognizer, Rule
from pii.recognizers.checks import only_digits
from pii.recognizers.shapes import DIGIT_RUN_TRIGGER, NUM_AFTER, NUM_BEFORE, looks_like_date

_MOBILE = r"01[016789]"
_LANDLINE = r"(?:02|0(?:3[1-3]|4[1-4]|5[1-5]|6[1-4])|070|050[0-9])"
_SUBSCRIBER = r"(?P<sep> ?[\-.] ?| )[0-9]{3,4}(?P=sep)[0-9]{4}"

PHONE_CONTEXT = ("전화", "연락", "휴대폰", "핸드폰", "폰번호", "문의", "문자", "tel", "phone", "mobile", "cell",
                 "call", "fax", "팩스", "contact")
# Numbers of the same shape that are not phones.
PHONE_NEGATIVE_CONTEXT = ("주문번호", "송장", "운송장", "order", "tracking", "invoice", "isbn", "serial",
                          "일련번호")


class KoreanPhoneRecognizer(ContextPatternRecognizer):
    PII_TYPE = "phone"
    TRIGGER = DIGIT_RUN_TRIGGER
    MIN_DIGITS = 9  # 02-123-4567
    RULES = (
        Rule("kr_mobile", NUM_BEFORE + _MOBILE + _SUBSCRIBER + NUM_AFTER, 0.7),
        Rule("kr_landline", NUM_BEFORE + _LANDLINE + _SUBSCRIBER + NUM_AFTER, 0.6),
        Rule("kr_parenthesized", r"\((?:" + _MOBILE + "|" + _LANDLINE + r")\) ?[0-9]{3,4}[\-. ]?[0-9]{4}"
             + NUM_AFTER, 0.6),
        Rule("kr_close_paren", NUM_BEFORE + r"(?:" + _MOBILE + "|" + _LANDLINE + r")\) ?[0-9]{3,4}[\-. ]?[0-9]{4}"
             + NUM_AFTER, 0.6),
        Rule("kr_plus82", r"(?<![0-9A-Za-z_])\+82[\-. ]?(?:\(0\)[\-. ]?)?(?:1[016789]|2|3[1-3]|4[1-4]|5[1-5]"
             r"|6[1-4]|70|50[0-9])[\-. ]?[0-9]{3,4}[\-. ]?[0-9]{4}" + NUM_AFTER, 0.8),
        # An 11-digit run starting 010 is a mobile number written without separators; a
        # 9-10-digit landline run is not distinctive enough without context.
        Rule("kr_mobile_bare", NUM_BEFORE + _MOBILE + r"[0-9]{7,8}" + NUM_AFTER, 0.5, bare=True, run=10),
        Rule("kr_landline_bare", NUM_BEFORE + _LANDLINE + r"[0-9]{7,8}" + NUM_AFTER, 0.3, needs_context=True, run=9),
    )
    CONTEXT = PHONE_CONTEXT
    NEGATIVE_CONTEXT = PHONE_NEGATIVE_CONTEXT


# Regions whose national formats are checked in a document of each language (ISO 639-1 ->
# ISO 3166-1), covering the languages of the multilingual bucket.
LANG_REGIONS: dict[str, tuple[str, ...]] = {
    "en": ("US", "GB", "CA", "AU", "IN"),
    "de": ("DE", "AT", "CH"),
    "fr": ("FR", "BE", "CH", "CA"),
    "es": ("ES", "MX", "AR", "CO"),
    "it": ("IT", "CH"),
    "pt": ("PT", "BR"),
    "nl": ("NL", "BE"),
    "pl": ("PL",),
    "ru": ("RU",),
    "ja": ("JP",),
    "zh": ("CN", "TW", "HK"),
    "vi": ("VN",),
}


# US ZIP+4 (Boston, MA 02111-1307): a trunk-0-shaped national number in several plans.
_ZIP_PLUS_4 = regex.compile(r"[0-9]{5}-[0-9]{4}")


class InternationalPhoneRecognizer(ContextPatternRecognizer):
    """``+CC ...`` numbers in any text, and national formats of the regions of the document's
    language. Candidates come from a loose regex; libphonenumber decides (``is_valid_number``
    checks the country's length and prefix plan, so dates and quantities rarely pass)."""

    PII_TYPE = "phone"
    TRIGGER = DIGIT_RUN_TRIGGER
    RULES = (
        Rule("intl_plus", r"(?<![0-9A-Za-z_+])\+[1-9][0-9]{0,2}(?:[\-. ]?\(?[0-9]{1,5}\)?){2,6}" + NUM_AFTER,
             0.7),
        # National: a trunk-0 or parenthesised area code, or the NANP 3-3-4 shape.
        Rule("national", NUM_BEFORE + r"(?:\(0?[0-9]{1,4}\) ?|0[0-9]{1,4}[\-. ])[0-9]{2,8}(?:[\-. ][0-9]{2,4}){0,3}"
             + NUM_AFTER, 0.6),
        Rule("nanp", NUM_BEFORE + r"[2-9][0-9]{2}(?P<sep>[\-. ])[2-9][0-9]{2}(?P=sep)[0-9]{4}" + NUM_AFTER, 0.6),
    )
    CONTEXT = PHONE_CONTEXT
    NEGATIVE_CONTEXT = PHONE_NEGATIVE_CONTEXT

    def __init__(self, regions: Sequence[str] = (), strict: bool = False) -> None:
        super().__init__(strict=strict)
        self.regions = tuple(regions)

    def validate_result(self, pattern_text: str) -> bool:
        if looks_like_date(pattern_text) or _ZIP_PLUS_4.fullmatch(pattern_text):
            return False
        if pattern_text.startswith("+"):
            return _valid(pattern_text, None)
        # Several plans (Italy, Germany) accept 6-8-digit numbers, which collide with tables of
        # small numbers (an ASCII chart's "020 16 10"); a written national number has 9+ digits.
        if len(only_digits(pattern_text)) < 9:
            return False
        return any(_valid(pattern_text, region) for region in self.regions)


def _valid(text: str, region: str | None) -> bool:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)
