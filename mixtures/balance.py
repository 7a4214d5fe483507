"""Balance: each bucket gets its configured share of the total (``balance.ratios``, default 1:1:1);
inside a bucket, copies follow the document weights, and no document gets more than
``balance.max_doc_copies`` copies.

Rules (all integer arithmetic on global sums, so the plan does not depend on merge order):

- A document's *cost* is what it will occupy in the packed corpus: its tokens, its
  ``<|endoftext|>``, and the expected FIM overhead of its bucket (``fim.expected_overhead``).
- Bucket shares: the ratios normalized (40:30:30 -> 0.4, 0.3, 0.3; a ratio of 0 leaves a bucket
  out). Target of bucket b: ``share_b * total``. A bucket's *epoch limit* is
  ``min(bucket_max_epochs[b] or max_epochs, max_doc_copies)``: 4 after Muennighoff et al. 2023
  ("Scaling Data-Constrained Language Models": up to ~4 epochs repeated data is almost as good as
  unique), and no bucket can average more copies than any of its documents may have. Default total:
  the largest at which no bucket exceeds its limit, ``min_b(limit_b * cost_b / share_b)``.
- A document's weight ``w`` (``mixtures/weights.py``: knowledge x source x cluster-size weight)
  divides its bucket's target among the bucket's documents: expected copies
  ``e = min(level * w, max_doc_copies)``, with the bucket's *level* solved so that the expected
  cost is the target (water filling: documents whose weight asks for more than the cap sit at the
  cap, and the copies they cannot take go to the others in proportion to their weights). Without a
  binding cap this is ``e = target * w / sum(w * cost)``. The level is solved on a histogram of
  weights (``_BINS_PER_OCTAVE`` bins per octave and source group, so it is within 0.3% of exact
  whatever the number of documents); the grid below absorbs the rest. A bucket whose target is its
  whole capacity (every document at the cap: the smallest bucket at the default total when
  ``max_epochs = max_doc_copies``) has level None, and every document has exactly the cap.
- The planned cost of each *source group* (the ``source_weights`` entry that matched, or none) is
  its part of that expectation, apportioned to integers that sum to the bucket's target.
- Integer copies by hash-seeded rounding: ``copies = min(floor(scale * level * w (capped) + v), cap)``
  with ``v = frac(u + shift)``, ``u`` uniform in [0, 1) from a hash of the document id (expected
  value ``e``; an integer ``e`` gives exactly ``e`` copies; same copies on every rerun).
- ``scale`` and ``shift`` remove the rounding noise of small groups, where one long document
  flipping between n and n+1 copies moves the share by percents: a Beam combiner evaluates the
  achieved cost of every (bucket, source group) on a grid of ``rounding_shifts`` shifts x
  ``scale_steps`` log-spaced scales around 1. Per bucket the groups are fitted from the smallest
  up, each to its planned cost plus what the groups before it missed, taking the (scale, shift)
  closest (ties: scale closest to 1), so the largest group absorbs the remainder and the bucket hits
  its target as closely as before there were groups.
- An impossible mixture is an error naming the bucket and the setting: a bucket with a positive
  ratio and no documents, or a ``--total-tokens`` whose share needs more epochs than the bucket's
  limit; with ``small_bucket: cap`` such a bucket contributes what its limit allows (0 if empty)
  and the shares are reported as they are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Literal

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from corpus.config import ConfigError
from corpus.document import BUCKETS
from corpus.upsampling import UpsamplingConfig
from mixtures.fim import expected_cost
from mixtures.keys import unit
from mixtures.records import DocCopy, TokenizedDoc
from mixtures.weights import OTHER, WEIGHT_ONE, ClusterWeights, DocWeigher, SourceWeight, validate_weights

NAMESPACE = "build.balance"
COUNTS = "counts"
_BINS_PER_OCTAVE = 256  # weight histogram resolution of the level solve: 2^(1/256) - 1 = 0.27%


@dataclass
class BalanceConfig:
    ratios: dict[str, float] = field(default_factory=lambda: {b: 1.0 for b in BUCKETS})  # HyperCLOVA X's 1:1:1
    max_epochs: float = 4.0  # Muennighoff et al. 2023
    bucket_max_epochs: dict[str, float] = field(default_factory=dict)  # per-bucket override of max_epochs
    max_doc_copies: int = 4  # the same 4-epoch bound, per document: epochs x knowledge x source x cluster weight
    source_weights: list[SourceWeight] = field(default_factory=list)
    cluster_weights: ClusterWeights = field(default_factory=dict)  # {} = off; "fineweb2" = FineWeb-2's table
    small_bucket: Literal["error", "cap"] = "error"
    scale_range: float = 0.15  # the scale grid spans exp(-range) .. exp(+range), step 0.1%
    scale_steps: int = 301
    rounding_shifts: int = 8
    # A second copy of the score -> weight mapping could disagree with the one the curate report's
    # upsampled shares were computed with, so there is only curate's (corpus/config.py names the move).
    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "upsampling": "set it once as knowledge.upsampling in the curate config; the build reads the "
                      "mapping curate used from the curated run's stats.json"}

    def validate(self) -> None:
        """Range checks the type-strict loader cannot express; errors name the key."""
        if set(self.ratios) != set(BUCKETS):
            raise ConfigError(f"balance.ratios: give every bucket {list(BUCKETS)} a weight (0 leaves a bucket out), "
                              f"got {sorted(self.ratios)}")
        if not all(math.isfinite(r) and r >= 0 for r in self.ratios.values()) or not any(self.ratios.values()):
            raise ConfigError(f"balance.ratios: weights must be >= 0 and not all 0, got {self.ratios}")
        if not set(self.bucket_max_epochs) <= set(BUCKETS):
            raise ConfigError(f"balance.bucket_max_epochs: keys must be buckets {BUCKETS}")
        if not all(e > 0 for e in (self.max_epochs, *self.bucket_max_epochs.values())):
            raise ConfigError("balance.max_epochs, balance.bucket_max_epochs: must be > 0")
        if self.max_doc_copies < 1:
            raise ConfigError(f"balance.max_doc_copies: must be >= 1, got {self.max_doc_copies}")
        if not (self.scale_steps >= 1 and self.scale_range >= 0 and self.rounding_shifts >= 1):
            raise ConfigError("balance.scale_steps/scale_range/rounding_shifts: invalid grid")
        validate_weights(self.source_weights, self.cluster_weights)

    def shares(self) -> dict[str, float]:
        total = sum(self.ratios.values())
        return {b: self.ratios[b] / total for b in BUCKETS}

    def epoch_limit(self, bucket: str) -> tuple[float, str]:
        """The most epochs ``bucket`` may have, and the setting that sets it."""
        epochs, key = ((self.bucket_max_epochs[bucket], f"balance.bucket_max_epochs.{bucket}")
                       if bucket in self.bucket_max_epochs else (self.max_epochs, "balance.max_epochs"))
        return (epochs, key) if epochs <= self.max_doc_copies else (self.max_doc_copies, "balance.max_doc_copies")


class BalanceError(ValueError):
    """The requested mixture cannot be built from this data (empty or too-small bucket)."""


class _SumByKey(beam.CombineFn):
    """key -> element-wise sum of integer tuples (integer sums: merge-order independent)."""

    def create_accumulator(self) -> dict[Any, list[int]]:
        return {}

    def add_input(self, acc: dict[Any, list[int]], item: tuple[Any, tuple[int, ...]]) -> dict[Any, list[int]]:
        key, values = item
        into = acc.get(key)
        if into is None:
            acc[key] = list(values)
        else:
            for i, value in enumerate(values):
                into[i] += value
        return acc

    def merge_accumulators(self, accs: Iterable[dict[Any, list[int]]]) -> dict[Any, list[int]]:
        merged: dict[Any, list[int]] = {}
        for acc in accs:
            for key, values in acc.items():
                self.add_input(merged, (key, values))
        return merged

    def extract_output(self, acc: dict[Any, list[int]]) -> dict[Any, list[int]]:
        return acc


def weight_bin(weight: int) -> int:
    """The histogram bin of a fixed-point weight (``_BINS_PER_OCTAVE`` per doubling)."""
    return math.floor(math.log2(weight) * _BINS_PER_OCTAVE)


def bucket_targets(costs: dict[str, int], total_tokens: int | None, config: BalanceConfig) -> dict[str, int]:
    """Target cost per bucket from the buckets' unique costs (see module docstring); raises
    BalanceError, naming the bucket and the setting, when the mixture is impossible."""
    shares = config.shares()
    limits = {b: config.epoch_limit(b) for b in BUCKETS}
    reachable = {b: int(limits[b][0] * costs[b]) for b in BUCKETS}
    empty = [b for b in BUCKETS if shares[b] > 0 and costs[b] == 0]
    if empty and config.small_bucket == "error":
        raise BalanceError(f"bucket(s) {empty} have no documents: their balance.ratios share is impossible "
                           f"(add data, set balance.ratios.{empty[0]}: 0, or set balance.small_bucket: cap "
                           "to build without them)")
    if total_tokens is None:
        candidates = [reachable[b] / shares[b] for b in BUCKETS if shares[b] > 0 and costs[b] > 0]
        if not candidates:
            raise BalanceError("every bucket with a positive balance.ratios weight is empty: nothing to build")
        total = min(candidates)
    else:
        total = total_tokens
    targets = {}
    for b in BUCKETS:
        wanted = int(total * shares[b])
        if total_tokens is None:
            wanted = min(wanted, reachable[b])  # the binding bucket, up to float rounding
        if wanted > reachable[b] and config.small_bucket == "error":
            limit, key = limits[b]
            epochs = wanted / costs[b]
            raised = key if limit < config.max_doc_copies else f"{key} and balance.max_doc_copies"
            raise BalanceError(
                f"bucket {b} has {costs[b]:,} tokens; {wanted:,} tokens ({shares[b]:.1%} of {total:,.0f}, "
                f"balance.ratios) would need {epochs:.2f} epochs > {key}={limit}: lower --total-tokens or "
                f"balance.ratios.{b}, raise {raised}, or set balance.small_bucket: cap")
        targets[b] = min(wanted, reachable[b])
    return targets


def water_level(bins: list[tuple[int, int]], target: int, cap: int) -> float | None:
    """The level ``L`` with ``sum(min(L * weight, cap * cost)) = target`` over the ``(cost, weighted
    cost)`` bins; None when the target is the whole capacity (every document at the cap)."""
    if target <= 0:
        return 0.0
    if target >= cap * sum(cost for cost, _ in bins):
        return None
    saturated_cost, rest_weight = 0, sum(weighted for _, weighted in bins)
    for cost, weighted in sorted(bins, key=lambda b: b[1] / b[0], reverse=True):  # the heaviest reach the cap first
        level = (target - cap * saturated_cost) / rest_weight
        if level * weighted <= cap * cost:  # the heaviest bin left stays below the cap, so do the lighter ones
            return level
        saturated_cost, rest_weight = saturated_cost + cost, rest_weight - weighted
    raise AssertionError("unreachable: the target is below the capacity")


def _apportion(amounts: dict[int, float], total: int) -> dict[int, int]:
    """Integers summing to ``total``, each within 1 of its amount (largest remainders first)."""
    if not amounts:
        return {}
    floors = {g: math.floor(a) for g, a in amounts.items()}
    left = total - sum(floors.values())
    order = sorted(amounts, key=lambda g: (floors[g] - amounts[g], g)) if left >= 0 else sorted(
        amounts, key=lambda g: (amounts[g] - floors[g], g))
    for i in range(abs(left)):
        floors[order[i % len(order)]] += 1 if left > 0 else -1
    return floors


def solve_mixture(histogram: dict[tuple[str, int, int], list[int]], total_tokens: int | None,
                  config: BalanceConfig) -> dict[str, dict[str, Any]]:
    """Per bucket from the weight histogram ``(bucket, group, bin) -> [docs, cost, weighted cost]``:
    target, level and each source group's planned cost (see module docstring)."""
    entries = {b: sorted((key[1:], value) for key, value in histogram.items() if key[0] == b) for b in BUCKETS}
    costs = {b: sum(v[1] for _, v in entries[b]) for b in BUCKETS}
    targets = bucket_targets(costs, total_tokens, config)
    cap = config.max_doc_copies
    solution = {}
    for b in BUCKETS:
        level = water_level([(v[1], v[2]) for _, v in entries[b]], targets[b], cap)
        groups: dict[int, list[int]] = {}
        expected: dict[int, float] = {}
        for (group, _), (docs, cost, weighted) in entries[b]:
            totals = groups.setdefault(group, [0, 0, 0])
            for i, value in enumerate((docs, cost, weighted)):
                totals[i] += value
            share = cap * cost if level is None else min(level * weighted, cap * cost)
            expected[group] = expected.get(group, 0.0) + share
        planned = _apportion(expected, targets[b])
        solution[b] = {
            "target": targets[b], "docs": sum(g[0] for g in groups.values()), "unique_tokens": costs[b],
            "weighted_cost": sum(g[2] for g in groups.values()), "level": level,
            "groups": {g: {"target": planned[g], "docs": docs, "unique_tokens": cost, "weighted_cost": weighted}
                       for g, (docs, cost, weighted) in sorted(groups.items())}}
    return solution


