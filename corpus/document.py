"""The records that flow through curation: a Document, its Rejection, and a ReadError.

Every input record becomes exactly one of: a kept Document, a Rejection (reason
``<step>:<rule>``), or a ReadError (unreadable input). That is what makes the
funnel ``read == kept + rejected + errors`` hold by construction.
"""
from __future__ import annotations

from dataclasses import dataclass, field

KOREAN, MULTILINGUAL, CODE = "korean", "multilingual", "code"
BUCKETS: tuple[str, ...] = (KOREAN, MULTILINGUAL, CODE)
# Shard contract (DESIGN.md): seg_buckets stores these ids.
BUCKET_IDS: dict[str, int] = {KOREAN: 0, MULTILINGUAL: 1, CODE: 2}

TEXT_KIND, CODE_KIND = "text", "code"


@dataclass
class Document:
    """One document. ``kind`` says how it entered (``--input`` text or ``--code-input`` code);
    ``bucket`` is decided by language ID for text and is always ``code`` for code."""

    id: str  # unique by construction: the record's location (``corpus.readers``)
    text: str
    source: str
    kind: str = TEXT_KIND
    input: str = ""  # the file it was read from: the key of the per-input funnel
    bucket: str = ""
    lang: str = ""
    lang_score: float = 0.0
    knowledge: float = 0.0
    pii: int = 0
    # The placeholders the PII step wrote, as (start, length, type) in code points of ``text``
    # (curated column ``pii_spans``); the build encodes exactly these as reserved ids.
    pii_spans: tuple[tuple[int, int, str], ...] = ()
    meta: dict[str, str] = field(default_factory=dict)  # path, license, given lang, ...
    source_id: str | None = None  # the record's own ``id`` field, when it had one
    # Compact form of ``id`` for shuffles: input shard << 32 | record ordinal (``corpus.readers``).
    uid: int = 0
    cluster_size: int = 1  # size of the near-duplicate cluster this survivor stands for (MinHash)


@dataclass
class Rejection:
    """A document removed by a step; ``reason`` is ``<step>:<rule>`` (e.g. ``length:too_short``).
    ``detail`` carries what a reader needs to audit it (a score, the surviving duplicate's location).

    ``keep_text`` False: ``OUT/rejected/`` stores no text for it, because the text is kept
    elsewhere: an exact duplicate's text is its survivor's, which ``detail`` locates (at web scale
    duplicates are a large share of the input; a second copy of each, PII-scrubbed, would cost
    more than the dedup). ``chars``: the characters of ``doc.text`` as the step rejected it,
    filled in on creation; the funnel and the report count these, whatever is stored."""

    doc: Document
    reason: str
    detail: str = ""
    keep_text: bool = True
    chars: int = -1

    def __post_init__(self) -> None:
        if self.chars < 0:  # a step may reject a document whose text is broken (not a str): 0
            self.chars = len(self.doc.text) if isinstance(self.doc.text, str) else 0


@dataclass
class ReadError:
    """An input record that could not be turned into a Document (invalid UTF-8, malformed JSON,
    missing ``text``...). ``location`` is ``path:line`` for line formats, ``path`` for whole files.
    ``records`` is how many input records it stands for: 1 for a record, the rows its footer
    declares for an unreadable Parquet row group or file."""

    input: str
    location: str
    error: str
    excerpt: str = ""
    records: int = 1
    uid: int = 0  # shard << 32 | records read before it in that shard: where curate files it
