"""Balance: every bucket gets one third of the target total, knowledge-rich documents repeat more.

Rules (all integer arithmetic on global sums, so the plan does not depend on merge order):

- A document's *cost* is what it will occupy in the packed corpus: its tokens, its
  ``<|endoftext|>``, and the expected FIM overhead of its bucket (``fim.expected_overhead``).
- Target per bucket: ``total_tokens / 3``. Default total: the largest total reachable while no
  bucket repeats more than ``max_epochs`` (4, after Muennighoff et al. 2023, "Scaling
  Data-Constrained Language Models": up to ~4 epochs repeated data is almost as good as unique),
  i.e. ``3 * max_epochs * min(bucket cost)``.
- Within a bucket, a document's expected number of copies is proportional to its knowledge weight
  (``transforms.knowledge.upsampling_weight``: 1 below the threshold, up to ``max_repeat``; the
  mapping is the one curate's knowledge stage used, read from its stats.json by ``mixtures/build.py``):
  ``e = scale * target * weight / sum(weight * cost)``.
- Integer copies by hash-seeded rounding: ``copies = floor(e + v)`` with ``v = 1 - frac(u + shift)``,
  ``u`` uniform in [0, 1) from a hash of the document id (expected value ``e``; same copies on
  every rerun).
- ``scale`` and ``shift`` remove the rounding noise of small buckets, where one long document
  flipping between n and n+1 copies moves the share by percents: a Beam combiner evaluates the
  achieved bucket cost on a grid of ``rounding_shifts`` shifts x ``scale_steps`` log-spaced scales
  around 1, and the (scale, shift) closest to the target wins (ties: scale closest to 1). Each
  shift is an independent rounding of the same expectations, so a big document that straddles the
  target under one shift usually does not under another.
- A bucket that cannot reach its target within ``max_epochs`` (or is empty) is an error naming the
  bucket, unless ``small_bucket: cap``: then it contributes ``max_epochs`` epochs (0 if empty) and
  the shares are reported as they are.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Literal

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from corpus.document import BUCKETS
from mixtures.fim import expected_cost
from mixtures.keys import unit
from mixtures.records import DocCopy, TokenizedDoc
from transforms.knowledge import UpsamplingConfig, upsampling_weight

NAMESPACE = "build.balance"
_WEIGHT_ONE = 1 << 16  # knowledge weights in fixed point: integer sums are merge-order independent


@dataclass
class BalanceConfig:
    max_epochs: float = 4.0  # Muennighoff et al. 2023
    small_bucket: Literal["error", "cap"] = "error"
    scale_range: float = 0.15  # the scale grid spans exp(-range) .. exp(+range), step 0.1%
    scale_steps: int = 301
    rounding_shifts: int = 8
    # A second copy of the score -> weight mapping could disagree with the one the curate report's
    # upsampled shares were computed with, so there is only curate's (corpus/config.py names the move).
    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "upsampling": "set it once as knowledge.upsampling in the curate config; the build reads the "
                      "mapping curate used from the curated run's stats.json"}


class BalanceError(ValueError):
    """The requested mixture cannot be built from this data (empty or too-small bucket)."""


def weight_fixed_point(knowledge: float, config: UpsamplingConfig) -> int:
    return int(round(upsampling_weight(knowledge, config) * _WEIGHT_ONE))


class _BucketTotals(beam.CombineFn):
    """bucket -> [documents, cost, weighted cost] (weights in fixed point)."""

    def create_accumulator(self) -> dict[str, list[int]]:
        return {}

    def add_input(self, acc: dict[str, list[int]], item: tuple[str, int, int]) -> dict[str, list[int]]:
        bucket, cost, weight = item
        totals = acc.setdefault(bucket, [0, 0, 0])
        totals[0] += 1
        totals[1] += cost
        totals[2] += cost * weight
        return acc

    def merge_accumulators(self, accs: Iterable[dict[str, list[int]]]) -> dict[str, list[int]]:
        merged: dict[str, list[int]] = {}
        for acc in accs:
            for bucket, totals in acc.items():
                into = merged.setdefault(bucket, [0, 0, 0])
                for i, value in enumerate(totals):
                    into[i] += value
        return merged

    def extract_output(self, acc: dict[str, list[int]]) -> dict[str, list[int]]:
        return {b: acc.get(b, [0, 0, 0]) for b in BUCKETS}


def bucket_targets(totals: dict[str, list[int]], total_tokens: int | None, config: BalanceConfig) -> dict[str, int]:
    """Target cost per bucket (see module docstring); raises BalanceError when impossible."""
    reachable = {b: int(config.max_epochs * totals[b][1]) for b in BUCKETS}
    empty = [b for b in BUCKETS if totals[b][1] == 0]
    if empty and config.small_bucket == "error":
        raise BalanceError(f"bucket(s) {empty} have no documents: a 1:1:1 mixture is impossible "
                           "(add data, or set balance.small_bucket: cap to build without them)")
    if total_tokens is None:
        nonempty = [reachable[b] for b in BUCKETS if b not in empty]
        if not nonempty:
            raise BalanceError("every bucket is empty: nothing to build")
        per_bucket = min(nonempty)
    else:
        per_bucket = total_tokens // len(BUCKETS)
    targets = {}
    for b in BUCKETS:
        if per_bucket > reachable[b] and config.small_bucket == "error":
            epochs = per_bucket / totals[b][1]
            raise BalanceError(
                f"bucket {b} has {totals[b][1]} tokens; {per_bucket} tokens (1/3 of the total) would need "
                f"{epochs:.2f} epochs > balance.max_epochs={config.max_epochs}: lower --total-tokens, raise "
                "balance.max_epochs, or set balance.small_bucket: cap")
        targets[b] = min(per_bucket, reachable[b])
    return targets


def expected_copies(target: int, weight: int, weighted_cost: int) -> float:
    """Expected copies of a document at scale 1 (the same float on every worker)."""
    return target * weight / weighted_cost if weighted_cost else 0.0


def rounding_unit(seed: int, doc_id: str) -> float:
    """The document's ``u`` in [0, 1) for the hash-seeded rounding."""
    return unit(seed, "repeat", doc_id)


