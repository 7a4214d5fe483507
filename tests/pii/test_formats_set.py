"""The hand-written format set (tests/pii/formats_set.py): well-formed marks, a held-out third,
and the scrubber meets the issue's targets on the part it was tuned on. The held-out part is
scored by benchmarks/pii_eval.py only, so that no test turns it into a tuning set."""
from __future__ import annotations

from pii.placeholders import PII_TYPES
from pii.scrubber import Scrubber
from tests.pii.formats_set import KEEP, RAW, documents


def test_marks_become_spans_over_exactly_their_values_and_every_type_is_present():
    docs = documents()
    assert len(docs) == len(RAW)
    for item in docs:
        assert "⟦" not in item.doc.text and "⟧" not in item.doc.text
        for span in (*item.doc.spans, *item.keep):
            value = item.doc.text[span.start:span.end]
            assert value and value == value.strip()
    assert {span.type for item in docs for span in item.doc.spans} == set(PII_TYPES)
    assert all(span.type == KEEP for item in docs for span in item.keep)


def test_a_third_is_held_out_and_the_split_is_stable():
    heldout = documents("heldout")
    assert 0.2 < len(heldout) / len(RAW) < 0.45
    assert [d.doc.text for d in heldout] == [d.doc.text for d in documents("heldout")]
    assert len(heldout) + len(documents("dev")) == len(RAW)


def test_scrubber_finds_every_dev_value_and_keeps_every_dev_decoy():
    scrubber = Scrubber()
    missed, touched = [], []
    for item in documents("dev"):
        doc = item.doc
        findings = scrubber.find(doc.text, doc.lang, doc.bucket)
        missed += [doc.text[s.start:s.end] for s in doc.spans
                   if not any(f.type == s.type and f.start < s.end and s.start < f.end for f in findings)]
        touched += [doc.text[s.start:s.end] for s in item.keep if any(f.start < s.end and s.start < f.end for f in findings)]
    assert missed == [] and touched == []
