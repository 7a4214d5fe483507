"""Typed placeholders that replace PII spans: ``<|pii:TYPE|>``.

The tokenizer reserves every placeholder as a special token, so a scrubbed span costs one token
and the model learns that "something personal stood here" without learning the value.
"""
from __future__ import annotations

PII_TYPES: tuple[str, ...] = (
    "email",
    "phone",
    "rrn",  # Korean resident registration number (주민등록번호)
    "frn",  # Korean foreigner registration number (외국인등록번호)
    "credit_card",
    "bank_account",
    "passport",
    "driver_license",
    "business_id",  # Korean business registration number (사업자등록번호)
    "ip_address",
    "street_address",
    "secret",  # API keys, tokens, private keys, passwords in code/config
    "person",  # a name a role word marks next to an account, registration number or phone (pii/names.py)
)


def placeholder(pii_type: str) -> str:
    return f"<|pii:{pii_type}|>"


PLACEHOLDERS: tuple[str, ...] = tuple(placeholder(t) for t in PII_TYPES)
