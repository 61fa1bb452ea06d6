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

import crash_hook
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
    if os.environ.get("RECYCLABLE_TEST_GATE_AT") == step and log:
        Path(log + ".started").write_text(step)
        deadline = time.monotonic() + 60
        while not Path(log + ".gate").exists() and time.monotonic() < deadline:
            time.sleep(0.01)


def executions(log: Path) -> list[str]:
    """The steps that really ran, in order, as recorded in the log file."""
    return log.read_text().split() if log.exists() else []


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


@recyclable
def prepare(seed: int) -> int:
    """A small first step (its result is stored inline, with no blob)."""
    _ran("prepare")
    return seed * 7


@recyclable
def big_step(seed: int, n: int = 1_000_000) -> np.ndarray:
    """A large result (8 MB by default) stored as a separate blob."""
    _ran("big_step")
    return np.random.default_rng(seed).random(n)


def two_steps(seed: int) -> np.ndarray:
    """prepare → big_step: a crash in big_step's store must leave prepare's entry usable."""
    return big_step(prepare(seed))


def expected_square(x: int) -> dict[str, object]:
    """What `square` returns, computed without the cache (for checking results)."""
    return {"x": x, "square": x * x, "pad": np.full(10_000, x, dtype=np.int64)}


@recyclable
def square(x: int) -> dict[str, object]:
    """A step whose result carries a blob; logs ``square:<x>`` each time it really runs."""
    _ran(f"square:{x}")
    delay = float(os.environ.get("RECYCLABLE_TEST_WORK_SECONDS", "0"))
    if delay:
        time.sleep(delay)  # stands for real work, widening the window in which calls overlap
    return expected_square(x)


@recyclable
def square_twin(x: int) -> dict[str, object]:
    """Another step with `square`'s result: a different entry sharing the same blob."""
    _ran(f"twin:{x}")
    return expected_square(x)


def call(cache_dir: str, pool_name: str, func: str, *args: int, **options: float) -> object:
    """Run one function of this module with a pool of ``cache_dir`` active."""
    cache = Cache(cache_dir, **options)  # type: ignore[arg-type]
    with cache.create_pool(pool_name, reuse=True):
        return globals()[func](*args)


def main() -> None:
    """``python pipeline_actions.py CACHE POOL [key=value ...]``: run analyze in the pool."""
    # Only the test suite's children arm the store's crash points, here.
    crash_hook.install_from_environment()
    if sys.argv[1] == "call":
        # ``python pipeline_actions.py call CACHE POOL FUNC INT... [lease_timeout=SECONDS]``
        cache_dir, pool_name, func, *rest = sys.argv[2:]
        args = [int(a) for a in rest if "=" not in a]
        options = {k: float(v) for k, v in (a.split("=") for a in rest if "=" in a)}
        call(cache_dir, pool_name, func, *args, **options)
        return
    cache_dir, pool_name, *params = sys.argv[1:]
    kwargs = {k: int(v) for k, v in (p.split("=") for p in params)}
    cache = Cache(cache_dir)
    with cache.create_pool(pool_name, reuse=True):
        result = analyze(**kwargs)
    print(repr(result))


@recyclable
def identity(value: object) -> object:
    """Return the argument unchanged (for round-trip tests)."""
    return value


# --- independent steps for parallel engines --------------------------------------------
#
# Long-lived workers (Dask, loky) do not see environment changes made after
# they started, so these steps take their log file and failure switches as
# arguments, left out of the key with ``ignore``: a re-run without the switch
# is the same call.


def note(log: str, line: str) -> None:
    """Append one line to ``log`` in a single write (safe across processes)."""
    if not log:
        return
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def count_done(log: str) -> int:
    """How many steps have logged that they finished."""
    try:
        return sum(line.startswith("done ") for line in Path(log).read_text().splitlines())
    except FileNotFoundError:
        return 0


def cpu_work(index: int, size: int) -> int:
    """A CPU-bound loop (holds the GIL): the reference the tests compare with."""
    total = index
    for i in range(size):
        total = (total * 31 + (i ^ index)) % 1_000_003
    return total


@recyclable(ignore=["log", "fail", "crash", "after_done"])
def cpu_step(
    index: int,
    size: int,
    log: str = "",
    fail: bool = False,
    crash: bool = False,
    after_done: int = 0,
) -> int:
    """One independent step; ``after_done`` waits (bounded) for that many other steps first.

    ``fail`` raises `StepFailed`; ``crash`` kills the worker process outright.
    """
    note(log, f"start {index}")
    deadline = time.monotonic() + 60
    while after_done and count_done(log) < after_done and time.monotonic() < deadline:
        time.sleep(0.01)
    if crash:
        os._exit(70)
    if fail:
        raise StepFailed(f"step {index} failed on purpose")
    result = cpu_work(index, size)
    note(log, f"done {index}")
    return result


if __name__ == "__main__":
    # Run the imported module's functions, not this __main__ copy's, so keys
    # match those of tests that import pipeline_actions.
    import pipeline_actions

    pipeline_actions.main()
