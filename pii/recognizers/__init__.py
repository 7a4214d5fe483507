"""One module per recognizer family; ``language_independent`` lists the ones every document gets.

``InternationalPhoneRecognizer`` is built per language (its national formats depend on it).
"""
from __future__ import annotations

from pii.recognizers.address import KoreanAddressRecognizer
from pii.recognizers.base import ContextPatternRecognizer
from pii.recognizers.finance import BankAccountRecognizer, CreditCardRecognizer
from pii.recognizers.korean_ids import (
    BusinessIdRecognizer,
    DriverLicenseRecognizer,
    FrnRecognizer,
    PassportRecognizer,
    RrnRecognizer,
)
from pii.recognizers.network import EmailRecognizer, IpAddressRecognizer
from pii.recognizers.phone import LANG_REGIONS, InternationalPhoneRecognizer, KoreanPhoneRecognizer
from pii.recognizers.secrets import PrivateKeyRecognizer, SecretRecognizer

LANGUAGE_INDEPENDENT: tuple[type[ContextPatternRecognizer], ...] = (
    EmailRecognizer,
    KoreanPhoneRecognizer,
    RrnRecognizer,
    FrnRecognizer,
    CreditCardRecognizer,
    BankAccountRecognizer,
    PassportRecognizer,
    DriverLicenseRecognizer,
    BusinessIdRecognizer,
    IpAddressRecognizer,
    KoreanAddressRecognizer,
    SecretRecognizer,
    PrivateKeyRecognizer,
)


def language_independent(types: frozenset[str], strict: bool) -> list[ContextPatternRecognizer]:
    """Instances of the recognizers for ``types``; ``strict`` for code (bare digit runs need context)."""
    return [cls(strict=strict) for cls in LANGUAGE_INDEPENDENT if cls.PII_TYPE in types]


def international_phone(lang: str | None, strict: bool) -> InternationalPhoneRecognizer:
    return InternationalPhoneRecognizer(LANG_REGIONS.get(lang or "", ()), strict=strict)
