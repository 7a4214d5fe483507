import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from corpus.config import ConfigError, RenamedKeyWarning, from_dict
from mixtures.build import BuildConfig
from trainer.config import TrainConfig


@dataclass
class Inner:
    threshold: float = 0.5
    names: list[str] = field(default_factory=list)


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    shards: int = 4


def test_nested_values_are_converted_and_defaults_kept():
    cfg = from_dict(Outer, {"inner": {"threshold": 1, "names": ["a"]}})
    assert cfg.inner.threshold == 1.0 and cfg.inner.names == ["a"] and cfg.shards == 4


def test_unknown_key_is_rejected_with_its_path():
    with pytest.raises(ConfigError, match=r"inner\.treshold"):
        from_dict(Outer, {"inner": {"treshold": 0.3}})


def test_wrong_type_is_rejected_with_its_path():
    with pytest.raises(ConfigError, match=r"shards: expected int"):
        from_dict(Outer, {"shards": "8"})
    with pytest.raises(ConfigError, match=r"shards: expected int"):
        from_dict(Outer, {"shards": True})


@dataclass
class Slimmed:
    shards: int = 4
    MOVED_KEYS: ClassVar[dict[str, str]] = {"threshold": "set it as inner.threshold"}


def test_a_moved_key_is_rejected_saying_where_it_lives_now():
    with pytest.raises(ConfigError, match=r"^slim\.threshold: no longer a config key here: set it as inner\.threshold$"):
        from_dict(Slimmed, {"threshold": 0.5}, "slim")


@dataclass
class Renamed:
    parts: int = 2
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"pieces": "parts"}


def test_a_renamed_key_still_reads_under_its_older_name_with_a_warning_naming_the_new_one_but_not_both():
    with pytest.warns(RenamedKeyWarning, match=r"^config key r\.pieces is now called r\.parts; it still reads"):
        assert from_dict(Renamed, {"pieces": 3}, "r").parts == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert from_dict(Renamed, {"parts": 3}).parts == 3
    with pytest.raises(ConfigError, match=r"^r\.pieces: the older name of r\.parts; give only one of them$"):
        from_dict(Renamed, {"pieces": 3, "parts": 3}, "r")


def test_build_and_train_configs_written_before_the_context_phase_rename_still_load_with_warnings():
    with pytest.warns(RenamedKeyWarning) as caught:
        build = from_dict(BuildConfig, {"stages": {"stage1_name": "a", "stage2_seq_len": 8192, "stage2_fraction": 0.2}})
        train = from_dict(TrainConfig, {"stages": {"rope_base": {"stage2_32k": 1e6}, "default_rope_base": 5e4}})
    assert (build.context_phases.phase1_name, build.context_phases.phase2_seq_len,
            build.context_phases.phase2_fraction) == ("a", 8192, 0.2)
    assert train.rope_base("stage2_32k") == 1e6 and train.rope_base("elsewhere") == 5e4
    said = {str(w.message).split(";")[0] for w in caught}
    assert said == {"config key stages is now called context_phases", "config key context_phases.stage1_name is now "
                    "called context_phases.phase1_name", "config key context_phases.stage2_seq_len is now called "
                    "context_phases.phase2_seq_len", "config key context_phases.stage2_fraction is now called "
                    "context_phases.phase2_fraction", "config key stages is now called rope",
                    "config key rope.rope_base is now called rope.base_per_phase",
                    "config key rope.default_rope_base is now called rope.default_base"}


def test_the_default_rope_bases_cover_corpora_built_before_and_after_the_rename():
    config = TrainConfig()
    assert config.rope_base("phase2_32k") == config.rope_base("stage2_32k") == 500_000.0
    assert config.rope_base("phase1_4k") == config.rope_base("stage1_4k") == 10_000.0
