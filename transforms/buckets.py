"""Per-bucket settings lookup shared by the per-bucket filters (length, repetition, quality,
FineWeb quality).

Their configs have one field per bucket, named after it (``korean``, ``multilingual``,
``code``); a document's ``bucket`` (set by langid, or by the reader from a record's given
``lang`` when langid is disabled) picks the field, and inside the multilingual bucket the
document's language picks FineWeb-2's values for it (``LanguageLimits``).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from corpus.document import BUCKETS, CODE, CODE_KIND, KOREAN, MULTILINGUAL, Document
from corpus.config import ConfigError
from corpus.fineweb2 import LanguageValues, language_values


def bucket_of(doc: Document) -> str:
    """The document's bucket; one still undecided (langid disabled and no given ``lang``) is
    multilingual, the bucket curation files it in (not known to be Korean), and code for code."""
    if doc.bucket in BUCKETS:
        return doc.bucket
    return CODE if doc.kind == CODE_KIND else MULTILINGUAL


def limits_for(config: Any, doc: Document) -> Any:
    """``config.<bucket>`` for the document's bucket."""
    return getattr(config, bucket_of(doc))


def words_lang(doc: Document) -> str:
    """The language whose word tokenizer applies: langid's ``lang``, or Korean for a document
    bucketed korean without it (langid disabled), so Korean is always split into morphemes."""
    if doc.lang:
        return doc.lang
    return "ko" if bucket_of(doc) == KOREAN else ""


class LanguageLimits:
    """Resolves a per-bucket filter config to the limits for one document: its bucket's limits,
    with FineWeb-2's published values for the document's language (``corpus.fineweb2``) in the
    fields those limits name in ``fineweb2_fields``, where FineWeb-2 publishes values for it.
    Memoised per bucket and language."""

    def __init__(self, config: Any):
        self._config = config
        self._resolved: dict[tuple[str, str], Any] = {}
        for bucket in BUCKETS:
            limits = getattr(config, bucket, None)
            if limits is None:  # a filter for some buckets only (FineWeb quality: no code)
                continue
            known = {f.name for f in dataclasses.fields(limits)} & {f.name for f in dataclasses.fields(LanguageValues)}
            for name in getattr(limits, "fineweb2_fields", ()):
                if name not in known:
                    raise ConfigError(f"{bucket}.fineweb2_fields: {name!r} is not a FineWeb-2 value of these "
                                      f"limits (known: {', '.join(sorted(known))})")

    def __call__(self, doc: Document) -> Any:
        key = (bucket_of(doc), words_lang(doc))
        limits = self._resolved.get(key)
        if limits is None:
            limits = getattr(self._config, key[0])
            names = getattr(limits, "fineweb2_fields", ())
            values = language_values(key[1]) if names else None
            if values is not None:
                limits = dataclasses.replace(limits, **{name: _copy(getattr(values, name)) for name in names})
            self._resolved[key] = limits
        return limits


def _copy(value: Any) -> Any:
    """A config-typed copy of a published value (limits hold lists and dicts; the table is frozen)."""
    if isinstance(value, tuple):
        return list(value)
    return dict(value) if isinstance(value, dict) else value
