"""Local glob expansion that never follows a directory symlink into a loop, and counts what it skips.

Python's ``glob.glob(pattern, recursive=True)`` follows symlinked directories under ``**``: a link
back to an ancestor makes it read every file again at each level, until the path length limit
(about 40 times). Here ``**`` walks real directories only; a symlinked directory it meets is not
entered and is counted (``symlinked_dir``), as is a hidden entry (``hidden``) that the pattern
would otherwise have matched. Every other rule is glob's: ``*``/``?``/``[...]`` match within one
path component, case-sensitively; a component that does not start with ``.`` does not match hidden
names; a symlinked directory named by a literal or a one-level wildcard component is followed (a
bounded step, no loop); a pattern with ``**`` matches files, not directories.

Object-store URLs have no symlinks; they go through ``corpus.storage.match``. A directory ``**`` cannot list is counted
(``unreadable_dir``).
"""
from __future__ import annotations

import fnmatch
import glob
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

RECURSIVE = "**"


@dataclass
class Expansion:
    paths: list[str]  # sorted, unique
    root: str  # the literal directory before the first wildcard component ("" for the working directory)
    skipped: Counter = field(default_factory=Counter)  # rule -> entries not matched because of it


def literal_root(pattern: str) -> str:
    """The directory part of ``pattern`` before its first wildcard component."""
    parts = pattern.split("/")
    literal = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        literal.append(part)
    root = "/".join(literal)
    return root or ("/" if pattern.startswith("/") else "")


def is_recursive(pattern: str) -> bool:
    return RECURSIVE in pattern.split("/")


def expand(pattern: str) -> Expansion:
    """Every existing local path ``pattern`` matches (see the module docstring)."""
    root = literal_root(pattern)
    if not glob.has_magic(pattern):
        return Expansion([pattern] if os.path.lexists(pattern) else [], root)
    skipped: Counter = Counter()
    parts = pattern.split("/")
    base, parts = ("/", parts[1:]) if pattern.startswith("/") else ("", parts)
    found = set(_select(base, parts, skipped, is_recursive(pattern)))
    if is_recursive(pattern):
        found = {path for path in found if not os.path.isdir(path)}
    return Expansion(sorted(found), root, skipped)


def _join(base: str, name: str) -> str:
    return name if not base else base + name if base.endswith("/") else f"{base}/{name}"


def _select(base: str, parts: list[str], skipped: Counter, recursive: bool) -> Iterator[str]:
    if not parts:
        yield base
        return
    head, rest = parts[0], parts[1:]
    if head == RECURSIVE and not rest:  # "a/**": every file under a (directories are walked, not matched)
        for directory in _real_subtree(base, skipped):
            for entry in _entries(directory):
                if _is_dir(entry):
                    continue
                if entry.name.startswith("."):
                    skipped["hidden"] += 1
                else:
                    yield _join(directory, entry.name)
    elif head == RECURSIVE:
        for directory in _real_subtree(base, skipped):
            yield from _select(directory, rest, skipped, recursive)
    elif glob.has_magic(head):
        for entry in _entries(base):
            if not fnmatch.fnmatchcase(entry.name, head):
                continue
            if entry.name.startswith(".") and not head.startswith("."):
                # counted only where it could have matched (a ``**`` pattern matches files; its walk counts directories)
                if _is_dir(entry) == bool(rest) or (not rest and not recursive):
                    skipped["hidden"] += 1
                continue
            path = _join(base, entry.name)
            if not rest:
                yield path
            elif _is_dir(entry):
                yield from _select(path, rest, skipped, recursive)
    elif head == "":  # "a//b" or a trailing "/": glob keeps the separator
        yield from _select(base + "/" if base and not base.endswith("/") else base, rest, skipped, recursive)
    else:
        path = _join(base, head)
        if not rest:
            if os.path.lexists(path):
                yield path
        elif os.path.isdir(path):
            yield from _select(path, rest, skipped, recursive)


def _real_subtree(base: str, skipped: Counter) -> Iterator[str]:
    """``base`` and every directory under it, not entering symlinked or hidden directories."""
    if not os.path.isdir(base or "."):
        return
    yield base
    for entry in _entries(base, skipped):
        if not _is_dir(entry):
            continue
        if entry.is_symlink():
            skipped["symlinked_dir"] += 1
        elif entry.name.startswith("."):
            skipped["hidden"] += 1
        else:
            yield from _real_subtree(_join(base, entry.name), skipped)


def _entries(base: str, skipped: Counter | None = None) -> list[os.DirEntry]:
    try:
        with os.scandir(base or ".") as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:  # not a directory, vanished, unreadable: glob matches nothing there either
        if skipped is not None:  # a directory ``**`` could not list (permission denied)
            skipped["unreadable_dir"] += 1
        return []


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False
