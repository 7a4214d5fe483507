"""Pack one phase: place whole segments into rows of ``seq_len`` (best fit), shuffle rows, write shards.

1. Pack groups. Every unit (a segment of at most ``seq_len`` tokens: a document, FIM chunk or
   row-length piece of a long document, ``mixtures/fim.py``) goes to group ``key % G`` with
   ``G = ceil(phase tokens / group_tokens)``. A worker packs its group by **best-fit decreasing**
   (Ding et al. 2024, "Fewer Truncations Improve Language Modeling"): each unit goes into the open
   row with the least room that still holds it whole, else into a new row. A unit is never cut, so
   a document or FIM example that fits a row lies in one row. Memory is bounded: at most
   ``max_open_rows`` rows are open (beyond that the fullest is closed), and the units are taken in
   hashed order in windows of ``4 * max_open_rows``, each window longest first, rows staying open
   across windows. (Decreasing order over a whole group larger than the bound would close rows
   before any short unit arrives to fill them: 11% padding at 256 open rows on web-like lengths,
   0.07% with windows; ``tests/mixtures/test_rules.py``.) Rows with room left when the group ends
   (or closed early) are padded: a trailing segment of ``corpus.shards.PAD_BUCKET`` filled with
   ``<|fim_pad|>``, which the trainer masks from the loss. Rows are *planned* here
   (``RowPlan``: token-store ranges and segment columns); no token is read until the shard is written.
2. Row shuffle. Each row gets a hashed key; rows are range-partitioned by key into shards (a Beam
   GroupByKey: the shuffle runs in the runner, not in one worker's memory), and each shard is
   sorted by key. Reading the phase's files in name order therefore reads all rows in one global,
   deterministic pseudo-random order, independent of worker count or bundle order.
3. Shards. The number of shards is chosen from the phase's estimated bytes so that a shard averages
   80% of ``max_shard_bytes``; a shard that still exceeds it is split into consecutive files, so no
   file is larger than ``max_shard_bytes`` (up to one row). Files: ``<phase>/part-SSSSS-FF.arrow``.

The manifest's ``stats.packing`` is measured on the rows as written, the way a trainer reads them:
padding tokens and fraction, FIM segments that lack one of their sentinels or their
``<|endoftext|>`` in their row (``fim_segments_split``; 0 by construction, checked), and, from the
units, document copies longer than a row and so cut into pieces (``documents_split``).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from corpus.document import BUCKETS
from corpus.shards import FIM_MODES, FIM_NONE, FIM_PSM, PAD_BUCKET, PackedRow, write_shard
from corpus.storage import join
from mixtures.fim import EOT, MIDDLE, PAD, PREFIX, SUFFIX
from mixtures.keys import hash64
from mixtures.records import PackUnit, Piece, RowPlan
from mixtures.token_store import StoreReader

NAMESPACE = "build.pack"
_SHARD_FILL = 0.8  # average shard size as a fraction of max_shard_bytes: headroom for hash imbalance
_SEGMENT_BYTES = 16  # Arrow bytes per segment besides its id: start int32, bucket, fim, 2 offsets
_WINDOW_PER_OPEN_ROW = 4  # units per best-fit window, per open row: enough short units to fill the rows


@dataclass
class PackConfig:
    # Tokens per pack group: one worker sorts a group's unit references (~100 bytes per document
    # copy, not its tokens) and packs them; larger groups give best fit more units to fill rows with.
    group_tokens: int = 1 << 26
    # Open rows of the best-fit packer (and a window of 4x as many units): about the rows of one
    # group at seq_len 4,096, so a default group is packed in one window.
    max_open_rows: int = 1 << 14
    max_shard_bytes: int = 256 << 20  # the example size; ~16k rows of 4,096 tokens


def row_bytes(row: RowPlan, seq_len: int) -> int:
    """The row's approximate size in an Arrow file (deterministic: decides file splits)."""
    return 4 * seq_len + sum(_SEGMENT_BYTES + len(d.encode("utf-8")) for d in row.seg_doc_ids)


def tokens_by_bucket(starts: tuple[int, ...] | list[int], buckets: tuple[int, ...] | list[int], end: int) -> dict[int, int]:
    """Tokens per bucket id (``PAD_BUCKET`` included) of segments starting at ``starts`` in a row of ``end``."""
    ends = (*starts[1:], end)
    out: dict[int, int] = {}
    for start, stop, bucket in zip(starts, ends, buckets):
        out[bucket] = out.get(bucket, 0) + stop - start
    return out


@dataclass
class _OpenRow:
    serial: int  # creation order: closes the group's last rows in a fixed order
    fill: int = 0
    units: list[PackUnit] = field(default_factory=list)


