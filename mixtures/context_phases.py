"""Context phases: split the balanced copies between phase 1 (short context) and phase 2 (long context).

HyperCLOVA X trains 90% of its tokens at 4,096 context and 10% at 32,768 (DESIGN.md); the
defaults below are those values. Rules:

- Each bucket sends ``phase2_fraction`` of its balanced cost to phase 2, so both phases keep the
  1:1:1 mixture.
- Long documents are preferred: a Beam combiner builds, per bucket, the histogram
  "(cost class, copy index) -> copies, their total cost, and the ``SELECT_EXACT`` smallest
  (hash of (document id, copy), cost)" (a bottom-k sketch). A cost class is the cost with all but
  its ``COST_CLASS_BITS`` leading bits cleared (costs below 2**COST_CLASS_BITS are their own class):
  classes are at most 1/128 wide, so the histogram has a few thousand cells per copy index however
  many documents and distinct lengths the corpus has (exact costs would make it grow with the
  corpus, on the one worker that merges it and in every worker's side input). Phase 2 is filled
  greedily from the longest class down (in a class, copy 0 first). A cell whose total cost fits the
  remaining budget goes to phase 2 whole; in a cell taken partially, the copies of smallest hash go
  as long as their exact costs fit (exact, whenever the number taken is at most ``SELECT_EXACT``),
  else each copy goes with probability ``taken / copies`` (only cells of many similar short
  documents, where the noise is a few short documents). A copy longer than the remaining budget is
  skipped (it would overshoot) and stays in phase 1; the tail of the budget is filled by shorter
  documents.
- The unit is a copy: a copy lies entirely in one phase. Copies of a repeated document may land in
  different phases; an unrepeated document is never in both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from corpus.document import BUCKETS
from mixtures.records import DocCopy
from mixtures.keys import hash64

NAMESPACE = "build.phase"
Cell = tuple[int, int]  # (cost class, copy index)
# Hashes kept per histogram cell: a partially taken cell is selected exactly when it takes at most
# this many copies. Cells of long documents hold few copies, so their selection is always exact.
SELECT_EXACT = 16
COST_CLASS_BITS = 8
_TWO64 = float(1 << 64)


@dataclass
class ContextPhaseConfig:
    """The two context phases: their names (the manifest's phase names and output folders), sequence
    lengths, and the share of the balanced tokens that goes to phase 2."""

    phase1_name: str = "phase1_4k"
    phase1_seq_len: int = 4096
    phase2_name: str = "phase2_32k"
    phase2_seq_len: int = 32768
    phase2_fraction: float = 0.1
    RENAMED_KEYS: ClassVar[dict[str, str]] = {
        "stage1_name": "phase1_name", "stage1_seq_len": "phase1_seq_len", "stage2_name": "phase2_name",
        "stage2_seq_len": "phase2_seq_len", "stage2_fraction": "phase2_fraction"}


def cost_class(cost: int) -> int:
    """``cost`` with all but its ``COST_CLASS_BITS`` leading bits cleared: the lower edge of its class."""
    shift = max(0, cost.bit_length() - COST_CLASS_BITS)
    return (cost >> shift) << shift


class _LengthHistogram(beam.CombineFn):
    """bucket -> {cell: [copies, total cost, the SELECT_EXACT smallest (hash, cost), ascending]}."""

    def create_accumulator(self) -> dict[str, dict[Cell, list]]:
        return {}

    def add_input(self, acc: dict[str, dict[Cell, list]], item: tuple[str, Cell, tuple[int, int]]
                  ) -> dict[str, dict[Cell, list]]:
        bucket, cell, keyed = item
        entry = acc.setdefault(bucket, {}).setdefault(cell, [0, 0, []])
        entry[0] += 1
        entry[1] += keyed[1]
        entry[2] = _smallest(entry[2], [keyed])
        return acc

    def merge_accumulators(self, accs: Iterable[dict[str, dict[Cell, list]]]) -> dict[str, dict[Cell, list]]:
        merged: dict[str, dict[Cell, list]] = {}
        for acc in accs:
            for bucket, hist in acc.items():
                into = merged.setdefault(bucket, {})
                for cell, (count, total, keys) in hist.items():
                    entry = into.setdefault(cell, [0, 0, []])
                    entry[0] += count
                    entry[1] += total
                    entry[2] = _smallest(entry[2], keys)
        return merged

    def extract_output(self, acc: dict[str, dict[Cell, list]]) -> dict[str, dict[Cell, list]]:
        return acc


def _smallest(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return sorted(a + b)[:SELECT_EXACT]


def phase2_plan(histograms: dict[str, dict[Cell, list]], fraction: float) -> dict[str, dict[str, Any]]:
    """Per bucket: the phase-2 budget, the planned fill and the selection rule of each cell taken:
    ``{cell: (largest selected hash or None, probability)}`` (see ``selected``). The fill is exact
    except in cells selected by probability, where it counts the expected cost."""
    plan = {}
    for bucket in BUCKETS:
        hist = histograms.get(bucket, {})
        total = sum(cell_total for _, cell_total, _ in hist.values())
        budget = round(fraction * total)
        remaining = budget
        rules: dict[Cell, tuple[int | None, float]] = {}
        for cell in sorted(hist, key=lambda c: (-c[0], c[1])):
            if remaining <= 0:
                break
            count, cell_total, keys = hist[cell]
            if cell_total <= remaining:
                rules[cell] = (None, 1.0)
                remaining -= cell_total
                continue
            expected = remaining * count // cell_total  # copies of average cost that fit
            if expected > len(keys):
                rules[cell] = (None, expected / count)
                remaining -= expected * cell_total // count
                continue
            for key, cost in keys:  # the smallest hashes, while their exact costs fit
                if cost > remaining:
                    break
                remaining -= cost
                rules[cell] = (key, 1.0)  # every copy of the cell with a hash up to this one
        plan[bucket] = {"total": total, "budget": budget, "planned": budget - remaining, "rules": rules}
    return plan


def selected(rule: tuple[int | None, float] | None, key: int) -> bool:
    """Whether the copy with hash ``key`` goes to phase 2 under its cell's rule."""
    if rule is None:
        return False
    threshold, probability = rule
    if threshold is not None:
        return key <= threshold
    return key / _TWO64 < probability


class _AssignDoFn(beam.DoFn):
    PHASE1, PHASE2 = "phase1", "phase2"

    def __init__(self, seed: int):
        self._seed = seed
        self._counters = {s: Metrics.counter(NAMESPACE, f"{s}_copies") for s in (self.PHASE1, self.PHASE2)}

    def process(self, copy: DocCopy, plan: dict[str, dict[str, Any]]) -> Iterable:
        rule = plan[copy.doc.bucket]["rules"].get((cost_class(copy.cost), copy.copy))
        phase = self.PHASE2 if selected(rule, copy_key(self._seed, copy)) else self.PHASE1
        self._counters[phase].inc()
        if phase == self.PHASE2:
            yield beam.pvalue.TaggedOutput(self.PHASE2, copy)
        else:
            yield copy


def copy_key(seed: int, copy: DocCopy) -> int:
    return hash64(seed, "phase", copy.doc.id, copy.copy)


class AssignPhases(beam.PTransform):
    """PCollection[DocCopy] -> {"phase1": DocCopy, "phase2": DocCopy, "plan": singleton dict}."""

    def __init__(self, config: ContextPhaseConfig, seed: int):
        super().__init__()
        self.config, self.seed = config, seed

    def expand(self, copies: beam.PCollection) -> dict[str, beam.PCollection]:
        plan = (copies
                | "CellOfCopy" >> beam.Map(lambda c, seed: (c.doc.bucket, (cost_class(c.cost), c.copy),
                                                          (copy_key(seed, c), c.cost)), self.seed)
                | "LengthHistogram" >> beam.CombineGlobally(_LengthHistogram())
                | "Plan" >> beam.Map(phase2_plan, self.config.phase2_fraction))
        out = copies | "Assign" >> beam.ParDo(_AssignDoFn(self.seed), beam.pvalue.AsSingleton(plan)).with_outputs(
            _AssignDoFn.PHASE2, main=_AssignDoFn.PHASE1)
        return {"phase1": out[_AssignDoFn.PHASE1], "phase2": out[_AssignDoFn.PHASE2], "plan": plan}
