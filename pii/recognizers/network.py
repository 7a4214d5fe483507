"""E-mail and IP addresses.

E-mail candidates are validated against the public suffix list with ``tldextract`` using only
the snapshot bundled in the wheel: Presidio's own ``EmailRecognizer`` calls
``tldextract.extract``, whose default instance downloads the list on first use, which is not
allowed here (offline workers, byte-reproducible runs).
"""
from __future__ import annotations

import functools
import ipaddress
import re

import regex
import tldextract

from pii.recognizers.base import ContextPatternRecognizer, Rule


@functools.cache
def offline_suffix_extractor() -> tldextract.TLDExtract:
    """A ``TLDExtract`` that reads the bundled public-suffix snapshot and never fetches or
    writes a cache (no ``suffix_list_urls``, no ``cache_dir``)."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class EmailRecognizer(ContextPatternRecognizer):
    PII_TYPE = "email"
    TRIGGER = re.compile("@")
    # A local part has at most 64 characters; the domain ends at the first space or quote, where
    # every window ends anyway.
    WINDOW = (64, 0)
    # ASCII local part and host labels (RFC 5321 dot-atom, punycode for IDNs), so that a Korean
    # particle glued to the address (user@example.com으로) is not taken into the domain.
    RULES = (
        # Not the ``user:password@host`` of a URL: that password is a secret (secrets.py).
        Rule("email", r"(?<![A-Za-z0-9._%+\-]|://[^\s/@:]{0,64}:)[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
             r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9\-]{1,62}"
             r"(?![A-Za-z0-9\-]|\.[A-Za-z0-9])", 0.6),
    )
    CONTEXT = ("email", "e-mail", "메일", "이메일")

    def validate_result(self, pattern_text: str) -> bool:
        domain = pattern_text.rsplit("@", 1)[1]
        parts = offline_suffix_extractor()(domain)
        return bool(parts.domain and parts.suffix)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"


class IpAddressRecognizer(ContextPatternRecognizer):
    """IPv4 and IPv6 addresses that are globally routable: loopback, private, link-local and
    documentation ranges (127.0.0.1, 10.x, 192.168.x, ::1, 2001:db8::) name no one, and in code
    they are everywhere (bind addresses, tests), so they are left intact. Multicast and class E
    IPv4 (224-254 first octet; RFC 5771, RFC 1112) are not routable to a person but are what a log
    line holds after ``접속 IP`` or ``host at``: they count only after such a context word (a
    version or firmware number of that shape has none, or a decoy word). 255.x is a netmask."""

    PII_TYPE = "ip_address"
    # Two triggers, not one alternation of the v4 and v6 shapes: two simple scans are twice as fast.
    TRIGGER = (regex.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]"), re.compile(r":[0-9A-Fa-f]{0,4}:"))
    RULES = (
        # Not followed by a capitalised word: "8.2.4.45 Markup declaration" is a section heading
        # (the HTML spec's numbering is all over parser code).
        Rule("ipv4", r"(?<![0-9A-Za-z_.])" + rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
             + r"(?![0-9A-Za-z_]|\.[0-9]| [A-Z][a-z])", 0.6),
        # A candidate is at least three colon-separated hex groups; ``ipaddress`` decides.
        Rule("ipv6", r"(?<![0-9A-Za-z_:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|" + rf"{_OCTET}(?:\.{_OCTET}){{3}})"
             + r"(?![0-9A-Za-z_:]|\.[0-9])", 0.6),
    )
    # Not a bare "ip": it is a substring of api, zip, script.
    CONTEXT = ("ip address", "ip 주소", "ip주소", "ipv4", "ipv6", "접속", "host", "server", "서버", "client ip",
               "from ip", "remote addr", "x-forwarded-for")
    # Dotted quads that number versions and document sections (HTML spec "8.2.4.44").
    NEGATIVE_CONTEXT = ("version", "버전", "release", "build", "빌드", "firmware", "펌웨어", "section", "chapter",
                        "spec", "rfc", "§")

    def needs_context(self, rule: Rule, matched: str) -> bool:
        return _unroutable_ipv4(matched)

    def validate_result(self, pattern_text: str) -> bool:
        try:
            address = ipaddress.ip_address(pattern_text)
        except ValueError:
            return False
        if address.version == 6 and sum(1 for group in pattern_text.split(":") if group) < 3:
            return False  # "::2", "1::2": Python slices, not addresses anyone writes
        return (address.is_global and not address.is_multicast) or _unroutable_ipv4(pattern_text)


def _unroutable_ipv4(text: str) -> bool:
    """Multicast or class E (first octet 224-254): an address only where the text says so."""
    head = text.split(".", 1)[0]
    return "." in text and head.isdigit() and 224 <= int(head) <= 254
