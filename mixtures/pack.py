"""Pack one stage: concatenate segments into rows of exactly ``seq_len``, shuffle, write shards.

1. Pack groups. Every unit (a document copy's segments, each ending with ``<|endoftext|>``) goes
   to group ``key % G`` with ``G = ceil(stage tokens / group_tokens)``; a worker sorts its group by
   the units' hashed keys (a deterministic shuffle of document order), concatenates the segments and
   cuts rows of exactly ``seq_len`` tokens. Rows are *planned* here (``RowPlan``: token-store
   ranges and segment columns); no token is read until the shard is written. A segment cut by a row boundary continues at offset 0 of
   the group's next row (``seg_starts[0] == 0`` always). The final partial row of each group is
   **dropped**, never padded, so no row holds padding; the dropped tokens (at most
   ``G * (seq_len - 1)`` per stage) are counted per bucket in the manifest.
2. Row shuffle. Each row gets a hashed key; rows are range-partitioned by key into shards (a Beam
   GroupByKey: the shuffle runs in the runner, not in one worker's memory), and each shard is
   sorted by key. Reading the stage's files in name order therefore reads all rows in one global,
   deterministic pseudo-random order, independent of worker count or bundle order.
3. Shards. The number of shards is chosen from the stage's estimated bytes so that a shard averages
   80% of ``max_shard_bytes``; a shard that still exceeds it is split into consecutive files, so no
   file is larger than ``max_shard_bytes`` (up to one row). Files: ``<stage>/part-SSSSS-FF.arrow``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from corpus.document import BUCKETS
from corpus.shards import FIM_MODES, PackedRow, write_shard
from corpus.storage import join
from mixtures.fim import ContextFim
from mixtures.keys import hash64
from mixtures.records import PackUnit, Piece, RowPlan, Segment
from mixtures.token_store import StoreReader, slice_tokens

NAMESPACE = "build.pack"
DROPPED = "dropped"
_SHARD_FILL = 0.8  # average shard size as a fraction of max_shard_bytes: headroom for hash imbalance
_SEGMENT_BYTES = 16  # Arrow bytes per segment besides its id: start int32, bucket, fim, 2 offsets


@dataclass
class PackConfig:
    # Tokens per pack group: one worker sorts a group's unit references (~100 bytes per document
    # copy, not its tokens); fewer, larger groups drop fewer final partial rows.
    group_tokens: int = 1 << 26
    max_shard_bytes: int = 256 << 20  # the example size; ~16k rows of 4,096 tokens


def row_bytes(row: RowPlan, seq_len: int) -> int:
    """The row's approximate size in an Arrow file (deterministic: decides file splits)."""
    return 4 * seq_len + sum(_SEGMENT_BYTES + len(d.encode("utf-8")) for d in row.seg_doc_ids)


def tokens_by_bucket(starts: tuple[int, ...] | list[int], buckets: tuple[int, ...] | list[int], end: int) -> dict[int, int]:
    """Tokens per bucket id of segments starting at ``starts`` in a row filled up to ``end``."""
    ends = (*starts[1:], end)
    out: dict[int, int] = {}
    for start, stop, bucket in zip(starts, ends, buckets):
        out[bucket] = out.get(bucket, 0) + stop - start
    return out


class _RowBuilder:
    """Plans rows of ``seq_len`` tokens from a stream of segments (no token is read here)."""

    def __init__(self, seq_len: int):
        self.seq_len = seq_len
        self._reset()

    def _reset(self) -> None:
        self.fill = 0
        self.pieces: list[Piece] = []
        self.starts: list[int] = []
        self.buckets: list[int] = []
        self.ids: list[str] = []
        self.fims: list[int] = []

    def add(self, seg: Segment) -> Iterable[RowPlan]:
        offset = 0
        while offset < seg.packed_length:
            take = min(self.seq_len - self.fill, seg.packed_length - offset)
            # Only the ids this row uses (a long document spans many rows); EOT is not stored.
            stored = max(0, min(offset + take, seg.n_tokens) - offset)
            self.pieces.append(Piece(slice_tokens(seg.tokens, offset, offset + stored), stored, take))
            self.starts.append(self.fill)
            self.buckets.append(seg.bucket_id)
            self.ids.append(seg.doc_id)
            self.fims.append(seg.fim)
            self.fill += take
            offset += take
            if self.fill == self.seq_len:
                yield RowPlan(tuple(self.pieces), tuple(self.starts), tuple(self.buckets), tuple(self.ids),
                              tuple(self.fims))
                self._reset()

    def partial(self) -> dict[int, int]:
        """Tokens per bucket id of the unfinished row (dropped by the caller)."""
        return tokens_by_bucket(self.starts, self.buckets, self.fill)


