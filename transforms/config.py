"""The curation config: one field per step, each step's dataclass defined beside its code.

Load with ``corpus.config.load(CurateConfig, path)``; unknown keys and wrong types are errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from corpus.config import ConfigError
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
    """How the published Parquet is cut: each output (a curated bucket, rejected, errors) is its
    rows in read order (input shard, then line), cut into ``part-*.parquet`` files of about
    ``target_shard_bytes`` compressed bytes each (whole row groups of at most
    ``row_group_bytes`` of text); the number of files follows from the data. Byte-identical on any
    runner and worker count (``transforms/publish.py``)."""

    target_shard_bytes: int = 256 * 1024 * 1024
    row_group_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.target_shard_bytes < 1 or self.row_group_bytes < 1:
            raise ConfigError("output.target_shard_bytes and output.row_group_bytes: expected positive ints")


@dataclass
class CurateConfig:
    """Curation: reading, then the steps in ``beam_pipeline.curate_steps`` order; each has ``enabled``."""

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
