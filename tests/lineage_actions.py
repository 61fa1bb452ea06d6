"""A diamond pipeline for lineage tests: one step's output feeds two others.

::

    source ─┬→ left  ─┬→ combine
            └→ right ─┘

Run as ``python lineage_actions.py CACHE POOL N STATS.json`` it runs
``pipeline(N)`` in the pool and writes ``pool.stats.as_dict()`` to STATS.json,
whether the run succeeds or fails.  The step named in ``RECYCLABLE_TEST_FAIL_AT``
raises; ``RECYCLABLE_TEST_SLOW`` makes ``combine`` take that many seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from recyclable import Cache, recyclable


class StepFailed(RuntimeError):
    """Raised by the step named in RECYCLABLE_TEST_FAIL_AT."""


def _maybe_fail(step: str) -> None:
    if os.environ.get("RECYCLABLE_TEST_FAIL_AT") == step:
        raise StepFailed(f"{step} failed on purpose")


@recyclable
def source(n: int, label: str = "reads") -> dict[str, np.ndarray]:
    """The shared input of both branches."""
    _maybe_fail("source")
    return {"values": np.arange(n, dtype=np.float64), "weights": np.ones(n)}


@recyclable
def left(data: dict[str, np.ndarray], factor: float = 2.0) -> np.ndarray:
    """One branch: scaled values."""
    _maybe_fail("left")
    return data["values"] * factor


@recyclable
def right(data: dict[str, np.ndarray]) -> np.ndarray:
    """The other branch: weighted values."""
    _maybe_fail("right")
    return data["values"] + data["weights"]


@recyclable
def combine(a: np.ndarray, b: np.ndarray) -> float:
    """Joins the two branches."""
    _maybe_fail("combine")
    time.sleep(float(os.environ.get("RECYCLABLE_TEST_SLOW", "0")))
    return float(a.sum() + b.sum())


@recyclable
def pipeline(n: int) -> float:
    """source → left, right → combine."""
    data = source(n)
    return combine(left(data, factor=3.0), right(data))


def main(argv: list[str]) -> int:
    """Run the pipeline in a pool and save its stats (see the module docstring)."""
    cache_dir, pool_name, n, stats_path = argv
    pool = Cache(Path(cache_dir)).create_pool(pool_name, reuse=True)
    pool.progress = os.environ.get("RECYCLABLE_TEST_PROGRESS") == "1"
    code = 0
    try:
        with pool:
            print(pipeline(int(n)))
    except StepFailed as exc:
        print(f"failed: {exc}", file=sys.stderr)
        code = 1
    Path(stats_path).write_text(json.dumps(pool.stats.as_dict()))
    print(pool.summary(failed=code != 0), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
