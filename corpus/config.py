"""Strict loading of dataclass configs from YAML or dicts.

Unknown keys and wrong types are errors that name the offending key (``minhash.num_perm: expected
int, got str``): a typo in a 500B-token run's config must fail before the run, not silently fall
back to a default. A dataclass may name keys it no longer has in ``MOVED_KEYS`` (a ClassVar:
key -> where the setting lives now), so that an old config is told where to put it instead of
only "unknown key", and keys it renamed in ``RENAMED_KEYS`` (older name -> name), which still read
with a ``RenamedKeyWarning`` that names the new key.
"""
from __future__ import annotations

import dataclasses
import types
import typing
import warnings
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value or key is invalid; the message names the key path."""


class RenamedKeyWarning(FutureWarning):
    """A config used the older name of a renamed key: it still reads, under the new name."""


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; missing keys keep their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or '<root>'}: expected a mapping, got {type(data).__name__}")
    renamed = getattr(cls, "RENAMED_KEYS", {})  # an older name of a key still reads as the new one
    for old, new in renamed.items():
        if old in data and new in data:
            raise ConfigError(f"{_join(path, old)}: the older name of {_join(path, new)}; give only one of them")
        if old in data:
            warnings.warn(f"config key {_join(path, old)} is now called {_join(path, new)}; it still reads, "
                          f"but rename it (the older name will stop reading)", RenamedKeyWarning, stacklevel=2)
    data = {renamed.get(key, key): value for key, value in data.items()}
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    moved = getattr(cls, "MOVED_KEYS", {})
    for key in unknown:
        if key in moved:
            raise ConfigError(f"{_join(path, key)}: no longer a config key here: {moved[key]}")
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(f"unknown config key {where}{unknown[0]} (known: {', '.join(sorted(fields))})")
    kwargs = {name: _convert(hints[name], value, _join(path, name)) for name, value in data.items()}
    return cls(**kwargs)


def load(cls: type[T], file: str | Path | None) -> T:
    """Load ``cls`` from a YAML file, or its defaults when ``file`` is None."""
    if file is None:
        return cls()
    text = Path(file).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    return from_dict(cls, data)


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain data (for manifests and stats provenance)."""
    return dataclasses.asdict(config)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(option, value, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path}: expected one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, path)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        item = args[0] if args else Any
        items = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        key_t, val_t = args if args else (Any, Any)
        return {_convert(key_t, k, path): _convert(val_t, v, f"{path}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected float, got {type(value).__name__} {value!r}")
        return float(value)
    if hint in (int, str, bool):
        if isinstance(value, bool) and hint is int or not isinstance(value, hint):
            raise ConfigError(f"{path}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported config type {hint!r}")
