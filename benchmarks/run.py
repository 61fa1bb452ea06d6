"""Benchmarks: recyclable side by side with its peers, measured in the same run.

    python benchmarks/run.py            # full sizes (a few minutes)
    python benchmarks/run.py --smoke    # tiny sizes: proves the suite still runs
    python benchmarks/run.py --only fingerprint,hit

Prints one table of medians and the ratio against the peer measured in the
same run (raw xxh3_128, joblib.hash, joblib.Memory, a bare wrapt decorator).
Machines here are shared and noisy: ratios are the figures to read.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import wrapt
import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import recyclable
from recyclable import Cache
from recyclable import recyclable as recyclable_decorator
from recyclable.fingerprint import fingerprint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from values import bench_values

MiB = 1024 * 1024


@dataclass
class Row:
    group: str
    case: str
    ours: float
    peer_name: str
    peer: float | None
    target: str

    @property
    def ratio(self) -> float | None:
        return None if self.peer is None else self.peer / self.ours


def median_time(func: Callable[[], Any], *, repeat: int, number: int = 1) -> float:
    """Median seconds of one call over ``repeat`` rounds of ``number`` calls."""
    times = []
    for _ in range(repeat):
        gc.disable()
        start = time.perf_counter()
        for _ in range(number):
            func()
        times.append((time.perf_counter() - start) / number)
        gc.enable()
    return statistics.median(times)


def fmt_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


# --- fingerprinting -----------------------------------------------------------------------


def bench_fingerprint(smoke: bool) -> list[Row]:
    rows = []
    n = 1 * MiB if smoke else 256 * MiB
    array = np.random.default_rng(0).random(n // 8)
    fingerprint(array)
    ours = median_time(lambda: fingerprint(array), repeat=5)
    raw = median_time(lambda: xxhash.xxh3_128(array).digest(), repeat=5)
    jl = median_time(lambda: joblib.hash(array), repeat=3)
    label = f"{n // MiB} MiB float64 array"
    rows.append(Row("fingerprint", label, ours, "raw xxh3_128", raw, "≥ 0.5× raw"))
    rows.append(Row("fingerprint", label, ours, "joblib.hash", jl, "≥ 8×"))

    scale = 10 if smoke else 1
    values: dict[str, Any] = {
        "dict of 10k str→int": {f"key{i}": i for i in range(10_000 // scale)},
        "list of 100k small tuples": [(i, i * 0.5, f"s{i}") for i in range(100_000 // scale)],
        "nested dict of lists": {
            f"group{g}": {f"k{i}": list(range(i % 50)) for i in range(200 // scale)}
            for g in range(50)
        },
    }
    for label, value in values.items():
        ours = median_time(lambda v=value: fingerprint(v), repeat=5)
        jl = median_time(lambda v=value: joblib.hash(v), repeat=3)
        rows.append(Row("fingerprint", label, ours, "joblib.hash", jl, "≥ 10×"))

    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None:
        rows_n = 10_000 if smoke else 1_000_000
        rng = np.random.default_rng(1)
        frame = pd.DataFrame(
            {
                "i": rng.integers(0, 1000, rows_n),
                "f": rng.random(rows_n),
                "s": pd.Series(rng.integers(0, 100, rows_n)).map(lambda x: f"cat{x}"),
                "b": rng.random(rows_n) > 0.5,
                "t": pd.date_range("2020-01-01", periods=rows_n, freq="s"),
            }
        )
        ours = median_time(lambda: fingerprint(frame), repeat=3)
        jl = median_time(lambda: joblib.hash(frame), repeat=3)
        rows.append(
            Row("fingerprint", f"DataFrame {rows_n:,} × 5", ours, "joblib.hash", jl, "≥ 5×")
        )

    @recyclable_decorator
    def three(a: int, b: float, c: str) -> int:
        return a

    spec = three.__recyclable__
    spec.key_for(spec.bind((1, 2.0, "x"), {}))  # warm: code fingerprint computed once
    key = median_time(lambda: spec.key_for(spec.bind((1, 2.0, "x"), {})), repeat=7, number=2000)
    rows.append(Row("fingerprint", "key of a call with 3 scalars", key, "-", None, "≤ 5 µs"))
    return rows


# --- decorator and store ------------------------------------------------------------------


def bench_calls(smoke: bool, workdir: Path) -> list[Row]:
    rows = []

    def plain(x: int) -> int:
        return x + 1

    @wrapt.decorator
    def passthrough(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return wrapped(*args, **kwargs)

    bare = passthrough(plain)
    ours_off = recyclable_decorator(plain)
    number = 2000 if smoke else 200_000
    base = median_time(lambda: plain(1), repeat=7, number=number)
    t_bare = median_time(lambda: bare(1), repeat=7, number=number)
    t_off = median_time(lambda: ours_off(1), repeat=7, number=number)
    rows.append(
        Row(
            "calls",
            "no active pool: added per call",
            t_off - base,
            "bare wrapt (added)",
            t_bare - base,
            "≤ 1.3× wrapt's",
        )
    )

    memory = joblib.Memory(str(workdir / "joblib"), verbose=0)
    cache = Cache(workdir / "ours")
    pool = cache.create_pool("bench")

    def trivial(x: int) -> int:
        return x + 1

    jl_trivial = memory.cache(trivial)
    ours_trivial = recyclable_decorator(name="trivial")(trivial)
    jl_trivial(1)
    with pool:
        ours_trivial(1)
        t_hit = median_time(lambda: ours_trivial(1), repeat=7, number=200 if smoke else 2000)
    t_jl = median_time(lambda: jl_trivial(1), repeat=7, number=200 if smoke else 2000)
    rows.append(Row("calls", "hit, trivial f(int)", t_hit, "joblib.Memory", t_jl, "≥ 6×, ≤ 30 µs"))

    size = 1 * MiB if smoke else 64 * MiB
    arg = np.random.default_rng(2).random(size // 8)

    def big(a: np.ndarray) -> np.ndarray:
        return a * 2.0

    jl_big = joblib.Memory(str(workdir / "joblib-mmap"), verbose=0, mmap_mode="r").cache(big)
    ours_big = recyclable_decorator(name="big")(big)
    label = f"{size // MiB} MiB array arg + result"

    compute = median_time(lambda: big(arg), repeat=3)
    t_jl_miss = median_time(lambda: (jl_big.clear(warn=False), jl_big(arg)), repeat=3)
    miss_times = []
    for i in range(3):
        miss_pool = cache.create_pool(f"miss{i}")
        with miss_pool:
            start = time.perf_counter()
            ours_big(arg)
            miss_times.append(time.perf_counter() - start)
        miss_pool.remove()
    t_miss = statistics.median(miss_times)
    rows.append(
        Row(
            "calls",
            f"miss overhead, {label}",
            max(t_miss - compute, 1e-9),
            "joblib.Memory",
            max(t_jl_miss - compute, 1e-9),
            "≥ 4× lower",
        )
    )

    jl_big(arg)
    with pool:
        ours_big(arg)
        t_big_hit = median_time(lambda: ours_big(arg), repeat=7)
    t_jl_big_hit = median_time(lambda: jl_big(arg), repeat=7)
    rows.append(
        Row("calls", f"hit, {label}", t_big_hit, "joblib.Memory mmap_mode=r", t_jl_big_hit, "≥ 6×")
    )
    return rows


def _resume_steps(decorate: Callable[[Any], Any], steps: int) -> list[Any]:
    funcs = []
    for i in range(steps):

        def step(values: np.ndarray, i: int = i) -> np.ndarray:
            out = np.empty_like(values)
            np.add(values, 1.0, out=out)
            return out

        step.__name__ = step.__qualname__ = f"step{i}"
        funcs.append(decorate(step))
    return funcs


def _run_chain(first: Callable[[int], np.ndarray], steps: list[Any], size: int) -> float:
    values = first(size)
    for step in steps:
        values = step(values)
    return float(values[0])


def bench_resume(smoke: bool, workdir: Path) -> list[Row]:
    steps_n = 20
    per_step = (1 * MiB) if smoke else (4096 * MiB) // steps_n
    size = per_step // 8

    def source(n: int) -> np.ndarray:
        return np.random.default_rng(5).random(n)

    cache = Cache(workdir / "resume-ours")
    ours_first = recyclable_decorator(name="source")(source)
    ours_steps = _resume_steps(lambda f: recyclable_decorator(name=f.__name__)(f), steps_n)
    memory = joblib.Memory(str(workdir / "resume-joblib"), verbose=0, mmap_mode="r")
    jl_first = memory.cache(source)
    jl_steps = _resume_steps(memory.cache, steps_n)

    pool = cache.create_pool("resume")
    with pool:
        _run_chain(ours_first, ours_steps, size)
    _run_chain(jl_first, jl_steps, size)
    gc.collect()

    def ours_rerun() -> None:
        with cache.create_pool("resume", reuse=True):
            _run_chain(ours_first, ours_steps, size)

    t_ours = median_time(ours_rerun, repeat=3)
    t_jl = median_time(lambda: _run_chain(jl_first, jl_steps, size), repeat=3)

    blobs = [p for p in (cache.path / "objects").rglob("*") if p.is_file()]
    buffer = np.empty(max(p.stat().st_size for p in blobs) // 8 + 1)

    def read_once() -> None:
        for path in blobs:
            with open(path, "rb", buffering=0) as handle:
                handle.readinto(memoryview(buffer).cast("B"))

    t_read = median_time(read_once, repeat=3)
    total = f"{steps_n}-step resume, {steps_n * per_step // MiB} MiB of arrays"
    return [
        Row("resume", total, t_ours, "joblib.Memory mmap_mode=r", t_jl, "≥ 20×"),
        Row("resume", total, t_ours, "reading the data once", t_read, "> 1×"),
    ]


def bench_scale(smoke: bool, workdir: Path) -> list[Row]:
    small, large = (100, 2_000) if smoke else (100, 100_000)

    def tiny(x: int) -> int:
        return x * 3

    latencies = {}
    for count in (small, large):
        cache = Cache(workdir / f"scale-{count}")
        ours = recyclable_decorator(name="tiny")(tiny)
        pool = cache.create_pool("scale")
        with pool:
            for i in range(count):
                ours(i)
        sample = list(range(0, count, max(1, count // 100)))[:100]
        fresh = Cache(workdir / f"scale-{count}")
        with fresh.create_pool("scale", reuse=True):
            latencies[count] = median_time(
                lambda s=sample, f=ours: [f(k) for k in s], repeat=7
            ) / len(sample)
    return [
        Row(
            "scale",
            f"hit with {large:,} entries vs {small}",
            latencies[large],
            f"hit with {small} entries",
            latencies[small],
            "≥ 0.67× (≤ 1.5× slower)",
        )
    ]


def _store_many(cache_dir: str, seeds: list[int], size: int) -> None:
    cache = Cache(cache_dir)
    store = recyclable_decorator(name="store_big")(_big_result)
    with cache.create_pool("concurrency", reuse=True):
        for seed in seeds:
            store(seed, size)


def _big_result(seed: int, size: int) -> np.ndarray:
    return np.full(size, float(seed))


def bench_concurrency(smoke: bool, workdir: Path) -> list[Row]:
    import multiprocessing

    size = (1 * MiB if smoke else 64 * MiB) // 8
    per_process = 4
    context = multiprocessing.get_context("spawn")

    def run(processes: int, tag: str) -> float:
        cache_dir = str(workdir / f"concurrency-{tag}")
        Cache(cache_dir)
        jobs = [
            context.Process(
                target=_store_many,
                args=(cache_dir, [p * 100 + i for i in range(per_process)], size),
            )
            for p in range(processes)
        ]
        start = time.perf_counter()
        for job in jobs:
            job.start()
        for job in jobs:
            job.join()
        elapsed = time.perf_counter() - start
        if any(job.exitcode != 0 for job in jobs):
            raise RuntimeError("a storing process failed")
        return elapsed / (processes * per_process)  # seconds per stored result

    one = statistics.median(run(1, f"one{i}") for i in range(2))
    two = statistics.median(run(2, f"two{i}") for i in range(2))
    return [
        Row(
            "concurrency",
            f"2 processes storing {size * 8 // MiB} MiB results",
            two,
            "1 process (per result)",
            one,
            "≥ 1.6× throughput",
        )
    ]


GROUPS = {
    "fingerprint": bench_fingerprint,
    "calls": bench_calls,
    "resume": bench_resume,
    "scale": bench_scale,
    "concurrency": bench_concurrency,
    "values": lambda smoke, workdir: bench_values(smoke, workdir, Row),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--only", default="", help="comma-separated groups: " + ",".join(GROUPS))
    args = parser.parse_args(argv)
    chosen = [g for g in args.only.split(",") if g] or list(GROUPS)
    unknown = sorted(set(chosen) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s) {unknown}; choose from {sorted(GROUPS)}")

    workdir = Path(tempfile.mkdtemp(prefix="recyclable-bench-"))
    rows: list[Row] = []
    try:
        for group in chosen:
            func = GROUPS[group]
            rows.extend(func(args.smoke, workdir) if group != "fingerprint" else func(args.smoke))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"recyclable {recyclable.__version__}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, joblib {joblib.__version__}, {os.cpu_count()} CPUs, "
        f"{platform.machine()}{' (smoke sizes)' if args.smoke else ''}"
    )
    header = (
        f"{'group':<12} {'case':<40} {'recyclable':>12} {'peer':<28} "
        f"{'peer time':>12} {'ratio':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.1f}×"
        peer = "-" if row.peer is None else fmt_seconds(row.peer)
        print(
            f"{row.group:<12} {row.case:<40} {fmt_seconds(row.ours):>12} "
            f"{row.peer_name:<28} {peer:>12} {ratio:>8}  {row.target}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
