"""Measures a whole process tree from /proc: the proportional set size (PSS) of a command's tree, so a
multi-process Beam run (launcher + SDK workers) is measured as the memory it really takes (shared
pages count once, split between the processes that share them: ``/proc/PID/smaps_rollup``), and the
CPU seconds a tree spends over a block of code (``TreeCpu``), the figure that stays meaningful on a
shared machine where wall time does not."""
from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Iterator


@dataclass
class TreeRun:
    returncode: int
    seconds: float
    peak_pss_bytes: int  # of the whole tree
    output_tail: str
    peak_root_pss_bytes: int = 0  # of the command's own process (a Beam launcher and its runner)
    peak_child_pss_bytes: int = 0  # of the largest other process of the tree (a Beam SDK worker)


_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _processes() -> tuple[dict[int, list[int]], dict[int, float]]:
    """Children of every process, and each process's CPU seconds so far (utime + stime)."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()  # fields[0] is stat's field 3 (state)
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
        cpu[int(name)] = (int(fields[11]) + int(fields[12])) / _TICK
    return children, cpu


def _tree(root: int, children: dict[int, list[int]]) -> Iterator[int]:
    """``root`` and every descendant of it in ``children`` (from ``_processes``)."""
    stack = [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        yield pid


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds so far of ``root`` and each of its descendants, by pid."""
    children, cpu = _processes()
    return {pid: cpu[pid] for pid in _tree(root, children) if pid in cpu}


class TreeCpu:
    """CPU seconds of a process tree (default: this process and its descendants) over a ``with``
    block, sampled every ``interval`` seconds: a process that exits loses at most its last interval.
    ``seconds`` holds the total after the block."""

    def __init__(self, root: int | None = None, interval: float = 0.1):
        self.root, self.interval = root or os.getpid(), interval
        self.seconds = 0.0

    def sample(self) -> None:
        self._last.update(tree_cpu(self.root))

    def __enter__(self) -> "TreeCpu":
        self._start = tree_cpu(self.root)
        self._last = dict(self._start)
        self._done = threading.Event()

        def run() -> None:
            while not self._done.wait(self.interval):
                self.sample()

        self._sampler = threading.Thread(target=run, daemon=True)
        self._sampler.start()
        return self

    def __exit__(self, *_) -> None:
        self._done.set()
        self._sampler.join()
        self.sample()
        self.seconds = sum(seconds - self._start.get(pid, 0.0) for pid, seconds in self._last.items())


def tree_rss(root: int) -> int:
    """Summed resident set size (bytes) of ``root`` and all its descendants now."""
    total = 0
    for pid in _tree(root, _processes()[0]):
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError):
            continue
    return total


def pss_by_process(root: int) -> dict[int, int]:
    """PSS (bytes) of ``root`` and of each of its descendants now, by pid."""
    found = {}
    for pid in _tree(root, _processes()[0]):
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        found[pid] = int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return found


def run_measured(command: list[str], interval: float = 0.25, env: dict | None = None) -> TreeRun:
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    peaks = {"tree": 0, "root": 0, "child": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            now = pss_by_process(process.pid)
            peaks["tree"] = max(peaks["tree"], sum(now.values()))
            peaks["root"] = max(peaks["root"], now.get(process.pid, 0))
            peaks["child"] = max([peaks["child"], *(v for pid, v in now.items() if pid != process.pid)])
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0].decode("utf-8", "replace")
    done.set()
    sampler.join()
    return TreeRun(process.returncode, time.perf_counter() - start, peaks["tree"], output[-4000:],
                   peaks["root"], peaks["child"])
