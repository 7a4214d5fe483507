"""Runs a command and samples the proportional set size (PSS) of its whole process tree, so a
multi-process Beam run (launcher + SDK workers) is measured as the memory it really takes: shared
pages count once, split between the processes that share them (Linux ``/proc/PID/smaps_rollup``)."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass


@dataclass
class TreeRun:
    returncode: int
    seconds: float
    peak_pss_bytes: int
    output_tail: str


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    return children


def tree_pss(root: int) -> int:
    """Summed PSS (bytes) of ``root`` and all its descendants now."""
    children, total, stack = _children(), 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def run_measured(command: list[str], interval: float = 0.25, env: dict | None = None) -> TreeRun:
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_pss(process.pid))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0].decode("utf-8", "replace")
    done.set()
    sampler.join()
    return TreeRun(process.returncode, time.perf_counter() - start, peak[0], output[-4000:])