class BestFitRows:
    """Best-fit packing into rows of ``seq_len`` (see module docstring; ``pack_group`` feeds it
    units longest first, window by window). ``add`` places a unit; ``finish`` closes the rest.
    Open rows are kept by remaining room (a sorted list of the distinct rooms, at most ``seq_len``),
    so finding the best row is a bisection."""

    def __init__(self, seq_len: int, max_open_rows: int):
        self.seq_len, self.max_open_rows = seq_len, max_open_rows
        self._rooms: list[int] = []  # sorted distinct rooms of open rows
        self._by_room: dict[int, list[_OpenRow]] = {}
        self._open = 0
        self._serial = 0

    def add(self, unit: PackUnit) -> Iterator[RowPlan]:
        size = unit.n_tokens
        if not 0 < size <= self.seq_len:
            raise ValueError(f"unit {unit.segment.doc_id!r} has {size} tokens, rows hold {self.seq_len}")
        at = bisect.bisect_left(self._rooms, size)
        if at < len(self._rooms):
            row = self._take(at)
        else:
            row = _OpenRow(self._serial)
            self._serial += 1
            self._open += 1
        row.units.append(unit)
        row.fill += size
        if row.fill == self.seq_len:
            self._open -= 1
            yield self._plan(row)
        else:
            self._keep(row)
        if self._open > self.max_open_rows:  # the fullest row has the least room to lose
            self._open -= 1
            yield self._plan(self._take(0))

    def finish(self) -> Iterator[RowPlan]:
        rows = sorted((row for rows in self._by_room.values() for row in rows), key=lambda r: r.serial)
        self._rooms, self._by_room, self._open = [], {}, 0
        for row in rows:
            yield self._plan(row)

    def _take(self, at: int) -> _OpenRow:
        room = self._rooms[at]
        rows = self._by_room[room]
        row = rows.pop()
        if not rows:
            del self._by_room[room]
            del self._rooms[at]
        return row

    def _keep(self, row: _OpenRow) -> None:
        room = self.seq_len - row.fill
        rows = self._by_room.get(room)
        if rows is None:
            rows = self._by_room[room] = []
            bisect.insort(self._rooms, room)
        rows.append(row)

    def _plan(self, row: _OpenRow) -> RowPlan:
        starts, fill = [], 0
        for unit in row.units:
            starts.append(fill)
            fill += unit.n_tokens
        segs = [u.segment for u in row.units]
        pieces = tuple(Piece(s.tokens, s.n_tokens, s.packed_length) for s in segs)
        padding = self.seq_len - fill
        pad = ((fill,), (PAD_BUCKET,), ("",), (FIM_NONE,)) if padding else ((), (), (), ())
        return RowPlan(pieces, (*starts, *pad[0]), (*(s.bucket_id for s in segs), *pad[1]),
                       (*(s.doc_id for s in segs), *pad[2]), (*(s.fim for s in segs), *pad[3]), padding)


def pack_order(unit: PackUnit) -> tuple[int, int, str, int]:
    """Longest first; equal lengths in hashed order (a deterministic shuffle), then by identity."""
    return (-unit.n_tokens, unit.key, unit.segment.doc_id, unit.piece)


def pack_group(units: Iterable[PackUnit], seq_len: int, max_open_rows: int) -> Iterator[RowPlan]:
    """One group's rows: windowed best-fit decreasing (module docstring). The order depends only on
    the units, not on the order they arrive in."""
    ordered = sorted(units, key=lambda u: (u.key, u.segment.doc_id, u.piece))
    packer = BestFitRows(seq_len, max_open_rows)
    window = _WINDOW_PER_OPEN_ROW * max_open_rows
    for start in range(0, len(ordered), window):
        for unit in sorted(ordered[start:start + window], key=pack_order):
            yield from packer.add(unit)
    yield from packer.finish()


def materialize(row: RowPlan, reader: StoreReader, special: dict[str, int], seq_len: int) -> PackedRow:
    """Read a planned row's tokens from the store: each piece's range of stored ids + EOT, then the
    row's padding as ``<|fim_pad|>``."""
    tokens = np.empty(seq_len, dtype=np.uint32)
    fill = 0
    for piece in row.pieces:
        if piece.n_tokens:
            ids = reader.tokens(piece.tokens)
            tokens[fill:fill + ids.shape[0]] = ids
            fill += ids.shape[0]
        if piece.take > piece.n_tokens:  # the piece ends with the segment's EOT
            tokens[fill] = special[EOT]
            fill += 1
    tokens[fill:fill + row.padding] = special[PAD]
    if fill + row.padding != seq_len:
        raise ValueError(f"planned row has {fill} tokens and {row.padding} padding, expected {seq_len}")
    return PackedRow(tokens, row.seg_starts, row.seg_buckets, row.seg_doc_ids, row.seg_fim)


