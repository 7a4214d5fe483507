"""Presidio's recognizer classes, imported without the machine-learning stacks this project never
runs (``corpus.optional_imports``: the recognizers in ``pii/recognizers`` are rules on the raw text
and run no NLP model)."""
from __future__ import annotations

from corpus.optional_imports import without_ml_stacks

with without_ml_stacks():
    import presidio_analyzer  # noqa: F401

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult  # noqa: E402
from presidio_analyzer.nlp_engine import NlpArtifacts  # noqa: E402
from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS  # noqa: E402

__all__ = ["EntityRecognizer", "NlpArtifacts", "Pattern", "PatternRecognizer", "REGEX_TIMEOUT_SECONDS",
           "RecognizerResult"]
