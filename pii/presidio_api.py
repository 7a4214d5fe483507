"""Presidio's recognizer classes, imported without the machine-learning stacks this project never runs.

``import presidio_analyzer`` imports every NLP engine it ships: the Transformers engine pulls in
``transformers`` and ``torch``, and its device detector and spaCy's ``thinc`` import ``torch`` again
to look for a GPU. That is 4-9 s and a few hundred MB per process (measured on the 2-core machine),
paid by every Beam worker that scrubs, although the recognizers here are rules on the raw text and
run no NLP model (``pii/recognizers/base.py``). Each of those imports is optional upstream (a
``try: import ... except ImportError``), so while Presidio is first imported the two packages are
masked in ``sys.modules``, which makes their import raise ``ImportError``; Presidio then runs
without its Transformers engine, on CPU. Packages already imported are left as they are, and the
masks are removed afterwards, so a later ``import torch`` (the trainer in the same process) works.
"""
from __future__ import annotations

import sys

_OPTIONAL_STACKS = ("transformers", "torch")


def _import_presidio() -> None:
    masked = [name for name in _OPTIONAL_STACKS if name not in sys.modules]
    for name in masked:
        sys.modules[name] = None  # type: ignore[assignment]  # the documented way to make an import fail
    try:
        import presidio_analyzer  # noqa: F401
    finally:
        for name in masked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


_import_presidio()

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult  # noqa: E402
from presidio_analyzer.nlp_engine import NlpArtifacts  # noqa: E402
from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS  # noqa: E402

__all__ = ["EntityRecognizer", "NlpArtifacts", "Pattern", "PatternRecognizer", "REGEX_TIMEOUT_SECONDS",
           "RecognizerResult"]