def fim_segment_is_whole(ids: np.ndarray, mode: int, special: dict[str, int]) -> bool:
    """Whether a FIM segment's tokens, as its row holds them, are a complete example: each sentinel
    once, in the mode's order, and the closing ``<|endoftext|>``."""
    pre, suf, mid = special[PREFIX], special[SUFFIX], special[MIDDLE]
    if ids.shape[0] < 4 or ids[-1] != special[EOT]:
        return False
    found = [np.flatnonzero(ids == t) for t in (pre, suf, mid)]
    if any(f.shape[0] != 1 for f in found):
        return False
    p, s, m = (int(f[0]) for f in found)
    return p == 0 and p < s < m and (mode == FIM_PSM or s == 1)


def row_checks(row: PackedRow, special: dict[str, int], seq_len: int) -> dict[str, int]:
    """What the trainer would see wrong or cut in one row: FIM segments not whole in it."""
    ends = (*row.seg_starts[1:], seq_len)
    split = 0
    for start, end, mode in zip(row.seg_starts, ends, row.seg_fim):
        if mode != FIM_NONE and not fim_segment_is_whole(row.tokens[start:end], mode, special):
            split += 1
    return {"fim_segments_split": split}


class _PackGroupDoFn(beam.DoFn):
    def __init__(self, phase: str, seq_len: int, max_open_rows: int, seed: int):
        self._phase, self._seq_len, self._max_open_rows, self._seed = phase, seq_len, max_open_rows, seed
        self._rows = Metrics.counter(NAMESPACE, f"{phase}_rows")
        self._padding = Metrics.counter(NAMESPACE, f"{phase}_padding_tokens")

    def process(self, element: tuple[int, Iterable[PackUnit]]) -> Iterable[tuple[int, RowPlan]]:
        group, units = element
        for index, row in enumerate(pack_group(units, self._seq_len, self._max_open_rows)):
            self._rows.inc()
            self._padding.inc(row.padding)
            yield hash64(self._seed, "row", self._phase, group, index), row


class _WriteShardDoFn(beam.DoFn):
    """Sorts a shard's rows by key, reads their tokens from the store and writes the files, counting
    per file the tokens per bucket, FIM segments per mode and what ``row_checks`` finds."""

    def __init__(self, output_dir: str, store_dir: str | None, phase: str, seq_len: int, max_bytes: int,
                 special: dict[str, int]):
        self._output_dir, self._store_dir = output_dir, store_dir
        self._phase, self._seq_len, self._max_bytes, self._special = phase, seq_len, max_bytes, special
        self._files = Metrics.counter(NAMESPACE, f"{phase}_files")

    def setup(self) -> None:
        self._reader = StoreReader(self._store_dir)

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
            path = join(self._output_dir, self._phase, f"part-{shard:05d}-{part:02d}.arrow")
            tokens: dict[int, int] = {}
            fim: dict[tuple[str, str], int] = {}
            checks: dict[str, int] = {}

            def packed() -> Iterable[PackedRow]:
                for _, plan in file_rows:
                    row = materialize(plan, self._reader, self._special, self._seq_len)
                    for bucket, n in tokens_by_bucket(row.seg_starts, row.seg_buckets, self._seq_len).items():
                        tokens[bucket] = tokens.get(bucket, 0) + n
                    for bucket, mode in zip(row.seg_buckets, row.seg_fim):
                        if bucket != PAD_BUCKET:
                            key = (BUCKETS[bucket], FIM_MODES[mode])
                            fim[key] = fim.get(key, 0) + 1
                    for name, n in row_checks(row, self._special, self._seq_len).items():
                        checks[name] = checks.get(name, 0) + n
                    yield row

            info = write_shard(path, packed(), self._seq_len, relative_to=self._output_dir)
            self._files.inc()
            yield {"file": info, "tokens": tokens, "fim_segments": fim, "checks": checks}


def sum_counts(dicts: Iterable[dict[Any, int]]) -> dict[Any, int]:
    """Key-wise sum of count dicts (a CombineGlobally function: associative and commutative)."""
    total: dict[Any, int] = {}
    for d in dicts:
        for key, value in d.items():
            total[key] = total.get(key, 0) + value
    return total


