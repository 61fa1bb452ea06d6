"""Recyclable actions shared by the tests, importable by child processes.

Every step appends its name to the file named by ``RECYCLABLE_TEST_LOG`` when it
really runs, so a test can count executions across processes.  A step named in
``RECYCLABLE_TEST_FAIL_AT`` raises; one named in ``RECYCLABLE_TEST_HANG_AT``
writes ``<log>.hang`` and then waits to be killed; one named in
``RECYCLABLE_TEST_WAIT_AT`` writes ``<log>.waiting`` and then waits (at most a
minute) until ``<log>.go`` exists, so a test can act while the run is half-way.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from recyclable import Cache, recyclable


class StepFailed(RuntimeError):
    """Raised by the step named in RECYCLABLE_TEST_FAIL_AT."""


def _ran(step: str) -> None:
    log = os.environ.get("RECYCLABLE_TEST_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(step + "\n")
    if os.environ.get("RECYCLABLE_TEST_FAIL_AT") == step:
        raise StepFailed(f"{step} failed on purpose")
    if os.environ.get("RECYCLABLE_TEST_WAIT_AT") == step and log:
        Path(log + ".waiting").write_text(step)
        deadline = time.monotonic() + 60
        while not Path(log + ".go").exists():
            if time.monotonic() > deadline:
                raise StepFailed(f"{step} waited a minute for {log}.go")
            time.sleep(0.02)
    if os.environ.get("RECYCLABLE_TEST_HANG_AT") == step and log:
        Path(log + ".hang").write_text(step)
        while True:  # wait for SIGKILL from the test
            time.sleep(0.05)


@recyclable
def load_reads(n: int, seed: int) -> np.ndarray:
    _ran("load_reads")
    return np.random.default_rng(seed).integers(0, 40, size=n).astype(np.int64)


@recyclable
def denoise(reads: np.ndarray, min_quality: int = 20) -> np.ndarray:
    _ran("denoise")
    return reads[reads >= min_quality]


@recyclable
def load_metadata(samples: int) -> dict[str, list[int]]:
    _ran("load_metadata")
    return {"sample": list(range(samples)), "group": [i % 2 for i in range(samples)]}


@recyclable
def feature_table(denoised: np.ndarray) -> np.ndarray:
    _ran("feature_table")
    return np.bincount(denoised, minlength=40)


@recyclable
def diversity(table: np.ndarray, metadata: dict[str, list[int]]) -> float:
    _ran("diversity")
    p = table[table > 0] / table.sum()
    return float(-(p * np.log(p)).sum()) + len(metadata["sample"])


@recyclable
def analyze(n: int = 5000, seed: int = 1, min_quality: int = 20, samples: int = 4) -> float:
    """Two branches: reads → denoise → feature_table, and metadata; joined by diversity."""
    reads = load_reads(n, seed)
    table = feature_table(denoise(reads, min_quality))
    metadata = load_metadata(samples)
    return diversity(table, metadata)


def main() -> None:
    """``python pipeline_actions.py CACHE POOL [key=value ...]``: run analyze in the pool."""
    cache_dir, pool_name, *params = sys.argv[1:]
    kwargs = {k: int(v) for k, v in (p.split("=") for p in params)}
    cache = Cache(cache_dir)
    with cache.create_pool(pool_name, reuse=True):
        result = analyze(**kwargs)
    print(repr(result))


if __name__ == "__main__":
    main()
