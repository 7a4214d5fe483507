"""One writer for every benchmark's result file, ``benchmarks/results/<name>.json``.

Each file holds what a reader needs to trust a figure: when it was measured (UTC), on what machine
(platform, CPU model, cores this process may use, memory, the 1-minute load average when the
benchmark started, so a figure measured on a busy machine says so), the exact command, a few
headline figures and everything else the benchmark measured. ``docs/benchmarks.md`` is generated
from these files (``python -m benchmarks.make_docs``, also run by ``write_result``); no figure is
typed by hand.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
_LOAD_AT_IMPORT = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # before the benchmark loads the machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, ValueError, OSError):
        return None


def machine(**extra: Any) -> dict[str, Any]:
    """The machine a benchmark ran on; ``extra`` adds what only the benchmark knows (a GPU's name)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"platform": platform.platform(), "cpu": _cpu_model(), "cores": cores, "memory_gib": _memory_gib(),
            "python": platform.python_version(),
            "load_average_at_start": None if _LOAD_AT_IMPORT is None else round(_LOAD_AT_IMPORT, 2), **extra}


def command() -> str:
    """The command line as a user would type it from the repository root."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(Path(__file__).resolve().parents[1])
    except ValueError:
        pass
    return " ".join(["python", str(script), *sys.argv[1:]])


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def write_result(name: str, figures: dict[str, Any], *, compares: str = "", headline: dict[str, Any] | None = None,
                 machine_extra: dict[str, Any] | None = None, folder: Path = RESULTS) -> Path:
    """Write ``folder/<name>.json`` and return its path.

    ``figures`` holds everything the benchmark measured, nested freely; ``compares`` says in one
    line what is measured against what; ``headline`` the few figures the summary table shows.
    """
    record = {
        "benchmark": name,
        "compares": compares,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(**(machine_extra or {})),
        "command": command(),
        "headline": headline or {},
        "figures": figures,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=_plain) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    if folder == RESULTS:
        from benchmarks.make_docs import write_page  # the page follows its results at once
        print(f"wrote {write_page()}")
    return path
