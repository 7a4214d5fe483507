"""Counts the bytes that enter each shuffle of a curate phase, so stats.json can show that only
small records (ids, hashes, band keys, verdicts) move and never the text.

``ShuffleMeter.group_by_key(pcoll, label)`` is ``beam.GroupByKey`` preceded by a measuring step:
every element is encoded with Beam's ``FastPrimitivesCoder`` (the coder a runner uses for such
untyped key/value tuples) and its size is added to a Beam counter ``shuffle:<label>`` (visible in
the runner's UI) and to a per-bundle total that ``totals`` sums into one deterministic dict
(label -> bytes) for stats.json. ``co_group_by_key`` measures each tagged input the same way.
What is shuffled must be plain tuples, ints, bytes and strings: their encoding does not depend
on the process (a pickled object's size does: shared references are memoized), so the reported
bytes are the same on every runner and worker count.
"""
from __future__ import annotations

from typing import Iterable

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

SIZES = "sizes"
_CODER = FastPrimitivesCoder()


def encoded_size(element: object) -> int:
    return len(_CODER.encode(element))


class _MeasureFn(beam.DoFn):
    def __init__(self, label: str):
        self._label = label
        self._counter = Metrics.counter("shuffle", label)

    def start_bundle(self) -> None:
        self._bytes = 0

    def process(self, element: object) -> Iterable:
        self._bytes += encoded_size(element)
        yield element

    def finish_bundle(self) -> Iterable:
        if self._bytes:
            self._counter.inc(self._bytes)
            yield beam.pvalue.TaggedOutput(SIZES, WindowedValue((self._label, self._bytes), MIN_TIMESTAMP,
                                                                [GlobalWindow()]))


class ShuffleMeter:
    """One per pipeline; every shuffle of the curate phases goes through it."""

    def __init__(self) -> None:
        self._sizes: list[beam.PCollection] = []

    def measure(self, pcoll: beam.PCollection, label: str) -> beam.PCollection:
        measured = pcoll | f"Measure {label}" >> beam.ParDo(_MeasureFn(label)).with_outputs(SIZES, main="elements")
        self._sizes.append(measured[SIZES])
        return measured["elements"]

    def group_by_key(self, pcoll: beam.PCollection, label: str) -> beam.PCollection:
        return self.measure(pcoll, label) | label >> beam.GroupByKey()

    def co_group_by_key(self, tagged: dict[str, beam.PCollection], label: str) -> beam.PCollection:
        measured = {tag: self.measure(pcoll, f"{label} {tag}") for tag, pcoll in tagged.items()}
        return measured | label >> beam.CoGroupByKey()

    def reshuffle(self, pcoll: beam.PCollection, label: str) -> beam.PCollection:
        return self.measure(pcoll, label) | label >> beam.Reshuffle()

    def totals(self, pipeline: beam.Pipeline) -> beam.PCollection:
        """One dict label -> bytes (labels with no bytes are absent)."""
        sizes = self._sizes or [pipeline | "NoShuffles" >> beam.Create([])]
        return (sizes
                | "AllShuffleSizes" >> beam.Flatten()
                | "SumShuffleSizes" >> beam.CombinePerKey(sum)
                | "ShuffleSizes" >> beam.combiners.ToDict())
