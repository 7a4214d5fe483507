"""Payment card numbers (Luhn) and Korean bank account numbers."""
from __future__ import annotations

import regex

from pii.recognizers.base import ContextPatternRecognizer, Rule
from pii.recognizers.checks import luhn_ok, only_digits
from pii.recognizers.shapes import DIGIT_RUN_TRIGGER, NUM_AFTER, NUM_BEFORE, looks_like_date

# Issuer identification prefixes (ISO/IEC 7812): Visa 4, Mastercard 51-55 and 2221-2720, Amex
# 34/37, Discover 6011/644-649/65, JCB 35, UnionPay 62, and Korean domestic (BC/local) cards 9.
_ISSUER = regex.compile(r"4|5[1-5]|2(?:22[1-9]|2[3-9][0-9]|[3-6][0-9]{2}|7[01][0-9]|720)|3[47]|6011|64[4-9]|65|35|62|9")


class CreditCardRecognizer(ContextPatternRecognizer):
    """Grouped card numbers (4-4-4-4, Amex 4-6-5) are scrubbed on Luhn + issuer prefix; a bare
    13-19-digit run also needs context (a tenth of random digit runs pass Luhn, and order or
    tracking numbers are long digit runs)."""

    PII_TYPE = "credit_card"
    TRIGGER = DIGIT_RUN_TRIGGER
    MIN_DIGITS = 13
    RULES = (
        Rule("card_4x4", NUM_BEFORE + r"[0-9]{4}(?P<sep>[\- ])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{4}" + NUM_AFTER, 0.6),
        Rule("card_amex", NUM_BEFORE + r"3[47][0-9]{2}(?P<sep>[\- ])[0-9]{6}(?P=sep)[0-9]{5}" + NUM_AFTER, 0.6),
        Rule("card_bare", NUM_BEFORE + r"[0-9]{13,19}" + NUM_AFTER, 0.4, needs_context=True, run=13),
    )
    CONTEXT = ("카드", "결제", "card", "visa", "master", "amex", "credit", "debit", "cc#", "jcb", "unionpay")
    NEGATIVE_CONTEXT = ("주문번호", "송장", "운송장", "order", "tracking", "invoice", "isbn", "serial")

    def validate_result(self, pattern_text: str) -> bool:
        digits = only_digits(pattern_text)
        return _ISSUER.match(digits) is not None and luhn_ok(digits)


class BankAccountRecognizer(ContextPatternRecognizer):
    """Korean bank account numbers: 10-14 digits, usually grouped by bank (KB 6-2-6, Shinhan
    3-3-6, Woori 4-3-6, Hana 3-6-5, NH 3-4-4-2, IBK 3-6-2-3, ...). No checksum is public and
    the shapes overlap with every other digit run, so an account always needs context
    (계좌, 입금, 예금주, account, ...). Its scores stay below the structured types' so that a
    number of their shape near a banking word (a licence number next to 입금) keeps its type."""

    PII_TYPE = "bank_account"
    TRIGGER = DIGIT_RUN_TRIGGER
    MIN_DIGITS = 10  # validate_result
    RULES = (
        Rule("account_grouped", NUM_BEFORE + r"[0-9]{2,6}-[0-9]{2,6}-[0-9]{2,7}(?:-[0-9]{1,3})?" + NUM_AFTER, 0.2,
             needs_context=True),
        Rule("account_bare", NUM_BEFORE + r"[0-9]{10,14}" + NUM_AFTER, 0.15, needs_context=True, run=10),
    )
    CONTEXT = ("계좌", "입금", "예금주", "송금", "이체", "은행", "농협", "새마을금고", "우체국", "카카오뱅크",
               "케이뱅크", "토스뱅크", "account", "acct", "bank", "deposit", "wire transfer")
    NEGATIVE_CONTEXT = ("주문번호", "송장", "order", "tracking", "invoice")

    def validate_result(self, pattern_text: str) -> bool | None:
        if not 10 <= len(only_digits(pattern_text)) <= 14 or looks_like_date(pattern_text):
            return False
        return None
