"""Curate's last step: the published ``part-NNNNN-of-MMMMM.parquet`` files, cut by size.

The phases leave each output as per-shard files in read order (``transforms/phase_io.py``), their
row groups already bounded in size. ``plan_parts`` walks an output's row groups in order (shard,
then read order) and starts a new part whenever the current one has reached
``output.target_shard_bytes`` (compressed bytes, as the files will be on disk), so the number of
parts follows from the data; ``WriteParts`` copies each part's row groups, one at a time, into
its file. Order and cuts depend only on the rows: identical bytes on any runner or worker count.
An output with no rows is one part with zero rows, so a reader always finds its schema.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from corpus import storage
from corpus.parquet import ParquetStreamWriter, shard_name
from corpus.shuffle_meter import ShuffleMeter
from transforms.phase_io import WrittenFile


@dataclass(frozen=True)
class PartPlan:
    destination: str  # the part file's full path
    row_groups: tuple[tuple[str, int], ...]  # (source file, row group index), in order
    rows: int
    schema: pa.Schema


def plan_parts(directory: str, sources: list[tuple[str, WrittenFile]], schema: pa.Schema,
               target_bytes: int) -> list[PartPlan]:
    """``sources``: (absolute path, what was written there), in output order."""
    groups: list[list[tuple[str, int, int]]] = [[]]
    size = 0
    for path, written in sources:
        for index, (rows, compressed) in enumerate(written.row_groups):
            if size >= target_bytes:
                groups.append([])
                size = 0
            groups[-1].append((path, index, rows))
            size += compressed
    count = len(groups)
    return [PartPlan(storage.join(directory, shard_name(i, count)), tuple((p, g) for p, g, _ in group),
                     sum(rows for _, _, rows in group), schema)
            for i, group in enumerate(groups)]


class _WritePartFn(beam.DoFn):
    def __init__(self) -> None:
        self._rows = Metrics.counter("publish", "rows_written")

    def process(self, part: PartPlan) -> Iterator[str]:
        writer = ParquetStreamWriter(part.destination, part.schema)
        try:
            opened: dict[str, tuple] = {}
            for path, index in part.row_groups:
                if path not in opened:
                    for handle, _ in opened.values():
                        handle.close()
                    handle = storage.open_read(path)
                    opened = {path: (handle, pq.ParquetFile(handle))}
                table = opened[path][1].read_row_group(index, columns=part.schema.names)
                writer.write_table(table)
            for handle, _ in opened.values():
                handle.close()
        except BaseException:
            writer.abort()
            raise
        writer.close()
        self._rows.inc(part.rows)
        yield part.destination


class WriteParts(beam.PTransform):
    """Part plans -> the paths written. Only the plans (file names and row-group indices) are
    shuffled, to spread the parts over workers."""

    def __init__(self, parts: list[PartPlan], meter: ShuffleMeter):
        super().__init__()
        self._parts, self._meter = parts, meter

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        parts = pbegin | "Parts" >> beam.Create(self._parts, reshuffle=False)
        return self._meter.reshuffle(parts, "SpreadParts") | "WritePart" >> beam.ParDo(_WritePartFn())
