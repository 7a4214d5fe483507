"""Normalize: each rule on its own, the combined canonical form, and the empty-document rejection
through the real Beam wiring."""
from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.document import CODE_KIND, Document
from tests.transforms.filter_harness import run_step
from transforms.normalize import NormalizeConfig, normalize_step, normalize_text


def test_nfc_composes_decomposed_hangul_and_accents():
    decomposed = "\u1112\u1161\u11ab\u1100\u1173\u11af cafe\u0301"  # 한글 as jamo, café with a combining accent
    assert normalize_text(decomposed) == "한글 café"


@pytest.mark.parametrize("raw", ["a\r\nb", "a\rb", "a\u2028b", "a\x85b", "a\x0cb", "a\x0bb"])
def test_every_line_break_becomes_newline(raw):
    assert normalize_text(raw) == "a\nb"


def test_control_characters_are_removed_but_tabs_and_newlines_stay():
    assert normalize_text("a\x00b\x1bc\x7fd\x9fe\tf\ng") == "abcde\tf\ng"


def test_trailing_whitespace_is_stripped_per_line_and_indentation_kept():
    code = "def f():  \n    return 1\t\n\n    \nx = 2\u3000"
    assert normalize_text(code) == "def f():\n    return 1\n\n\nx = 2"


@given(st.lists(st.tuples(st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"])),
                          st.text(st.sampled_from(" \t\u00a0\u1680\u2000\u200a\u202f\u205f\u3000"))), max_size=6))
def test_no_line_ends_in_any_unicode_whitespace(lines):
    text = normalize_text("\n".join(body + trailing for body, trailing in lines))
    assert not any(re.search(r"\s\Z", line) for line in text.split("\n"))  # re's \s: all Unicode whitespace


def test_runs_of_more_than_two_blank_lines_collapse_to_two():
    assert normalize_text("a\n\n\n\n\n\nb\n\n\nc\n\nd") == "a\n\n\nb\n\n\nc\n\nd"
    assert normalize_text("a\n\n\n\nb", max_blank_lines=1) == "a\n\nb"


def test_leading_and_trailing_blank_lines_are_dropped():
    assert normalize_text("\n\n  \n  indented\ntext\n\n\n") == "  indented\ntext"


def rules_one_by_one(text: str, max_blank_lines: int) -> str:
    """The module docstring's rules, each applied to every text, character by character or line
    by line (no fast paths)."""
    text = text.replace("\r\n", "\n")
    text = "".join("\n" if c in "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029" else c for c in text)
    text = "".join(c for c in text if c in "\t\n" or unicodedata.category(c) != "Cc")
    lines, blank_run = [], 0
    for line in unicodedata.normalize("NFC", text).split("\n"):
        line = line.rstrip()
        blank_run = blank_run + 1 if not line else 0
        if blank_run <= max_blank_lines:
            lines.append(line)
    return "\n".join(lines).strip("\n")


# Mostly the characters the rules act on, so that most drawn texts exercise several of them.
_HOSTILE = st.lists(st.sampled_from(["a", "한", "e", "\u0301", "\u1100", "\u1161", " ", "\t", "\u3000", "\n", "\r",
                                    "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\x00", "\x1b",
                                    "\x7f", "\x9f"]), max_size=40).map("".join)


@settings(max_examples=1000)
@given(_HOSTILE, st.integers(0, 3))
def test_same_text_as_the_rules_applied_one_by_one(text, max_blank_lines):
    assert normalize_text(text, max_blank_lines) == rules_one_by_one(text, max_blank_lines)


@settings(max_examples=1000)
@given(_HOSTILE)
def test_output_is_a_fixed_point(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert unicodedata.is_normalized("NFC", once)


def test_a_control_character_between_a_letter_and_its_accent_leaves_them_composed():
    assert normalize_text("cafe\x00\u0301 \u1112\x07\u1161\u11ab") == "café 한"


def test_normalization_is_idempotent():
    raw = "\ufeffTitle \r\n\r\n\r\n\r\n\x07body\u00a0\n\tcode  \n"
    once = normalize_text(raw)
    assert normalize_text(once) == once


def test_step_rejects_documents_that_normalize_to_nothing_and_keeps_the_rest():
    docs = [Document("ko", " 안녕하세요 \r\n", "s"), Document("blank", " \r\n\t\x00\n\u3000", "s"),
            Document("empty", "", "s"), Document("code", "x = 1\n", "s", kind=CODE_KIND)]
    counters = run_step(normalize_step(NormalizeConfig()), docs,
                         kept=[("ko", ""), ("code", "")],
                         rejected=[("blank", "normalize:empty"), ("empty", "normalize:empty")])
    assert counters == {"in": 4, "kept": 2, "rejected:empty": 2}


def test_negative_blank_line_limit_is_a_config_error():
    with pytest.raises(ValueError, match="max_blank_lines"):
        normalize_step(NormalizeConfig(max_blank_lines=-1))
