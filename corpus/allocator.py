"""glibc malloc settings that keep a long Beam job's memory from growing with its input.

A Beam worker (and the DirectRunner's launcher) is a process with many threads (gRPC, the SDK
harness's bundle threads) that allocates and frees buffers of every size: encoded bundles,
10 MB output-stream buffers, decoded groups. Under glibc's defaults such a process keeps memory it
has freed: each thread gets its own malloc arena (up to 8 per core), and after a large block is
freed the mmap threshold rises (up to 32 MB), so later large buffers are carved from those arenas
and their freed pages stay resident between live objects: the build's peak memory then grew with its
input mostly for this reason (docs/scale-out.md has the measurement). The settings:

- ``MALLOC_ARENA_MAX=2``: two arenas per process (its threads mostly wait on the GIL anyway);
- ``MALLOC_MMAP_THRESHOLD_=1 MiB`` (fixed, so glibc no longer raises it): blocks from 1 MiB up are
  their own mappings, returned to the system when freed;
- ``MALLOC_TRIM_THRESHOLD_=1 MiB``: free memory at the top of a heap is given back from 1 MiB.

``apply`` sets them for the calling process (``mallopt``) and, through the environment, for every
process it starts afterwards (Beam's worker processes read them when they start).
``beam_pipeline.py`` applies them for ``curate`` and ``build`` only: the tokenizer's trainer is
one multi-threaded Rust process whose threads would share the two arenas (``run`` runs its steps in
one process, so there they hold from its first curate or build on, for its tokenizer step too;
its trainer and export run as children without them, ``corpus.child_process``). A variable the
user has already set is left as it is (as is all of it where ``GLIBC_TUNABLES`` tunes malloc),
and ``KORPUS_MALLOC_DEFAULTS=1`` keeps glibc's defaults
altogether (for a preloaded allocator such as jemalloc, or to measure the difference:
``benchmarks/build_allocator.py``). Other C libraries (musl, macOS) have no such knobs: there
``apply`` does nothing. Workers a remote runner starts (Dataflow, Flink, Spark) get the settings
only from their own environment (a container's ``ENV``); see docs/scale-out.md.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

# variable -> (value, mallopt parameter number from glibc's malloc.h)
SETTINGS: dict[str, tuple[int, int]] = {
    "MALLOC_ARENA_MAX": (2, -8),  # M_ARENA_MAX
    "MALLOC_MMAP_THRESHOLD_": (1 << 20, -3),  # M_MMAP_THRESHOLD
    "MALLOC_TRIM_THRESHOLD_": (1 << 20, -1),  # M_TRIM_THRESHOLD
}

OPT_OUT = "KORPUS_MALLOC_DEFAULTS"
_applied: dict[str, str] = {}  # what apply() set in os.environ, for environment_without_applied


def apply() -> dict[str, str]:
    """Apply ``SETTINGS`` not already in the environment to this process and its future children;
    returns those applied (empty off glibc, with ``OPT_OUT=1``, or where ``GLIBC_TUNABLES`` already
    tunes malloc)."""
    if (platform.libc_ver()[0] != "glibc" or os.environ.get(OPT_OUT) == "1"
            or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")):
        return {}
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    applied = {}
    for name, (value, parameter) in SETTINGS.items():
        if name in os.environ:  # the user's choice; glibc read it when this process started
            continue
        if libc.mallopt(parameter, value) != 1:
            logging.warning("allocator: mallopt(%s=%d) failed; glibc's default stays", name, value)
            continue
        os.environ[name] = applied[name] = str(value)
    _applied.update(applied)
    return applied


def environment_without_applied() -> dict[str, str]:
    """This process's environment without what ``apply`` set: for children that are not Beam
    workers (the trainer, the export), which should run with glibc's defaults or the user's."""
    return {k: v for k, v in os.environ.items() if k not in _applied}