def materialize(row: RowPlan, reader: StoreReader, eot: int, seq_len: int,
                context_fim: ContextFim | None = None, row_key: int = 0) -> PackedRow:
    """Read a planned row's tokens from the store: each piece's range of stored ids + EOT; with
    ``context_fim``, each piece's stored ids are FIM-transformed in place (same length)."""
    tokens = np.empty(seq_len, dtype=np.uint32)
    fims = list(row.seg_fim)
    fill = 0
    for index, piece in enumerate(row.pieces):
        if piece.n_tokens:
            ids = reader.tokens(piece.tokens)
            if context_fim is not None:
                fims[index], ids = context_fim.apply(row_key, index, row.seg_buckets[index], ids)
            tokens[fill:fill + ids.shape[0]] = ids
            fill += ids.shape[0]
        if piece.take > piece.n_tokens:  # the piece ends with the segment's EOT
            tokens[fill] = eot
            fill += 1
    if fill != seq_len:
        raise ValueError(f"planned row has {fill} tokens, expected {seq_len}")
    return PackedRow(tokens, row.seg_starts, row.seg_buckets, row.seg_doc_ids, tuple(fims))


class _PackGroupDoFn(beam.DoFn):
    def __init__(self, stage: str, seq_len: int, seed: int):
        self._stage, self._seq_len, self._seed = stage, seq_len, seed
        self._rows = Metrics.counter(NAMESPACE, f"{stage}_rows")
        self._dropped = Metrics.counter(NAMESPACE, f"{stage}_dropped_tokens")

    def process(self, element: tuple[int, Iterable[PackUnit]]) -> Iterable:
        group, units = element
        builder = _RowBuilder(self._seq_len)
        index = 0
        for unit in sorted(units, key=lambda u: (u.key, u.segments[0].doc_id)):
            for seg in unit.segments:
                for row in builder.add(seg):
                    self._rows.inc()
                    yield hash64(self._seed, "row", self._stage, group, index), row
                    index += 1
        dropped = builder.partial()
        if dropped:
            self._dropped.inc(sum(dropped.values()))
            yield beam.pvalue.TaggedOutput(DROPPED, dropped)


class _WriteShardDoFn(beam.DoFn):
    """Sorts a shard's rows by key, reads their tokens from the store (applying context-level FIM
    when configured) and writes the files."""

    def __init__(self, output_dir: str, store_dir: str | None, stage: str, seq_len: int, max_bytes: int, eot: int,
                 context_fim: ContextFim | None):
        self._output_dir, self._store_dir = output_dir, store_dir
        self._stage, self._seq_len, self._max_bytes, self._eot = stage, seq_len, max_bytes, eot
        self._context_fim = context_fim
        self._files = Metrics.counter(NAMESPACE, f"{stage}_files")

    def setup(self) -> None:
        self._reader = StoreReader(self._store_dir)
        if self._context_fim is not None:
            self._context_fim.setup()

    def teardown(self) -> None:
        self._reader.close()

    def process(self, element: tuple[int, Iterable[tuple[int, RowPlan]]]) -> Iterable[dict[str, Any]]:
        shard, keyed = element
        rows = sorted(keyed, key=lambda kr: kr[0])
        files: list[list[tuple[int, RowPlan]]] = [[]]
        size = 0
        for key, row in rows:
            nbytes = row_bytes(row, self._seq_len)
            if files[-1] and size + nbytes > self._max_bytes:
                files.append([])
                size = 0
            files[-1].append((key, row))
            size += nbytes
        for part, file_rows in enumerate(files):
            path = join(self._output_dir, self._stage, f"part-{shard:05d}-{part:02d}.arrow")
            tokens: dict[int, int] = {}
            fim: dict[tuple[str, str], int] = {}

            def packed() -> Iterable[PackedRow]:
                for key, plan in file_rows:
                    row = materialize(plan, self._reader, self._eot, self._seq_len, self._context_fim, key)
                    for bucket, n in tokens_by_bucket(row.seg_starts, row.seg_buckets, self._seq_len).items():
                        tokens[bucket] = tokens.get(bucket, 0) + n
                    for bucket, mode in zip(row.seg_buckets, row.seg_fim):
                        fim[(BUCKETS[bucket], FIM_MODES[mode])] = fim.get((BUCKETS[bucket], FIM_MODES[mode]), 0) + 1
                    yield row

            info = write_shard(path, packed(), self._seq_len, relative_to=self._output_dir)
            self._files.inc()
            yield {"file": info, "tokens": tokens, "fim_pieces": fim}


