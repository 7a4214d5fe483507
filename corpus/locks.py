"""One process per output directory: ``run`` (OUT) and ``train`` (RUN_DIR) hold a lock while they work.

The lock is the file ``DIR/.lock``, held with ``flock`` and holding its owner's PID, host and
command. The kernel drops a ``flock`` when its holder dies, however it dies (``kill -9`` included),
so a lock left by a dead process is stale by construction and the next process takes it over
(rewriting the PID); there is no PID-reuse guess. A live holder makes the second process fail at
once with ``LockedError`` naming the directory and the holder's PID, instead of two trainers
writing the same checkpoints. ``flock`` works on local disks and on NFSv4 (Linux emulates it with
byte-range locks there). Child processes do not inherit the lock (the descriptor is close-on-exec
and ``subprocess`` closes it).
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".lock"


class LockedError(RuntimeError):
    """Another live process holds the directory's lock."""


def holder(directory: str | Path) -> dict | None:
    """What the lock file says about its (last) owner, or None."""
    try:
        return json.loads((Path(directory) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextmanager
def directory_lock(directory: str | Path, command: str) -> Iterator[Path]:
    """Hold ``directory``'s lock (the directory is created) for the body; see the module docstring."""
    path = Path(directory) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, command)
    try:
        yield path
    finally:
        try:
            path.unlink()  # while still held: a waiting process then finds no file, or its own
        except OSError:
            pass
        os.close(fd)


def _acquire(path: Path, command: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = holder(path.parent) or {}
            raise LockedError(
                f"{path.parent} is in use by PID {owner.get('pid', '?')} on {owner.get('host', '?')} "
                f"({owner.get('command', '?')}, since {owner.get('started', '?')}); wait for it to finish or "
                f"stop it") from None
        except BaseException:
            os.close(fd)
            raise
        # The previous holder may have unlinked the file between our open and our flock: then we
        # hold a lock on a file nobody else can see. Retry on the current file.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    stale = holder(path.parent)
    if stale and stale.get("pid") != os.getpid():
        print(f"{path.parent}: taking over the lock of PID {stale.get('pid')} (no longer running)", file=sys.stderr)
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(owner).encode("utf-8") + b"\n", 0)
    return fd