def unit_counts(unit: PackUnit) -> dict[tuple[str, str], int]:
    """Per bucket: document copies, those cut into pieces (longer than a row), their pieces, and
    segments drawn for FIM that stayed plain for lack of room."""
    bucket = BUCKETS[unit.segment.bucket_id]
    first = unit.piece == 0
    return {("copies", bucket): int(first), ("split", bucket): int(first and unit.pieces > 1),
            ("split_pieces", bucket): int(unit.pieces > 1), ("fim_without_room", bucket): int(unit.fim_without_room)}


def phase_summary(written: list[dict[str, Any]], units: dict[tuple[str, str], int], phase: str,
                  seq_len: int) -> dict[str, Any]:
    """The phase's manifest entry, from the written files' counts and the units' counts."""
    tokens = sum_counts(w["tokens"] for w in written)
    padding = tokens.pop(PAD_BUCKET, 0)
    fim = sum_counts(w["fim_segments"] for w in written)
    checks = sum_counts(w["checks"] for w in written)
    files = sorted((w["file"] for w in written), key=lambda f: f.path)
    rows = sum(f.rows for f in files)

    def per_bucket(name: str) -> dict[str, int]:
        return {b: units.get((name, b), 0) for b in BUCKETS}

    packing = {
        "rows": rows,
        "padding_tokens": padding,
        "padding_fraction": padding / (rows * seq_len) if rows else 0.0,
        "documents": sum(per_bucket("copies").values()),
        "documents_split": sum(per_bucket("split").values()),
        "documents_split_per_bucket": per_bucket("split"),
        "pieces_of_split_documents": sum(per_bucket("split_pieces").values()),
        "fim_segments": sum(n for (_, mode), n in fim.items() if mode != FIM_MODES[FIM_NONE]),
        "fim_segments_split": checks.get("fim_segments_split", 0),
        "fim_without_room": sum(per_bucket("fim_without_room").values()),
    }
    return {
        "name": phase, "seq_len": seq_len, "files": files,
        "tokens_per_bucket": {BUCKETS[b]: tokens.get(b, 0) for b in range(len(BUCKETS))},
        "fim": {mode: sum(n for (_, m), n in fim.items() if m == mode) for mode in FIM_MODES.values()},
        "stats": {
            "fim_per_bucket": {b: {mode: fim.get((b, mode), 0) for mode in FIM_MODES.values()} for b in BUCKETS},
            "packing": packing,
        },
    }


class PackPhase(beam.PTransform):
    """PCollection[PackUnit] of one phase -> singleton manifest entry (files written as a side effect)."""

    def __init__(self, phase: str, seq_len: int, config: PackConfig, seed: int, output_dir: str | Path,
                 store_dir: str | None, special: dict[str, int]):
        super().__init__()
        self.phase, self.seq_len, self.config, self.seed, self.special = phase, seq_len, config, seed, dict(special)
        self.output_dir, self.store_dir = str(output_dir), store_dir

    def expand(self, units: beam.PCollection) -> beam.PCollection:
        config, phase, seq_len = self.config, self.phase, self.seq_len
        groups = (units
                  | "UnitTokens" >> beam.Map(lambda u: u.n_tokens)
                  | "PhaseTokens" >> beam.CombineGlobally(sum)
                  | "Groups" >> beam.Map(lambda n: max(1, math.ceil(n / config.group_tokens))))
        rows = (units
                | "ToGroup" >> beam.Map(lambda u, g: (u.key % g, u), beam.pvalue.AsSingleton(groups))
                | "GroupUnits" >> beam.GroupByKey()
                | "PackRows" >> beam.ParDo(_PackGroupDoFn(phase, seq_len, config.max_open_rows, self.seed)))
        shards = (rows
                  | "RowBytes" >> beam.Map(lambda kr: row_bytes(kr[1], seq_len))
                  | "PhaseBytes" >> beam.CombineGlobally(sum)
                  | "Shards" >> beam.Map(lambda n: max(1, math.ceil(n / (_SHARD_FILL * config.max_shard_bytes)))))
        written = (rows
                   | "ToShard" >> beam.Map(lambda kr, s: ((kr[0] * s) >> 64, kr), beam.pvalue.AsSingleton(shards))
                   | "GroupRows" >> beam.GroupByKey()
                   | "WriteShards" >> beam.ParDo(_WriteShardDoFn(self.output_dir, self.store_dir, phase, seq_len,
                                                                config.max_shard_bytes, self.special)))
        counts = (units | "UnitCounts" >> beam.Map(unit_counts) | "SumUnitCounts" >> beam.CombineGlobally(sum_counts))
        return (written
                | "Written" >> beam.combiners.ToList()
                | "Summary" >> beam.Map(phase_summary, beam.pvalue.AsSingleton(counts), phase, seq_len))
