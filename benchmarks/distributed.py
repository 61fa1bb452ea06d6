"""Benchmarks beyond one process: parallel resume on shared pools, and S3 against local disk.

    python benchmarks/distributed.py            # full sizes (about two minutes)
    python benchmarks/distributed.py --smoke    # tiny sizes: proves the script still runs

1. A pipeline of 16 independent CPU-bound steps runs in a spawn
   ProcessPoolExecutor (through ``recyclable.recycling``) with 1 and with 2
   worker processes sharing one pool on local disk: a first run that fails at
   the last step, the resumed run (15 steps loaded, 1 computed) and a re-run
   with everything stored.  The ratio is the speed-up of 2 workers over 1;
   the same steps with no pool show what speed-up the machine itself allows.
2. Hit and miss latency of a pool on S3 (moto's server on 127.0.0.1, in this
   process) against a pool on local disk.  The ratio is S3 time / local time.
   moto shares this process and its GIL, so S3 figures are an upper bound for
   a real nearby endpoint; what they show is the number of round trips.

Machines here are shared and noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import dist_steps  # noqa: E402 - after the path set-up above

import recyclable  # noqa: E402
from recyclable import Cache, Pool, recycling  # noqa: E402

MiB = 1024 * 1024


@dataclass
class Row:
    group: str
    case: str
    a_name: str
    a: float
    b_name: str
    b: float

    @property
    def ratio(self) -> float:
        return self.a / self.b


def fmt_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


# --- 1. parallel resume ---------------------------------------------------------------


def run_pipeline(
    executor: Any, pool: Pool | None, steps: int, size: int, fail_at: int = -1
) -> float:
    """Seconds for one run of every step; a failing step is waited for like the others.

    With ``pool`` None the steps run with no pool: plain calls, the baseline.
    """
    start = time.perf_counter()
    with pool if pool is not None else contextlib.nullcontext():
        futures = [
            executor.submit(dist_steps.cpu_step, i, size, fail=i == fail_at) for i in range(steps)
        ]
    wait(futures)
    elapsed = time.perf_counter() - start
    failures = sum(future.exception() is not None for future in futures)
    assert failures == (1 if fail_at >= 0 else 0), f"{failures} step(s) failed"
    return elapsed


def bench_parallel(smoke: bool, workdir: Path) -> list[Row]:
    steps = 16
    size = 20_000 if smoke else 2_000_000
    repeat = 1 if smoke else 5
    phases = (
        "no pool: plain calls (the machine's speed-up)",
        "first run, fails at the last step",
        "resume after the failure",
        "re-run, all stored",
    )
    times: dict[int, list[list[float]]] = {workers: [[] for _ in phases] for workers in (1, 2)}
    with contextlib.ExitStack() as stack:
        executors = {}
        for workers in (1, 2):
            executor = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
            executors[workers] = stack.enter_context(recycling(executor))
            # Start every worker process (and its imports) before timing.
            wait([executor.submit(dist_steps.warm) for _ in range(workers * 4)])
        # Alternate 1 and 2 workers round by round, so that load from other
        # work on a shared machine falls on both alike.
        for round_ in range(repeat):
            for workers, executor in executors.items():
                phase_times = times[workers]
                pool = Cache(workdir / f"parallel-{workers}-{round_}").create_pool("run")
                phase_times[0].append(run_pipeline(executor, None, steps, size))
                phase_times[1].append(run_pipeline(executor, pool, steps, size, steps - 1))
                phase_times[2].append(run_pipeline(executor, pool, steps, size))
                phase_times[3].append(run_pipeline(executor, pool, steps, size))
    medians = {w: [statistics.median(t) for t in phase_times] for w, phase_times in times.items()}
    rows = [
        Row("parallel", f"{steps} steps: {phase}", "1 worker", one, "2 workers", two)
        for phase, one, two in zip(phases, medians[1], medians[2], strict=True)
    ]
    rows.append(
        Row(
            "parallel",
            f"{steps} steps, 2 workers: first run vs resume",
            "first run",
            medians[2][1],
            "resume",
            medians[2][2],
        )
    )
    return rows


# --- 2. S3 against local disk ---------------------------------------------------------


@contextlib.contextmanager
def moto_s3() -> Iterator[tuple[str, dict[str, Any]]]:
    """A moto S3 server on 127.0.0.1 with one bucket; yields (URL, storage options)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # Dummy credentials for the local server, given to this process's cache
    # only (they never enter a pool handle).
    options = {"endpoint_url": f"http://{host}:{port}", "key": "bench", "secret": "bench"}
    try:
        import s3fs

        s3fs.S3FileSystem(skip_instance_cache=True, **options).mkdir("bench")
        yield "s3://bench/cache", options
    finally:
        server.stop()


def per_call(func: Callable[[int], Any], seeds: list[int]) -> float:
    """Median seconds of ``func(seed)`` over the seeds, one timing per call."""
    times = []
    for seed in seeds:
        start = time.perf_counter()
        func(seed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def store_latencies(pool: Pool, smoke: bool) -> dict[str, float]:
    calls = 3 if smoke else 25
    nbytes = 256 * 1024 if smoke else 4 * MiB
    label = f"{nbytes // 1024} KiB" if nbytes < MiB else f"{nbytes // MiB} MiB"
    results: dict[str, float] = {}
    with pool:
        results["miss + store, small result"] = per_call(
            dist_steps.small_result, list(range(1000, 1000 + calls))
        )
        results[f"miss + store, {label} array"] = per_call(
            lambda seed: dist_steps.array_result(seed, nbytes), list(range(1000, 1000 + calls))
        )
        results["hit, small result"] = per_call(dist_steps.small_result, [1000] * calls)
        results[f"hit, {label} array"] = per_call(
            lambda seed: dist_steps.array_result(seed, nbytes), [1000] * calls
        )
    assert pool.stats.loaded == 2 * calls, pool.stats
    return results


def bench_s3(smoke: bool, workdir: Path) -> list[Row]:
    local = store_latencies(Cache(workdir / "local").create_pool("run"), smoke)
    with moto_s3() as (url, options):
        remote = store_latencies(Cache(url, storage_options=options).create_pool("run"), smoke)
    return [Row("s3", case, "moto S3", remote[case], "local", local[case]) for case in local]


GROUPS = {"parallel": bench_parallel, "s3": bench_s3}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--only", default="", help="comma-separated groups: " + ",".join(GROUPS))
    args = parser.parse_args(argv)
    chosen = [g for g in args.only.split(",") if g] or list(GROUPS)
    unknown = sorted(set(chosen) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s) {unknown}; choose from {sorted(GROUPS)}")

    workdir = Path(tempfile.mkdtemp(prefix="recyclable-bench-dist-"))
    rows: list[Row] = []
    try:
        for group in chosen:
            rows.extend(GROUPS[group](args.smoke, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"recyclable {recyclable.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}{' (smoke sizes)' if args.smoke else ''}"
    )
    header = (
        f"{'group':<9} {'case':<56} {'A':<10} {'A time':>10} {'B':<10} {'B time':>10} {'A / B':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.group:<9} {row.case:<56} {row.a_name:<10} {fmt_seconds(row.a):>10} "
            f"{row.b_name:<10} {fmt_seconds(row.b):>10} {row.ratio:>6.2f}×"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
