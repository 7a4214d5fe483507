"""Background prefetching of global steps, so the accelerator does not wait for shard reads between steps.

A thread runs ``ShardLoader.next_step`` ahead of training (``depth`` steps at most) and, on CUDA, copies each
micro-batch into page-locked memory, so the host-to-device copy in the step is asynchronous. The loader state a
checkpoint saves is the state after the last step *handed to training*, recorded by the thread with each step:
batches prefetched but not trained on are read again after a resume, never skipped.
"""
from __future__ import annotations

import queue
import threading
from typing import Any

from trainer.data import ShardLoader, StepBatch

_END = object()


class PrefetchingLoader:
    """``next_step``/``state_dict``/``load_state_dict`` of a ``ShardLoader``, with the reading done ahead."""

    def __init__(self, loader: ShardLoader, depth: int = 2, pin_memory: bool = False) -> None:
        if depth < 1:
            raise ValueError(f"prefetch depth must be >= 1, got {depth}")
        self.loader, self.depth, self.pin_memory = loader, depth, pin_memory
        self._state = loader.state_dict()  # after the last consumed step
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def plans(self):
        return self.loader.plans

    def state_dict(self) -> dict[str, Any]:
        return dict(self._state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._thread is not None:
            raise RuntimeError("load_state_dict after prefetching started")
        self.loader.load_state_dict(state)
        self._state = self.loader.state_dict()

    def next_step(self) -> StepBatch | None:
        if self._thread is None:
            self._queue = queue.Queue(maxsize=self.depth)
            self._thread = threading.Thread(target=self._produce, name="prefetch", daemon=True)
            self._thread.start()
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)  # every later call also sees the end
            return None
        if isinstance(item, BaseException):
            raise item
        batch, state = item
        self._state = state
        return batch

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self.loader.next_step()
                if batch is None:
                    break
                if self.pin_memory:
                    batch.micro_batches = [mb.pin_memory() for mb in batch.micro_batches]
                if not self._put((batch, self.loader.state_dict())):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the training thread, which raises it
            self._put(exc)
            return
        self._put(_END)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Stop the thread (it may be waiting for room in the queue)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
