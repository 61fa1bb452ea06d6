"""The hit and no-pool rows of the ``calls`` group: each against its floor, in the same rounds.

- a hit of a trivial ``f(int)`` against the floor of opening, reading and
  closing that entry's manifest file (``os.open``/``os.read``/``os.close``),
  in alternating rounds;
- two processes hitting one pool against one, and two processes reading the
  small file against one: the hit's scaling next to the floor's; and two
  processes running plain Python (no I/O, nothing shared) against one, the
  scaling any interpreter-bound work gets on this machine;
- the cost a decorated call adds with no active pool, against a bare
  ``wrapt`` pass-through, by instruction count (`nopool_instructions`).

Every ratio is printed as ``peer / ours`` (the run table's ratio column): for
a floor, ``floor / ours`` below 1 says how many times the floor the hit costs.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recyclable import Cache
from recyclable import recyclable as recyclable_decorator


def _trivial(x: int) -> int:
    return x + 1


def _manifest_path(cache: Cache) -> str:
    (path,) = (cache.path / "entries").rglob("*.json")
    return str(path)


def _read_floor(path: str) -> Callable[[], None]:
    def floor() -> None:
        fd = os.open(path, os.O_RDONLY)
        os.read(fd, 1 << 16)
        os.close(fd)

    return floor


def _per_call(func: Callable[[], Any], number: int) -> float:
    """CPU seconds (user + system) per call over ``number`` calls.

    CPU time rather than wall clock: on a shared machine a round is
    preempted with a probability that grows with its length, which would
    count other people's work against whichever of the two takes longer.
    """
    gc.disable()
    try:
        start = time.process_time()
        for _ in range(number):
            func()
        return (time.process_time() - start) / number
    finally:
        gc.enable()


def hit_vs_floor(smoke: bool, workdir: Path, row: Any, counted: Any) -> list[Any]:
    """A trivial hit against reading its manifest file, alternating which goes first."""
    cache = Cache(workdir / "hit-floor")
    pool = cache.create_pool("floor")
    ours = recyclable_decorator(name="trivial_floor")(_trivial)
    with pool, counted(pool, "trivial store", loaded=0, computed=1):
        ours(1)
    floor = _read_floor(_manifest_path(cache))
    number = 200 if smoke else 5000
    rounds = 5 if smoke else 21
    hits: list[float] = []
    floors: list[float] = []
    with pool, counted(pool, "hit vs floor", loaded=(rounds + 1) * number, computed=0):
        _per_call(lambda: ours(1), number)  # warm both paths untimed
        _per_call(floor, number)
        for round_no in range(rounds):
            if round_no % 2 == 0:
                hits.append(_per_call(lambda: ours(1), number))
                floors.append(_per_call(floor, number))
            else:
                floors.append(_per_call(floor, number))
                hits.append(_per_call(lambda: ours(1), number))
    ratios = [h / f for h, f in zip(hits, floors, strict=True)]
    return [
        row(
            "calls",
            f"hit, trivial f(int) vs the floor, CPU (ours {statistics.median(ratios):.2f}× floor)",
            statistics.median(hits),
            "open+read+close its manifest (CPU)",
            statistics.median(floors),
            "floor/ours ≥ 0.4 (≤ 2.5× the floor)",
            "warm",
        )
    ]


# --- two processes ------------------------------------------------------------------------


def _hitter(cache_dir: str, kind: str, number: int, ready: Any, results: Any) -> None:
    """A child: open the cache, wait for the start, make ``number`` hits (or floor reads).

    It reports its own start and end: the parent, woken by the same barrier
    as two busy children on two CPUs, may run a time slice late, and a start
    taken there would shorten every two-process span (the shorter the run,
    the more: it made the floor's scaling read above 2×).
    """
    cache = Cache(cache_dir)
    pool = cache.create_pool("scaling", reuse=True)
    ours = recyclable_decorator(name="trivial_scaling")(_trivial)
    floor = _read_floor(_manifest_path(cache))
    with pool:
        ours(1)  # warm: code key and manifest
        loaded = pool.stats.loaded
        ready.wait()
        gc.disable()
        start = time.monotonic()
        if kind == "hit":
            for _ in range(number):
                ours(1)
        elif kind == "floor":
            for _ in range(number):
                floor()
        else:
            for _ in range(number):
                _python_work()
        end = time.monotonic()
        gc.enable()
    results.put((start, end, pool.stats.loaded - loaded))


def _python_work() -> int:
    """Interpreter-bound work with no I/O and nothing shared, a few µs long."""
    total = 0
    for i in range(200):
        total += i * i
    return total


def scaling(smoke: bool, workdir: Path, row: Any, invalid: type[Exception]) -> list[Any]:
    """Hits/s of two processes over one, next to the same for reading a small file."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    cache_dir = str(workdir / "hit-scaling")
    pool = Cache(cache_dir).create_pool("scaling")
    with pool:
        recyclable_decorator(name="trivial_scaling")(_trivial)(1)
    # Calls per process of each kind, for runs of about half a second each
    # (a hit ~11 µs, a small-file read ~4.5 µs, the Python loop ~6.7 µs).
    numbers = {"hit": 50_000, "floor": 120_000, "python": 80_000}
    if smoke:
        numbers = {kind: n // 20 for kind, n in numbers.items()}

    def run(processes: int, kind: str) -> float:
        number = numbers[kind]
        ready = context.Barrier(processes + 1)
        results = context.Queue()
        jobs = [
            context.Process(target=_hitter, args=(cache_dir, kind, number, ready, results))
            for _ in range(processes)
        ]
        for job in jobs:
            job.start()
        ready.wait()
        reports = [results.get(timeout=600) for _ in jobs]
        for job in jobs:
            job.join()
        if any(job.exitcode != 0 for job in jobs):
            raise RuntimeError("a hitting process failed")
        expected = number if kind == "hit" else 0
        if any(loaded != expected for _, _, loaded in reports):
            raise invalid(
                f"scaling: each {kind} process must load {expected} time(s), "
                f"got {[loaded for _, _, loaded in reports]} (is RECYCLABLE_DISABLE set?)"
            )
        # From the first child's start to the last one's end: per second.
        span = max(end for _, end, _ in reports) - min(start for start, _, _ in reports)
        return processes * number / span

    rates: dict[tuple[str, int], list[float]] = {}
    rounds = 1 if smoke else 8
    for round_no in range(rounds):
        order = [("hit", 1), ("hit", 2), ("floor", 1), ("floor", 2), ("python", 1), ("python", 2)]
        for kind, processes in order if round_no % 2 == 0 else order[::-1]:
            rates.setdefault((kind, processes), []).append(run(processes, kind))
    med = {k: statistics.median(v) for k, v in rates.items()}
    hit_scale = med[("hit", 2)] / med[("hit", 1)]
    floor_scale = med[("floor", 2)] / med[("floor", 1)]
    python_scale = med[("python", 2)] / med[("python", 1)]
    return [
        row(
            "calls",
            f"2 processes hitting one pool (hits/s {hit_scale:.2f}× one's)",
            1 / med[("hit", 2)],
            "1 process (per hit)",
            1 / med[("hit", 1)],
            f"one/two ≥ the floor's {floor_scale:.2f}×",
            "warm",
        ),
        row(
            "calls",
            f"2 processes reading a small file (floor, {floor_scale:.2f}× one's)",
            1 / med[("floor", 2)],
            "1 process (per read)",
            1 / med[("floor", 1)],
            "- (the floor's own scaling)",
            "warm",
        ),
        row(
            "calls",
            f"2 processes running plain Python (CPU-bound, {python_scale:.2f}× one's)",
            1 / med[("python", 2)],
            "1 process (per loop)",
            1 / med[("python", 1)],
            "- (interpreter-bound work's own scaling)",
            "-",
        ),
    ]


def nopool(smoke: bool, row: Any) -> list[Any]:
    """The no-pool row by instruction count; a row saying why when no counter is available."""
    from nopool_instructions import measure

    if smoke:
        # Four interpreters under valgrind take about 45 s of CPU whatever the
        # number of calls: too long for a run that only proves the suite runs.
        print("skipping the no-pool instruction row in smoke mode (run without --smoke)")
        return []
    try:
        counts, tool = measure(20_000)
    except RuntimeError as exc:
        print(f"skipping the no-pool instruction row: {exc}")
        return []
    wrapt = counts["wrapt"] - counts["plain"]
    rows = []
    for variant, when in (
        ("recyclable", "no pool ever entered"),
        ("recyclable-after-pool", "after a pool was left"),
    ):
        ours = counts[variant] - counts["plain"]
        rows.append(
            row(
                "calls",
                f"no active pool, {when}: instructions added "
                f"({tool}; ours {ours / wrapt:.3f}× wrapt's)",
                ours,
                "bare wrapt pass-through (added)",
                wrapt,
                "wrapt/ours ≥ 0.95 (ours ≤ 1.05× wrapt's)",
                unit="instructions",
            )
        )
    return rows
