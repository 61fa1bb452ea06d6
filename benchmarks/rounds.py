"""Timing helpers shared by the benchmark groups: one timed call, alternating rounds."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(func: Callable[[], Any]) -> float:
    """Seconds of one call, with the cyclic garbage collector paused (as in run.py)."""
    gc.disable()
    try:
        start = time.perf_counter()
        func()
        return time.perf_counter() - start
    finally:
        gc.enable()


def alternating(
    ours: Callable[[], float], floor: Callable[[], float], rounds: int
) -> tuple[float, float]:
    """Median seconds of each, measured in the same rounds, the order alternating."""
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        if i % 2:
            b.append(floor())
            a.append(ours())
        else:
            a.append(ours())
            b.append(floor())
    return statistics.median(a), statistics.median(b)
