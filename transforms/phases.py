"""Curate's phases: which steps run in which Beam job, and when a finished phase can be reused.

The step list (``beam_pipeline.curate_steps``) is cut at every verdict step
(``transforms/verdicts.py``: exact dedup, MinHash): phase 1 reads the inputs and runs the
per-document steps before the first verdict step; each later phase applies one verdict step's
decisions (the first also the duplicate-source-id check) and runs the per-document steps up to
the next one. The default config gives ``1-filter``, ``2-dedup.exact``, ``3-dedup.minhash``; the
last phase runs decontamination, PII and knowledge scoring and writes curated rows per bucket.

Each phase writes ``OUT/_phases/<phase>/`` (``transforms/phase_io.py``) and, last, a completion
marker (``corpus.completion``) holding its *fingerprint*: a hash of the previous phase's
fingerprint, the phase files' format, the phase's steps, the config sections they (and the next
phase's annotations) read, the sizes and modification times of the local files those sections
name (models, eval sets) and, for phase 1, the input listing with sizes. A rerun skips a phase
whose marker holds the same fingerprint (its output would be byte-identical) and reruns from the
first phase whose fingerprint differs: a changed PII setting reruns only the last phase and the
publish step.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from corpus import storage
from corpus.completion import read_marker
from corpus.config import to_dict
from corpus.readers import InputShard
from transforms.unique_ids import UniqueSourceIds
from transforms.verdicts import VerdictStep

PHASES_DIR = "_phases"
PHASE_STATS = "phase.json"
# The layout of the phase files (their schemas); part of every fingerprint, so a rerun by a
# korpus whose layout differs (2: rejected rows gained ``chars``) redoes the phases.
PHASE_FILES_FORMAT = 2
# step label -> the CurateConfig section it reads; a label not here is an error (UnmappedStepError)
CONFIG_SECTION = {"normalize": "normalize", "langid": "langid", "length": "length", "repetition": "repetition",
                  "fineweb_quality": "fineweb_quality", "quality": "quality", "knowledge": "knowledge",
                  "dedup.exact": "exact_dedup",
                  "dedup.minhash": "minhash", "decontam": "decontamination", "pii": "pii",
                  UniqueSourceIds.label: "read"}


@dataclass
class Phase:
    index: int
    name: str
    verdict_steps: list[VerdictStep] = field(default_factory=list)
    doc_steps: list = field(default_factory=list)  # per-document PTransforms, in order

    @property
    def dirname(self) -> str:
        return f"{self.index + 1}-{self.name}"

    @property
    def marker_name(self) -> str:
        """The name its completion marker (``corpus.completion``) records."""
        return f"curate.{self.name}"

    def labels(self) -> list[str]:
        return [s.label for s in (*self.verdict_steps, *self.doc_steps)]


def plan_phases(steps: list) -> list[Phase]:
    """Cut the step list into phases (see the module docstring)."""
    phases = [Phase(0, "filter")]
    for step in steps:
        if isinstance(step, VerdictStep):
            first_verdicts = [UniqueSourceIds()] if len(phases) == 1 else []
            phases.append(Phase(len(phases), step.label, [*first_verdicts, step]))
        else:
            phases[-1].doc_steps.append(step)
    if len(phases) == 1:  # no dedup: source ids are still checked, in a phase of their own
        phases.append(Phase(1, "unique_ids", [UniqueSourceIds()]))
    return phases


def phase_dir(out: str, phase: Phase) -> str:
    return storage.join(out, PHASES_DIR, phase.dirname)


def _files_named_in(value: Any) -> list[list]:
    """(path, size, mtime) of every existing local file a config section names."""
    found = []
    if isinstance(value, dict):
        for item in value.values():
            found += _files_named_in(item)
    elif isinstance(value, list):
        for item in value:
            found += _files_named_in(item)
    elif isinstance(value, str) and value and not storage.is_url(value) and os.path.isfile(value):
        stat = os.stat(value)
        found.append([value, stat.st_size, stat.st_mtime_ns])
    return found


class UnmappedStepError(KeyError):
    """A curate step whose label ``CONFIG_SECTION`` does not map: its fingerprint would not know
    which settings it reads."""


def _section(config: Any, label: str) -> Any:
    section = CONFIG_SECTION.get(label)
    if section is None:  # fingerprinting the whole config once hid a step's own settings (a minhash
        raise UnmappedStepError(  # change reran the filters); a new step must name its section
            f"curate step {label!r} has no config section in transforms/phases.py CONFIG_SECTION")
    value = to_dict(config).get(section)
    return {"label": label, "config": value, "files": _files_named_in(value)}


def input_listing(shards: list[InputShard]) -> list[list]:
    listing = []
    for shard in shards:
        for item in shard.files:
            size = mtime = None
            if not storage.is_url(item.path) and os.path.exists(item.path):
                stat = os.stat(item.path)
                size, mtime = stat.st_size, stat.st_mtime_ns
            listing.append([item.path, item.kind, item.input, item.format, size, mtime])
    return listing


def fingerprints(phases: list[Phase], config: Any, shards: list[InputShard], kinds: dict[str, str]) -> list[str]:
    """One fingerprint per phase (see the module docstring)."""
    out, previous = [], ""
    for i, phase in enumerate(phases):
        following = phases[i + 1].verdict_steps if i + 1 < len(phases) else []
        body = {"format": PHASE_FILES_FORMAT, "previous": previous, "phase": phase.dirname,
                "steps": [_section(config, label) for label in phase.labels()],
                "annotations_for": [_section(config, s.label) for s in following],
                "row_group_bytes": config.output.row_group_bytes}
        if i == 0:
            body["inputs"] = input_listing(shards)
            body["kinds"] = kinds
            body["read"] = to_dict(config).get("read")
        previous = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        out.append(previous)
    return out


def is_complete(directory: str, step: str, fingerprint: str) -> bool:
    marker = read_marker(directory)
    return (marker is not None and marker.get("step") == step
            and marker.get("produced", {}).get("fingerprint") == fingerprint
            and storage.exists(storage.join(directory, PHASE_STATS)))


def remove_stale_phases(out: str, phases: list[Phase]) -> None:
    """Phase directories of another step list (an older config) are deleted."""
    root = storage.join(out, PHASES_DIR)
    wanted = {p.dirname for p in phases}
    names = {name.split("/", 1)[0] for name in storage.list_files(root)}
    for name in sorted(names - wanted):
        storage.remove(storage.join(root, name))
