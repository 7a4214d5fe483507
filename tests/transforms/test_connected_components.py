"""Large-star/small-star connected components on Beam's DirectRunner, against a union-find
reference, on graphs whose ids are ordered to need several rounds."""
from __future__ import annotations

import json
import random
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from corpus.local_runner import new_pipeline
from transforms.connected_components import ConnectedComponents


def reference_roots(edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(node, smallest id of its component) for every non-minimum node, by union-find."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return sorted((n, find(n)) for n in parent if find(n) != n)


def run_components(edges: list[tuple[str, str]], max_rounds: int, tmp: Path) -> tuple[list, dict]:
    with new_pipeline(PipelineOptions()) as pipeline:
        out = pipeline | beam.Create(edges) | ConnectedComponents(max_rounds)
        out["roots"] | "RootsJson" >> beam.Map(json.dumps) | "WriteRoots" >> beam.io.WriteToText(str(tmp / "roots"))
        out["rounds"] | "RoundsJson" >> beam.Map(json.dumps) | "WriteRounds" >> beam.io.WriteToText(str(tmp / "rounds"))

    def rows(prefix: str) -> list:
        return [json.loads(line) for f in sorted(tmp.glob(f"{prefix}-*")) for line in f.read_text().splitlines()]

    (rounds,) = rows("rounds")
    return sorted(tuple(r) for r in rows("roots")), rounds


def scrambled_path(length: int, seed: int) -> list[tuple[str, str]]:
    """A path whose node ids are a random permutation: the minimum sits anywhere on it."""
    ids = [f"n{i:03d}" for i in range(length)]
    random.Random(seed).shuffle(ids)
    return list(zip(ids, ids[1:]))


def test_components_of_scrambled_paths_and_stars_match_union_find(tmp_path):
    edges = (
        scrambled_path(40, seed=1)
        + [(f"s{i:02d}", "s50") for i in range(1, 20)]  # star whose centre is the largest id
        + [("a", "b"), ("b", "c"), ("c", "a")]  # a cycle
        + [(f"p{i}", f"p{i + 1}") for i in range(10)]  # path in descending-friendly order
    )
    roots, rounds = run_components(edges, max_rounds=10, tmp=tmp_path)
    assert roots == reference_roots(edges)
    assert rounds["converged"] is True
    assert rounds["rounds_run"] > 1  # a scrambled 40-node path is not a star after one round
    assert rounds["changes_per_round"][-1] == 0


def test_duplicate_and_reversed_edges_do_not_change_components(tmp_path):
    edges = scrambled_path(15, seed=2)
    noisy = edges + [(b, a) for a, b in edges] + edges[:5]
    roots, _ = run_components(noisy, max_rounds=10, tmp=tmp_path)
    assert roots == reference_roots(edges)


def test_unconverged_components_still_keep_every_component_minimum(tmp_path):
    edges = scrambled_path(60, seed=3)
    roots, rounds = run_components(edges, max_rounds=1, tmp=tmp_path)
    assert rounds == {"rounds_run": 1, "max_rounds": 1, "converged": False,
                      "changes_per_round": rounds["changes_per_round"]}
    assert rounds["changes_per_round"][0] > 0
    removed = {node for node, _ in roots}
    assert "n000" not in removed  # the component minimum is never removed
    assert all(root < node for node, root in roots)  # every link points to a smaller, linked id
    assert removed <= {node for node, _ in reference_roots(edges)}


def test_no_edges_is_converged_after_one_round(tmp_path):
    roots, rounds = run_components([], max_rounds=3, tmp=tmp_path)
    assert roots == []
    assert rounds == {"rounds_run": 1, "max_rounds": 3, "converged": True, "changes_per_round": [0]}


def test_max_rounds_must_be_positive():
    with pytest.raises(ValueError, match="max_rounds"):
        ConnectedComponents(0)
