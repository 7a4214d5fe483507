"""Child processes that die with their parent: a step that ``run`` starts as a process (the trainer,
the export) never outlives it, so a rerun after a kill never finds a live child writing the same
checkpoints.

Two mechanisms, for the two ways a parent dies:

- killed outright (``kill -9``, the OOM killer): the child is started through this module, which
  asks Linux to send it SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``, via ctypes)
  before it runs the step's module. Done in the child itself, not in a ``preexec_fn``, which is
  unsafe in a parent that has threads (Beam's, after curate ran in-process);
- stopped by a signal it can handle (SIGTERM, SIGINT, SIGHUP): ``run_child`` forwards SIGTERM to the
  child's whole process group (it runs in a session of its own, so grandchildren are included),
  which lets the trainer checkpoint and exit; after ``GRACE_SECONDS`` the group is killed. The
  parent then exits with status 128 + the signal number.

Elsewhere than Linux only the second applies.
"""
from __future__ import annotations

import ctypes
import os
import runpy
import signal
import subprocess
import sys
import time

from corpus import allocator

GRACE_SECONDS = 60.0  # a trainer's last step and checkpoint; then the group is killed
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def run_child(module: str, argv: list[str], grace_seconds: float = GRACE_SECONDS) -> int:
    """``python -m module *argv`` as a child that dies with this process; returns its exit code.
    The child (the trainer, the export) does not inherit the malloc settings a curate or build step
    of this process applied for its Beam workers (``corpus.allocator``)."""
    child = subprocess.Popen([sys.executable, "-m", __name__, str(os.getpid()), module, *argv],
                             start_new_session=True, env=allocator.environment_without_applied())
    received: list[int] = []

    def forward(signum: int, _frame) -> None:
        received.append(signum)
        _signal_group(child.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        deadline = None
        while True:
            if received and deadline is None:
                deadline = time.monotonic() + grace_seconds
            try:
                returncode = child.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() > deadline:
                    _signal_group(child.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _signal_group(child.pid, signal.SIGKILL)  # whatever the child left behind in its group
    if received:
        print(f"{module}: stopped by signal {received[0]}; the child process group is gone", file=sys.stderr)
        raise SystemExit(128 + received[0])
    return returncode


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # the group is gone already
        pass


def main(argv: list[str]) -> None:
    """``python -m corpus.child_process PARENT_PID MODULE ARGS...``: the child side."""
    parent, module, args = int(argv[0]), argv[1], argv[2:]
    die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        raise SystemExit(f"{module}: parent process {parent} is gone; not starting")
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
