"""Beam counters whose names are known only while processing (a rejection rule, a PII type, a FIM
mode), created on first use so a DoFn pickles without them."""
from __future__ import annotations

from apache_beam.metrics import Metrics


class LazyCounters:
    """``inc(name, n)`` on the counter ``namespace/name``, made the first time ``name`` is seen."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._counters: dict = {}

    def inc(self, name: str, n: int = 1) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(self.namespace, name)
        counter.inc(n)