def scale_grid(config: BalanceConfig) -> np.ndarray:
    return np.exp(np.linspace(-config.scale_range, config.scale_range, config.scale_steps))


def shift_grid(config: BalanceConfig) -> np.ndarray:
    return np.arange(config.rounding_shifts, dtype=np.float64) / config.rounding_shifts


def copies_on_grid(expected: float, u: float, scales: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Copies of one document for every (shift, scale): ``floor(scale * e + 1 - frac(u + shift))``.
    The plan and the per-document step both call this, so they agree bit for bit."""
    offsets = 1.0 - np.mod(u + shifts, 1.0)
    return np.floor(scales[None, :] * expected + offsets[:, None]).astype(np.int64)


class _AchievedOnGrid(beam.CombineFn):
    """bucket -> achieved cost (int64) at each (shift, scale)."""

    def __init__(self, scales: np.ndarray, shifts: np.ndarray):
        self._scales, self._shifts = scales, shifts

    def create_accumulator(self) -> dict[str, np.ndarray]:
        return {}

    def add_input(self, acc: dict[str, np.ndarray], item: tuple[str, int, float, float]) -> dict[str, np.ndarray]:
        bucket, cost, expected, u = item
        contribution = copies_on_grid(expected, u, self._scales, self._shifts) * cost
        if bucket in acc:
            acc[bucket] += contribution
        else:
            acc[bucket] = contribution
        return acc

    def merge_accumulators(self, accs: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        merged: dict[str, np.ndarray] = {}
        for acc in accs:
            for bucket, sums in acc.items():
                merged[bucket] = merged[bucket] + sums if bucket in merged else sums.copy()
        return merged

    def extract_output(self, acc: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return acc


def choose_plan(achieved: dict[str, np.ndarray], targets: dict[str, int], totals: dict[str, list[int]],
                scales: np.ndarray, shifts: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per bucket the (shift, scale) whose achieved cost is closest to the target (ties: the scale
    closest to 1, then the smallest shift)."""
    plan = {}
    distance_from_one = np.broadcast_to(np.abs(np.log(scales))[None, :], (len(shifts), len(scales))).ravel()
    order = np.arange(len(shifts) * len(scales))
    for b in BUCKETS:
        sums = achieved.get(b)
        docs, cost, weighted = totals[b]
        entry = {"target": targets[b], "docs": docs, "unique_tokens": cost, "weighted_cost": weighted}
        if sums is None or targets[b] == 0:
            plan[b] = {**entry, "scale": 0.0, "shift": 0.0, "achieved": 0, "epochs": 0.0}
            continue
        flat = sums.ravel()
        error = np.abs(flat - targets[b])
        best = int(np.lexsort((order, distance_from_one, error))[0])
        shift, scale = divmod(best, len(scales))
        plan[b] = {**entry, "scale": float(scales[scale]), "shift": float(shifts[shift]),
                   "achieved": int(flat[best]), "epochs": int(flat[best]) / cost}
    return plan


class _RepeatDoFn(beam.DoFn):
    def __init__(self, seed: int, upsampling: UpsamplingConfig, costs: "DocCost"):
        self._seed, self._upsampling, self._costs = seed, upsampling, costs
        self._copies = Metrics.counter(NAMESPACE, "copies")
        self._dropped = Metrics.counter(NAMESPACE, "docs_without_copy")

    def process(self, doc: TokenizedDoc, plan: dict[str, dict[str, Any]]) -> Iterable[DocCopy]:
        bucket = plan[doc.bucket]
        weight = weight_fixed_point(doc.knowledge, self._upsampling)
        expected = expected_copies(bucket["target"], weight, bucket["weighted_cost"])
        copies = int(copies_on_grid(expected, rounding_unit(self._seed, doc.id),
                                    np.array([bucket["scale"]]), np.array([bucket["shift"]]))[0, 0])
        if copies == 0:
            self._dropped.inc()
        cost = self._costs(doc)
        for copy in range(copies):
            self._copies.inc()
            yield DocCopy(doc, copy, cost)


class DocCost:
    """A document's expected cost in the packed corpus (``fim.expected_cost``), planned at the
    stage-1 sequence length, where most tokens go."""

    def __init__(self, fim_rates: dict[str, float], seq_len: int):
        self._rates, self._seq_len = dict(fim_rates), seq_len

    def __call__(self, doc: TokenizedDoc) -> int:
        return expected_cost(doc.n_tokens, self._rates.get(doc.bucket, 0.0), self._seq_len)


class Balance(beam.PTransform):
    """PCollection[TokenizedDoc] -> {"copies": DocCopy, "plan": singleton dict (per-bucket report)}."""

    def __init__(self, config: BalanceConfig, upsampling: UpsamplingConfig, total_tokens: int | None, seed: int,
                 costs: DocCost):
        super().__init__()
        self.config, self.upsampling, self.total_tokens, self.seed, self.costs = (
            config, upsampling, total_tokens, seed, costs)

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        config, upsampling, seed, costs = self.config, self.upsampling, self.seed, self.costs
        scales, shifts = scale_grid(config), shift_grid(config)
        totals = (docs
                  | "CostAndWeight" >> beam.Map(
                      lambda d: (d.bucket, costs(d), weight_fixed_point(d.knowledge, upsampling)))
                  | "BucketTotals" >> beam.CombineGlobally(_BucketTotals()))
        targets = totals | "Targets" >> beam.Map(bucket_targets, self.total_tokens, config)

        def grid_item(doc: TokenizedDoc, targets: dict[str, int], totals: dict[str, list[int]]):
            weight = weight_fixed_point(doc.knowledge, upsampling)
            expected = expected_copies(targets[doc.bucket], weight, totals[doc.bucket][2])
            return doc.bucket, costs(doc), expected, rounding_unit(seed, doc.id)

        achieved = (docs
                    | "GridItems" >> beam.Map(grid_item, beam.pvalue.AsSingleton(targets),
                                              beam.pvalue.AsSingleton(totals))
                    | "AchievedOnGrid" >> beam.CombineGlobally(_AchievedOnGrid(scales, shifts)))
        plan = achieved | "ChooseScale" >> beam.Map(
            choose_plan, beam.pvalue.AsSingleton(targets), beam.pvalue.AsSingleton(totals), scales, shifts)
        copies = docs | "Repeat" >> beam.ParDo(_RepeatDoFn(seed, upsampling, costs), beam.pvalue.AsSingleton(plan))
        return {"copies": copies, "plan": plan}
