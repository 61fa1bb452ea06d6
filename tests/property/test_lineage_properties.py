"""For any graph of steps, the lineage recorded is exactly the graph that ran."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from recyclable import Cache, recyclable


@recyclable
def node(index: int, inputs: list[np.ndarray]) -> np.ndarray:
    """One step of a generated graph: its own index plus the sum of its inputs."""
    total = np.full(3, float(index))
    for item in inputs:
        total = total + item
    return total


@st.composite
def graphs(draw: st.DrawFn) -> list[list[int]]:
    """For each node, the earlier nodes it takes as inputs (a DAG in topological order)."""
    size = draw(st.integers(1, 7))
    return [
        sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(size)
    ]


def _run(cache_dir: Path, graph: list[list[int]]) -> list[tuple[str, str, list[list[str]]]]:
    """Run the graph in a fresh pool object; per step: key, state, inputs as [part, key]."""
    pool = Cache(cache_dir).create_pool("g", reuse=True)
    with pool:
        results: list[np.ndarray] = []
        for index, parents in enumerate(graph):
            results.append(node(index, [results[p] for p in parents]))
    return [
        (s.key, s.state, [[part, key] for _, part, key, _ in s.inputs])
        for s in pool.steps.snapshot()
    ]


@settings(max_examples=25, deadline=None)
@given(graphs())
def test_lineage_is_the_graph_that_ran_computed_and_loaded(graph: list[list[int]]) -> None:
    """Each step names exactly its parents (by list position), in a run and in its resume."""
    with tempfile.TemporaryDirectory() as tmp:
        for expected_state in ("computed", "loaded"):
            steps = _run(Path(tmp), graph)
            keys = [key for key, _, _ in steps]
            assert [state for _, state, _ in steps] == [expected_state] * len(graph)
            for (_, _, inputs), parents in zip(steps, graph, strict=True):
                assert inputs == [[f"[{n}]", keys[p]] for n, p in enumerate(parents)]
