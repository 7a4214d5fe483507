"""The curation config: one field per stage, each stage's dataclass defined beside its code.

Load with ``corpus.config.load(CurateConfig, path)``; unknown keys and wrong types are errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from corpus.readers import ReaderConfig
from transforms.decontamination import DecontaminationConfig
from transforms.knowledge import KnowledgeConfig
from transforms.exact_dedup import ExactDedupConfig
from transforms.fineweb_quality import FineWebQualityConfig
from transforms.langid import LangIdConfig
from transforms.length import LengthConfig
from transforms.minhash import MinHashConfig
from transforms.normalize import NormalizeConfig
from transforms.pii import PiiConfig
from transforms.quality import QualityConfig
from transforms.repetition import RepetitionConfig


@dataclass
class OutputConfig:
    """How curated/rejected Parquet is sharded. Rows are hash-partitioned by id into a fixed number
    of shards and sorted by id inside each, so reruns are byte-identical on any runner."""

    curated_shards: int = 4
    rejected_shards: int = 2
    errors_shards: int = 1


@dataclass
class CurateConfig:
    """Curation: reading, then the stages in ``beam_pipeline.curate_stages`` order; each has ``enabled``."""

    output: OutputConfig = field(default_factory=OutputConfig)
    read: ReaderConfig = field(default_factory=ReaderConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    langid: LangIdConfig = field(default_factory=LangIdConfig)
    length: LengthConfig = field(default_factory=LengthConfig)
    repetition: RepetitionConfig = field(default_factory=RepetitionConfig)
    fineweb_quality: FineWebQualityConfig = field(default_factory=FineWebQualityConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    exact_dedup: ExactDedupConfig = field(default_factory=ExactDedupConfig)
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    decontamination: DecontaminationConfig = field(default_factory=DecontaminationConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
