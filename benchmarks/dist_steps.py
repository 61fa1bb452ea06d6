"""Steps for benchmarks/distributed.py, in a module worker processes can import."""

from __future__ import annotations

import numpy as np

from recyclable import recyclable


class StepFailed(RuntimeError):
    """The step asked to fail did."""


@recyclable(ignore=["fail"])
def cpu_step(index: int, size: int, fail: bool = False) -> int:
    """An independent CPU-bound step (a pure-Python loop, so threads would not help)."""
    if fail:
        raise StepFailed(f"step {index} failed on purpose")
    total = index
    for i in range(size):
        total = (total * 31 + (i ^ index)) % 1_000_003
    return total


@recyclable
def small_result(seed: int) -> dict[str, list[int]]:
    """A small result: its pickle lives inside the manifest."""
    return {"sample": list(range(seed % 7, seed % 7 + 20)), "group": [seed] * 20}


@recyclable
def array_result(seed: int, nbytes: int) -> np.ndarray:
    """A result with one large buffer: stored as a separate blob."""
    return np.random.default_rng(seed).random(nbytes // 8)


def warm() -> int:
    """A no-op task that makes a worker process import this module before timing starts."""
    return 0