def raw_copies(level: float | None, weight: int) -> float:
    """Expected copies at scale 1 before the cap (inf when the bucket is all at the cap)."""
    return math.inf if level is None else level * weight


def rounding_unit(seed: int, doc_id: str) -> float:
    """The document's ``u`` in [0, 1) for the hash-seeded rounding."""
    return unit(seed, "repeat", doc_id)


def scale_grid(config: BalanceConfig) -> np.ndarray:
    return np.exp(np.linspace(-config.scale_range, config.scale_range, config.scale_steps))


def shift_grid(config: BalanceConfig) -> np.ndarray:
    return np.arange(config.rounding_shifts, dtype=np.float64) / config.rounding_shifts


def copies_on_grid(raw: float, u: float, scales: np.ndarray, shifts: np.ndarray, cap: int) -> np.ndarray:
    """Copies of one document for every (shift, scale): ``min(floor(min(scale * raw, cap) + frac(u + shift)), cap)``.
    The plan and the per-document step both call this, so they agree bit for bit."""
    offsets = np.mod(u + shifts, 1.0)
    expected = np.minimum(scales * raw, cap)
    return np.minimum(np.floor(expected[None, :] + offsets[:, None]), cap).astype(np.int64)


class _AchievedOnGrid(beam.CombineFn):
    """(bucket, group) -> achieved cost (int64) at each (shift, scale)."""

    def __init__(self, scales: np.ndarray, shifts: np.ndarray, cap: int):
        self._scales, self._shifts, self._cap = scales, shifts, cap

    def create_accumulator(self) -> dict[tuple[str, int], np.ndarray]:
        return {}

    def add_input(self, acc: dict[tuple[str, int], np.ndarray], item: tuple[tuple[str, int], int, float, float]):
        key, cost, raw, u = item
        contribution = copies_on_grid(raw, u, self._scales, self._shifts, self._cap) * cost
        if key in acc:
            acc[key] += contribution
        else:
            acc[key] = contribution
        return acc

    def merge_accumulators(self, accs: Iterable[dict[tuple[str, int], np.ndarray]]) -> dict[tuple[str, int], np.ndarray]:
        merged: dict[tuple[str, int], np.ndarray] = {}
        for acc in accs:
            for key, sums in acc.items():
                merged[key] = merged[key] + sums if key in merged else sums.copy()
        return merged

    def extract_output(self, acc: dict[tuple[str, int], np.ndarray]) -> dict[tuple[str, int], np.ndarray]:
        return acc