def sum_counts(dicts: Iterable[dict[Any, int]]) -> dict[Any, int]:
    """Key-wise sum of count dicts (a CombineGlobally function: associative and commutative)."""
    total: dict[Any, int] = {}
    for d in dicts:
        for key, value in d.items():
            total[key] = total.get(key, 0) + value
    return total


def _fim_counts(unit: PackUnit) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for seg in unit.segments:
        key = (BUCKETS[seg.bucket_id], FIM_MODES[seg.fim])
        out[key] = out.get(key, 0) + 1
    return out


def stage_summary(written: list[dict[str, Any]], fim_segments: dict[tuple[str, str], int], dropped: dict[int, int],
                  stage: str, seq_len: int, context_level: bool) -> dict[str, Any]:
    """The stage's manifest entry, from the written files and the FIM and dropped-token counts.
    FIM counts are segments for document-level FIM, row pieces for context-level FIM."""
    tokens = sum_counts(w["tokens"] for w in written)
    fim = sum_counts(w["fim_pieces"] for w in written) if context_level else fim_segments
    return {
        "name": stage, "seq_len": seq_len,
        "files": sorted((w["file"] for w in written), key=lambda f: f.path),
        "tokens_per_bucket": {BUCKETS[b]: tokens.get(b, 0) for b in range(len(BUCKETS))},
        "fim": {mode: sum(n for (_, m), n in fim.items() if m == mode) for mode in FIM_MODES.values()},
        "stats": {
            "fim_per_bucket": {b: {mode: fim.get((b, mode), 0) for mode in FIM_MODES.values()} for b in BUCKETS},
            "fim_counts": "row pieces" if context_level else "segments",
            "dropped_tokens_per_bucket": {BUCKETS[b]: dropped.get(b, 0) for b in range(len(BUCKETS))},
        },
    }


class PackStage(beam.PTransform):
    """PCollection[PackUnit] of one stage -> singleton manifest entry (files written as a side effect)."""

    def __init__(self, stage: str, seq_len: int, config: PackConfig, seed: int, output_dir: str | Path,
                 store_dir: str | None, eot: int, context_fim: ContextFim | None = None):
        super().__init__()
        self.stage, self.seq_len, self.config, self.seed, self.eot = stage, seq_len, config, seed, eot
        self.output_dir, self.store_dir, self.context_fim = str(output_dir), store_dir, context_fim

    def expand(self, units: beam.PCollection) -> beam.PCollection:
        config, stage, seq_len = self.config, self.stage, self.seq_len
        groups = (units
                  | "UnitTokens" >> beam.Map(lambda u: u.n_tokens)
                  | "StageTokens" >> beam.CombineGlobally(sum)
                  | "Groups" >> beam.Map(lambda n: max(1, math.ceil(n / config.group_tokens))))
        packed = (units
                  | "ToGroup" >> beam.Map(lambda u, g: (u.key % g, u), beam.pvalue.AsSingleton(groups))
                  | "GroupUnits" >> beam.GroupByKey()
                  | "PackRows" >> beam.ParDo(_PackGroupDoFn(stage, seq_len, self.seed)).with_outputs(DROPPED, main="rows"))
        rows = packed["rows"]
        shards = (rows
                  | "RowBytes" >> beam.Map(lambda kr: row_bytes(kr[1], seq_len))
                  | "StageBytes" >> beam.CombineGlobally(sum)
                  | "Shards" >> beam.Map(lambda n: max(1, math.ceil(n / (_SHARD_FILL * config.max_shard_bytes)))))
        written = (rows
                   | "ToShard" >> beam.Map(lambda kr, s: ((kr[0] * s) >> 64, kr), beam.pvalue.AsSingleton(shards))
                   | "GroupRows" >> beam.GroupByKey()
                   | "WriteShards" >> beam.ParDo(_WriteShardDoFn(self.output_dir, self.store_dir, stage, seq_len,
                                                                config.max_shard_bytes, self.eot, self.context_fim)))
        fim = (units | "FimCounts" >> beam.Map(_fim_counts) | "SumFim" >> beam.CombineGlobally(sum_counts))
        dropped = packed[DROPPED] | "SumDropped" >> beam.CombineGlobally(sum_counts)
        return (written
                | "Written" >> beam.combiners.ToList()
                | "Summary" >> beam.Map(stage_summary, beam.pvalue.AsSingleton(fim), beam.pvalue.AsSingleton(dropped),
                                        stage, seq_len, self.context_fim is not None))
