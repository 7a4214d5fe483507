"""Distributed connected components: alternating large-star / small-star (Kiveris et al. 2014,
"Connected Components in MapReduce and Beyond", SoCC), as Beam steps.

Input: undirected edges ``(a, b)`` between node ids (strings, compared as strings). Output:
``(node, root)`` for every node that is not the smallest id of its component, ``root`` being that
smallest id. No step holds more than one node's neighbourhood; no worker sees all edges.

Both operations keep the components and shrink the graph towards one star per component centred
on its smallest node:

- large-star at node x (all neighbours N(x)): m = min(N(x) ∪ {x}); every neighbour n > x is
  re-attached to m.
- small-star at node x (only neighbours smaller than x): m = min(N⁻(x) ∪ {x}); x and every
  smaller neighbour are attached to m.

A round (large-star then small-star) that changes no edge is a fixed point, and the fixed point is
one star per component centred on its minimum. Each operation counts its changes locally (large-star:
a node with a smaller neighbour re-points its larger neighbours; small-star: a node with two or more
distinct smaller neighbours), and zero changes in both implies the edge set is unchanged.

Beam graphs are static, so ``max_rounds`` rounds are unrolled. Every round after the first reads
the previous round's change count as a side input: once it is zero, edges bypass the round's
shuffles (the round's GroupByKeys see an empty input), so extra rounds cost almost nothing. The
result says whether the last round converged. If it did not (``max_rounds`` too small for the
graph), each node is still attached to the smallest node it is linked to and every component's
minimum has no parent, so every component keeps at least one survivor; a component may then keep
more than one.

Hub nodes (a large component's minimum) are streamed in two passes over their grouped neighbours
(minimum, then emit), never materialized; this relies on Beam's re-iterable GroupByKey values.
Duplicate edges are tolerated: small-star groups by the larger endpoint and deduplicates there, where
groups are small (a node's smaller neighbours), and the final parent is a ``min`` combine.
"""
from __future__ import annotations

from typing import Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from corpus.shuffle_meter import ShuffleMeter

NAMESPACE = "connected_components"  # Beam counter namespace
CHANGES = "changes"


def _both_directions(edge: tuple[str, str]) -> Iterable[tuple[str, str]]:
    a, b = edge
    yield a, b
    yield b, a


def _towards_larger(edge: tuple[str, str]) -> tuple[str, str]:
    """Key an edge by its larger endpoint, value the smaller (small-star's grouping)."""
    a, b = edge
    return (a, b) if a > b else (b, a)


class _LargeStarFn(beam.DoFn):
    def __init__(self) -> None:
        self._changes = Metrics.counter(NAMESPACE, "cc_large_star_changes")

    def process(self, group: tuple[str, Iterable[str]]) -> Iterable:
        node, neighbours = group
        root = min(node, min(neighbours))
        changes = 0
        for n in neighbours:  # second pass over the re-iterable group
            if n > node:
                yield n, root
                changes += root != node
        if changes:
            self._changes.inc(changes)
            yield beam.pvalue.TaggedOutput(CHANGES, changes)


class _SmallStarFn(beam.DoFn):
    def __init__(self) -> None:
        self._changes = Metrics.counter(NAMESPACE, "cc_small_star_changes")

    def process(self, group: tuple[str, Iterable[str]]) -> Iterable:
        node, smaller = group
        distinct = set(smaller)
        root = min(distinct)
        yield node, root
        for n in distinct:
            if n != root:
                yield n, root
        if len(distinct) > 1:
            self._changes.inc(len(distinct) - 1)
            yield beam.pvalue.TaggedOutput(CHANGES, len(distinct) - 1)


class _RouteByConvergence(beam.DoFn):
    """Edges skip a round once the previous round changed nothing."""

    def process(self, edge: tuple[str, str], previous_changes: int) -> Iterable:
        if previous_changes == 0:
            yield beam.pvalue.TaggedOutput("converged", edge)
        else:
            yield edge


class _StarRound(beam.PTransform):
    """One large-star + small-star round: edges -> {"edges", "changes" (one int)}."""

    def __init__(self, meter: ShuffleMeter):
        super().__init__()
        self._meter = meter

    def expand(self, edges: beam.PCollection) -> dict[str, beam.PCollection]:
        both = edges | "BothDirections" >> beam.FlatMap(_both_directions)
        large = (
            self._meter.group_by_key(both, "GroupNeighbours")
            | "LargeStar" >> beam.ParDo(_LargeStarFn()).with_outputs(CHANGES, main="edges")
        )
        towards_larger = large["edges"] | "TowardsLarger" >> beam.Map(_towards_larger)
        small = (
            self._meter.group_by_key(towards_larger, "GroupSmaller")
            | "SmallStar" >> beam.ParDo(_SmallStarFn()).with_outputs(CHANGES, main="edges")
        )
        changes = (
            (large[CHANGES], small[CHANGES])
            | "AllChanges" >> beam.Flatten()
            | "SumChanges" >> beam.CombineGlobally(sum)
        )
        return {"edges": small["edges"], CHANGES: changes}


class ConnectedComponents(beam.PTransform):
    """Edges -> {"roots": (node, smallest id of its component) for non-root nodes,
    "rounds": one dict {"rounds_run", "max_rounds", "converged", "changes_per_round"}}."""

    def __init__(self, max_rounds: int, meter: ShuffleMeter | None = None):
        super().__init__()
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
        self.max_rounds = max_rounds
        self.meter = meter or ShuffleMeter()

    def expand(self, edges: beam.PCollection) -> dict[str, beam.PCollection]:
        changes_per_round = []
        for i in range(self.max_rounds):
            if changes_per_round:
                routed = edges | f"Route{i}" >> beam.ParDo(
                    _RouteByConvergence(), beam.pvalue.AsSingleton(changes_per_round[-1])
                ).with_outputs("converged", main="active")
                active, bypass = routed["active"], routed["converged"]
            else:
                active, bypass = edges, None
            result = active | f"Round{i}" >> _StarRound(self.meter)
            changes_per_round.append(result[CHANGES])
            edges = result["edges"]
            if bypass is not None:
                edges = (edges, bypass) | f"Merge{i}" >> beam.Flatten()
        roots = edges | "SmallestLinkedNode" >> beam.CombinePerKey(min)
        summary = (
            tuple(c | f"Index{i}" >> beam.Map(lambda n, i=i: (i, n)) for i, c in enumerate(changes_per_round))
            | "AllRounds" >> beam.Flatten()
            | "CollectRounds" >> beam.combiners.ToList()
            | "Summarize" >> beam.Map(_round_summary, self.max_rounds)
        )
        return {"roots": roots, "rounds": summary}


def _round_summary(indexed_changes: list[tuple[int, int]], max_rounds: int) -> dict:
    changes = [n for _, n in sorted(indexed_changes)]
    # Rounds after the first zero-change round were bypassed.
    rounds_run = next((i + 1 for i, n in enumerate(changes) if n == 0), max_rounds)
    return {
        "rounds_run": rounds_run,
        "max_rounds": max_rounds,
        "converged": changes[-1] == 0,
        "changes_per_round": changes[:rounds_run],
    }