def choose_plan(achieved: dict[tuple[str, int], np.ndarray], solution: dict[str, dict[str, Any]],
                scales: np.ndarray, shifts: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per bucket and source group the (shift, scale) whose achieved cost is closest to the group's
    goal: its planned cost plus what the smaller groups before it missed (ties: the scale closest
    to 1, then the smallest shift)."""
    distance_from_one = np.broadcast_to(np.abs(np.log(scales))[None, :], (len(shifts), len(scales))).ravel()
    order = np.arange(len(shifts) * len(scales))
    plan = {}
    for b in BUCKETS:
        bucket = solution[b]
        groups, carry, total = {}, 0, 0
        for g, group in sorted(bucket["groups"].items(), key=lambda item: (item[1]["unique_tokens"], item[0])):
            sums = achieved.get((b, g))
            goal = group["target"] + carry
            if sums is None or bucket["target"] == 0:
                groups[g] = {**group, "scale": 0.0, "shift": 0.0, "achieved": 0}
                continue
            flat = sums.ravel()
            best = int(np.lexsort((order, distance_from_one, np.abs(flat - goal)))[0])
            shift, scale = divmod(best, len(scales))
            groups[g] = {**group, "scale": float(scales[scale]), "shift": float(shifts[shift]), "achieved": int(flat[best])}
            carry = goal - int(flat[best])
            total += int(flat[best])
        epochs = total / bucket["unique_tokens"] if bucket["unique_tokens"] else 0.0
        plan[b] = {**bucket, "groups": dict(sorted(groups.items())), "achieved": total, "epochs": epochs}
    return plan


class _RepeatDoFn(beam.DoFn):
    """(doc, group, weight) -> its copies; on ``COUNTS`` the per-bucket copy figures of the manifest."""

    def __init__(self, seed: int, cap: int, costs: "DocCost"):
        self._seed, self._cap, self._costs = seed, cap, costs
        self._copies = Metrics.counter(NAMESPACE, "copies")
        self._dropped = Metrics.counter(NAMESPACE, "docs_without_copy")
        self._at_cap = Metrics.counter(NAMESPACE, "docs_at_max_doc_copies")

    def process(self, item: tuple[TokenizedDoc, int, int], plan: dict[str, dict[str, Any]]) -> Iterable:
        doc, group, weight = item
        bucket = plan[doc.bucket]
        rule = bucket["groups"][group]
        copies = int(copies_on_grid(raw_copies(bucket["level"], weight), rounding_unit(self._seed, doc.id),
                                    np.array([rule["scale"]]), np.array([rule["shift"]]), self._cap)[0, 0])
        if copies == 0:
            self._dropped.inc()
        elif copies == self._cap:
            self._at_cap.inc()
        yield beam.pvalue.TaggedOutput(COUNTS, (("copies", doc.bucket, copies), (1,)))
        yield beam.pvalue.TaggedOutput(COUNTS, (("group", doc.bucket, group), (copies, copies * (doc.n_tokens + 1))))
        cost = self._costs(doc)
        for copy in range(copies):
            self._copies.inc()
            yield DocCopy(doc, copy, cost)


class DocCost:
    """A document's expected cost in the packed corpus (``fim.expected_cost``), planned at the
    phase-1 sequence length, where most tokens go."""

    def __init__(self, fim_rates: dict[str, float], seq_len: int):
        self._rates, self._seq_len = dict(fim_rates), seq_len

    def __call__(self, doc: TokenizedDoc) -> int:
        return expected_cost(doc.n_tokens, self._rates.get(doc.bucket, 0.0), self._seq_len)


def mixture_report(plan: dict[str, dict[str, Any]], counts: dict[tuple, list[int]],
                   config: BalanceConfig) -> dict[str, dict[str, Any]]:
    """Per bucket for the manifest: the configured share and epoch limit, the plan, the distribution
    of copies per document, and per source group its planned and achieved share of the bucket
    (achieved = tokens + ``<|endoftext|>`` of the copies made)."""
    shares = config.shares()
    report = {}
    for b in BUCKETS:
        bucket = plan[b]
        histogram = {n: value[0] for (kind, bucket_name, n), value in sorted(counts.items())
                     if kind == "copies" and bucket_name == b}
        made = {g: counts.get(("group", b, g), [0, 0]) for g in bucket["groups"]}
        tokens = sum(t for _, t in made.values())
        sources = []
        for g, group in sorted(bucket["groups"].items(), key=lambda item: (item[0] == OTHER, item[0])):
            rule = config.source_weights[g] if g != OTHER else None
            sources.append({
                "rule": None if rule is None else f"balance.source_weights[{g}]",
                "pattern": None if rule is None else rule.pattern, "weight": 1.0 if rule is None else rule.weight,
                **{k: group[k] for k in ("docs", "unique_tokens", "target", "achieved", "scale", "shift")},
                "target_share": group["target"] / bucket["target"] if bucket["target"] else 0.0,
                "copies": made[g][0], "tokens": made[g][1], "share": made[g][1] / tokens if tokens else 0.0})
        limit, limit_key = config.epoch_limit(b)
        level = bucket["level"]
        report[b] = {
            **{k: v for k, v in bucket.items() if k not in ("groups", "level")},
            # expected copies of a document of weight 1 before the cap; None: every document at the cap
            "copies_per_weight": None if level is None else level * WEIGHT_ONE,
            "ratio": config.ratios[b], "target_share": shares[b], "epoch_limit": limit, "epoch_limit_key": limit_key,
            "copies": {str(n): docs for n, docs in histogram.items()},
            "max_copies": max((n for n, docs in histogram.items() if docs), default=0),
            "docs_at_cap": histogram.get(config.max_doc_copies, 0), "sources": sources}
    return report


class Balance(beam.PTransform):
    """PCollection[TokenizedDoc] -> {"copies": DocCopy, "plan": singleton dict (per-bucket plan),
    "counts": singleton dict (copies per document and per source group, for ``mixture_report``)}."""

    def __init__(self, config: BalanceConfig, upsampling: UpsamplingConfig, total_tokens: int | None, seed: int,
                 costs: DocCost):
        super().__init__()
        self.config, self.upsampling, self.total_tokens, self.seed, self.costs = (
            config, upsampling, total_tokens, seed, costs)

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        config, seed, costs, cap = self.config, self.seed, self.costs, self.config.max_doc_copies
        weigher = DocWeigher(self.upsampling, config.source_weights, config.cluster_weights)
        scales, shifts = scale_grid(config), shift_grid(config)
        weighed = docs | "Weigh" >> beam.Map(lambda d: (d, *weigher(d)))

        def histogram_item(item: tuple[TokenizedDoc, int, int]):
            doc, group, weight = item
            cost = costs(doc)
            return (doc.bucket, group, weight_bin(weight)), (1, cost, cost * weight)

        histogram = (weighed
                     | "WeightBin" >> beam.Map(histogram_item)
                     | "WeightHistogram" >> beam.CombineGlobally(_SumByKey()))
        solution = histogram | "Solve" >> beam.Map(solve_mixture, self.total_tokens, config)

        def grid_item(item: tuple[TokenizedDoc, int, int], solution: dict[str, dict[str, Any]]):
            doc, group, weight = item
            raw = raw_copies(solution[doc.bucket]["level"], weight)
            return (doc.bucket, group), costs(doc), raw, rounding_unit(seed, doc.id)

        achieved = (weighed
                    | "GridItems" >> beam.Map(grid_item, beam.pvalue.AsSingleton(solution))
                    | "AchievedOnGrid" >> beam.CombineGlobally(_AchievedOnGrid(scales, shifts, cap)))
        plan = achieved | "ChooseScale" >> beam.Map(choose_plan, beam.pvalue.AsSingleton(solution), scales, shifts)
        repeated = weighed | "Repeat" >> beam.ParDo(_RepeatDoFn(seed, cap, costs), beam.pvalue.AsSingleton(plan)
                                                    ).with_outputs(COUNTS, main="copies")
        counts = repeated[COUNTS] | "CopyCounts" >> beam.CombineGlobally(_SumByKey())
        return {"copies": repeated["copies"], "plan": plan, "counts": counts}
