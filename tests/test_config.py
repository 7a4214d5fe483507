from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from corpus.config import ConfigError, from_dict


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
    phases: int = 2
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"stages": "phases"}


def test_a_renamed_key_still_reads_under_its_older_name_but_not_both():
    assert from_dict(Renamed, {"stages": 3}).phases == 3 == from_dict(Renamed, {"phases": 3}).phases
    with pytest.raises(ConfigError, match=r"^r\.stages: the older name of r\.phases; give only one of them$"):
        from_dict(Renamed, {"stages": 3, "phases": 3}, "r")
