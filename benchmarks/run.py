"""Benchmarks: recyclable side by side with its peers, measured in the same run.

    python benchmarks/run.py            # full sizes (a few minutes)
    python benchmarks/run.py --smoke    # tiny sizes: proves the suite still runs
    python benchmarks/run.py --only fingerprint,hit
    python benchmarks/run.py --only codekey   # the code part of a key

Prints one table of medians and the ratio against the peer measured in the
same run (raw xxh3_128, joblib.hash, joblib.Memory, a bare wrapt decorator).
Machines here are shared and noisy: ratios are the figures to read.

Every row that times the store checks what it timed: the pool's counts
(``pool.stats``) must show exactly the loads or computes the row claims, and
the peer's function must have run exactly as often as its row claims; a
mismatch (recycling switched off, a miss where a hit was meant) stops the
suite instead of printing a figure.  The ``page cache`` column says whether
the stored files were in the page cache (``warm``) or evicted before each
round with posix_fadvise(DONTNEED) (``cold``); ``-`` for rows that read no file.
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
from recyclable.fingerprint import array_digest, fingerprint

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hits
from misses import bench_misses
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
    page_cache: str = "-"
    unit: str = "s"  # "instructions" for rows counted rather than timed

    @property
    def ratio(self) -> float | None:
        return None if self.peer is None else self.peer / self.ours


class BenchmarkInvalid(RuntimeError):
    """A row did not time what it claims (a miss where a hit was meant, or the reverse)."""


class Counted:
    """Asserts a pool's loads and computes over a timed section: ``with Counted(pool, ...)``."""

    def __init__(self, pool: Any, row: str, *, loaded: int, computed: int) -> None:
        self.pool, self.row, self.loaded, self.computed = pool, row, loaded, computed

    def __enter__(self) -> None:
        stats = self.pool.stats
        self.before = (stats.loaded, stats.computed)

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        stats = self.pool.stats
        got = (stats.loaded - self.before[0], stats.computed - self.before[1])
        if got != (self.loaded, self.computed):
            raise BenchmarkInvalid(
                f"{self.row}: expected {self.loaded} load(s) and {self.computed} computed, "
                f"pool.stats says {got[0]} and {got[1]} (is RECYCLABLE_DISABLE set?)"
            )


def expect_runs(runs: list[Any], expected: int, row: str) -> None:
    """The peer's function ran ``expected`` times since ``runs`` was cleared."""
    if len(runs) != expected:
        raise BenchmarkInvalid(f"{row}: the peer ran {len(runs)} time(s), expected {expected}")
    runs.clear()


def evict(paths: list[Path]) -> None:
    """Drop these files' pages from the page cache, so the next read comes from the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


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
            "no active pool: time added per call",
            t_off - base,
            "bare wrapt (added)",
            t_bare - base,
            "wrapt/ours ≥ 0.77 (ours ≤ 1.3× wrapt's)",
        )
    )
    rows.extend(hits.nopool(smoke, Row))
    rows.extend(hits.hit_vs_floor(smoke, workdir, Row, Counted))
    rows.extend(hits.scaling(smoke, workdir, Row, BenchmarkInvalid))

    memory = joblib.Memory(str(workdir / "joblib"), verbose=0)
    cache = Cache(workdir / "ours")
    pool = cache.create_pool("bench")
    jl_runs: list[int] = []

    def trivial(x: int) -> int:
        return x + 1

    def jl_trivial_body(x: int) -> int:
        jl_runs.append(x)
        return x + 1

    jl_trivial = memory.cache(jl_trivial_body)
    ours_trivial = recyclable_decorator(name="trivial")(trivial)
    jl_trivial(1)
    expect_runs(jl_runs, 1, "joblib trivial store")
    calls = 200 if smoke else 2000
    label = "hit, trivial f(int)"
    with pool:
        with Counted(pool, "trivial store", loaded=0, computed=1):
            ours_trivial(1)
        with Counted(pool, label, loaded=7 * calls, computed=0):
            t_hit = median_time(lambda: ours_trivial(1), repeat=7, number=calls)
    t_jl = median_time(lambda: jl_trivial(1), repeat=7, number=calls)
    expect_runs(jl_runs, 0, label)
    rows.append(
        Row("calls", label, t_hit, "joblib.Memory", t_jl, "joblib/ours ≥ 6×, ≤ 30 µs", "warm")
    )

    size = 1 * MiB if smoke else 64 * MiB
    arg = np.random.default_rng(2).random(size // 8)

    def big(a: np.ndarray) -> np.ndarray:
        return a * 2.0

    def jl_big_body(a: np.ndarray) -> np.ndarray:
        jl_runs.append(1)
        return a * 2.0

    jl_big = joblib.Memory(str(workdir / "joblib-mmap"), verbose=0, mmap_mode="r").cache(
        jl_big_body
    )
    ours_big = recyclable_decorator(name="big")(big)
    label = f"{size // MiB} MiB array arg + result"

    # The miss is timed end to end against its lower bound in benchmarks/misses.py.
    jl_big(arg)
    expect_runs(jl_runs, 1, f"store, {label}")
    with pool:
        with Counted(pool, f"store, {label}", loaded=0, computed=1):
            ours_big(arg)
        with Counted(pool, f"hit, {label}", loaded=7, computed=0):
            t_big_hit = median_time(lambda: ours_big(arg), repeat=7)
    t_jl_big_hit = median_time(lambda: jl_big(arg), repeat=7)
    expect_runs(jl_runs, 0, f"hit, {label}")
    rows.append(
        Row(
            "calls",
            f"hit, {label}",
            t_big_hit,
            "joblib.Memory mmap_mode=r",
            t_jl_big_hit,
            "≥ 6×",
            "warm",
        )
    )
    return rows


def _resume_steps(decorate: Callable[[Any], Any], steps: int, runs: list[int]) -> list[Any]:
    funcs = []
    for i in range(steps):

        def step(values: np.ndarray, i: int = i) -> np.ndarray:
            runs.append(i)
            out = np.empty_like(values)
            np.add(values, 1.0, out=out)
            return out

        step.__name__ = step.__qualname__ = f"step{i}"
        funcs.append(decorate(step))
    return funcs


def _run_chain(first: Callable[[int], np.ndarray], steps: list[Any], size: int) -> np.ndarray:
    values = first(size)
    for step in steps:
        values = step(values)
    return values


def bench_resume(smoke: bool, workdir: Path) -> list[Row]:
    steps_n = 20
    per_step = (1 * MiB) if smoke else (4096 * MiB) // (steps_n + 1)
    size = per_step // 8
    ours_runs: list[int] = []
    jl_runs: list[int] = []

    def source(n: int) -> np.ndarray:
        return np.random.default_rng(5).random(n)

    cache = Cache(workdir / "resume-ours")
    ours_first = recyclable_decorator(name="source")(source)
    ours_steps = _resume_steps(
        lambda f: recyclable_decorator(name=f.__name__)(f), steps_n, ours_runs
    )
    memory = joblib.Memory(str(workdir / "resume-joblib"), verbose=0, mmap_mode="r")
    jl_first = memory.cache(source)
    jl_steps = _resume_steps(memory.cache, steps_n, jl_runs)
    calls = steps_n + 1  # the source and every step
    total = f"{calls}-step resume, {calls * per_step // MiB} MiB of arrays"

    pool = cache.create_pool("resume")
    with pool, Counted(pool, "first run", loaded=0, computed=calls):
        _run_chain(ours_first, ours_steps, size)
    _run_chain(jl_first, jl_steps, size)
    expect_runs(ours_runs, steps_n, "first run")
    expect_runs(jl_runs, steps_n, "joblib first run")
    gc.collect()
    blobs = [p for p in (cache.path / "objects").rglob("*") if p.is_file()]

    def ours_rerun(consume: bool) -> float:
        with pool, Counted(pool, total, loaded=calls, computed=0):
            final = _run_chain(ours_first, ours_steps, size)
            return float(final.sum()) if consume else float(final[0])

    with pool, Counted(pool, total, loaded=calls, computed=0):
        digest = array_digest(_run_chain(ours_first, ours_steps, size)).hex()
    final_blob = cache.store.blob_path(digest)
    if not final_blob.exists():
        raise BenchmarkInvalid(f"{total}: the final result is not one blob")
    buffer = np.empty(final_blob.stat().st_size // 8 + 1)
    rows = []
    for page_cache in ("warm", "cold"):
        before = (lambda: evict(blobs)) if page_cache == "cold" else (lambda: None)
        t_ours = _timed(lambda: ours_rerun(False), before, repeat=3)
        rows.append(
            Row("resume", total, t_ours, "joblib.Memory mmap_mode=r", None, "≥ 20×", page_cache)
        )

        # A resume that then reads its final result against the floor of reading that
        # result's bytes once: ours can only come out below 1× here.
        def read_final(path: Path = final_blob, into: np.ndarray = buffer) -> None:
            with open(path, "rb", buffering=0) as handle:
                handle.readinto(memoryview(into).cast("B"))

        t_consume = _timed(lambda: ours_rerun(True), before, repeat=3)
        t_floor = _timed(read_final, before, repeat=3)
        rows.append(
            Row(
                "resume",
                f"{total}, then sum the result",
                t_consume,
                "reading the final result once",
                t_floor,
                "≥ 0.5× (at most twice the floor)",
                page_cache,
            )
        )
    expect_runs(ours_runs, 0, total)
    # joblib hashes every argument on every call: its figure barely depends on the
    # page cache, so it is measured once, warm, and shown on the warm row.
    t_jl = median_time(lambda: _run_chain(jl_first, jl_steps, size), repeat=3)
    expect_runs(jl_runs, 0, f"joblib {total}")
    rows[0].peer = t_jl
    rows[2].peer_name = rows[0].peer_name + " (warm)"
    rows[2].peer = t_jl
    return rows


def _timed(func: Callable[[], Any], before: Callable[[], None], *, repeat: int) -> float:
    """Median seconds of ``func``, with ``before`` run untimed ahead of each round."""
    times = []
    for _ in range(repeat):
        gc.collect()  # unmap the previous round's arrays before evicting their pages
        before()
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _store_many(cache_dir: str, seeds: list[int], size: int, ready: Any, results: Any) -> None:
    """A storing process: import and open the cache, wait for the start, store, report."""
    cache = Cache(cache_dir)
    store = recyclable_decorator(name="store_big")(_big_result)
    pool = cache.create_pool("concurrency", reuse=True)
    ready.wait()  # start-up (interpreter, imports, opening the cache) is not timed
    with pool:
        for seed in seeds:
            store(seed, size)
    # CLOCK_MONOTONIC is one clock for every process of the machine.
    results.put((time.monotonic(), pool.stats.loaded, pool.stats.computed))


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
        ready = context.Barrier(processes + 1)
        results = context.Queue()
        jobs = [
            context.Process(
                target=_store_many,
                args=(
                    cache_dir,
                    [p * 100 + i for i in range(per_process)],
                    size,
                    ready,
                    results,
                ),
            )
            for p in range(processes)
        ]
        for job in jobs:
            job.start()
        ready.wait()
        start = time.monotonic()
        reports = [results.get(timeout=600) for _ in jobs]
        for job in jobs:
            job.join()
        if any(job.exitcode != 0 for job in jobs):
            raise RuntimeError("a storing process failed")
        if any((loaded, computed) != (0, per_process) for _, loaded, computed in reports):
            raise BenchmarkInvalid(
                f"concurrency: every process must compute and store {per_process} results, "
                f"got (loaded, computed) {[r[1:] for r in reports]}"
            )
        elapsed = max(end for end, _, _ in reports) - start
        return elapsed / (processes * per_process)  # seconds per stored result

    # Alternate the order so neither configuration always runs on a warmer machine.
    one = [run(1, "one0")]
    two = [run(2, "two0"), run(2, "two1")]
    one.append(run(1, "one1"))
    return [
        Row(
            "concurrency",
            f"2 processes storing {size * 8 // MiB} MiB results",
            statistics.median(two),
            "1 process (per result)",
            statistics.median(one),
            "≥ 1.6× throughput",
            "warm",
        )
    ]


def bench_codekey(smoke: bool, workdir: Path) -> list[Row]:
    from codekey import rows

    return rows(smoke, workdir, Row, median_time)


GROUPS = {
    "fingerprint": bench_fingerprint,
    "calls": bench_calls,
    "resume": bench_resume,
    "scale": lambda smoke, workdir: __import__("scale").rows(smoke, workdir, Row, Counted),
    "concurrency": bench_concurrency,
    "codekey": bench_codekey,
    "values": lambda smoke, workdir: bench_values(smoke, workdir, Row),
    "miss": lambda smoke, workdir: bench_misses(smoke, workdir, Row),
    "datatypes": lambda smoke, workdir: __import__("datatypes").rows(smoke, Row),
}


def cpu_model() -> str:
    """The processor's model name (and clock, where Linux tells it), for the header line.

    The ratios against system-call floors depend on it: a small file's read
    and a loop of plain Python stand in different proportions on different
    processors, so a figure is only comparable with one taken on the same model.
    """
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                name, _, value = line.partition(":")
                fields.setdefault(name.strip(), value.strip())
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or "unknown processor"
    try:
        return f"{model}, {float(fields['cpu MHz']):.0f} MHz"
    except (KeyError, ValueError):
        return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--only", default="", help="comma-separated groups: " + ",".join(GROUPS))
    parser.add_argument(
        "--markdown", action="store_true", help="print the rows as a Markdown table (RESULTS.md)"
    )
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
        f"{platform.machine()} ({cpu_model()}){' (smoke sizes)' if args.smoke else ''}"
    )
    if args.markdown:
        print_markdown(rows)
        return 0
    header = (
        f"{'group':<12} {'case':<52} {'recyclable':>12} {'peer':<34} "
        f"{'peer time':>12} {'peer/ours':>9} {'page cache':<10} target"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}×"
        fmt = fmt_seconds if row.unit == "s" else (lambda n: f"{n:,.0f} instr")
        peer = "-" if row.peer is None else fmt(row.peer)
        print(
            f"{row.group:<12} {row.case:<52} {fmt(row.ours):>12} "
            f"{row.peer_name:<34} {peer:>12} {ratio:>9} {row.page_cache:<10} {row.target}"
        )
    return 0


def print_markdown(rows: list[Row]) -> None:
    """The rows as the table of benchmarks/RESULTS.md (ratio = peer or floor time / ours)."""
    columns = ("group", "case", "recyclable", "peer or floor", "its time")
    columns += ("ratio (peer/ours)", "page cache", "target")
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---:|---|---:|---:|---|---|")
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}×"
        fmt = fmt_seconds if row.unit == "s" else (lambda n: f"{n:,.0f} instr")
        peer = "-" if row.peer is None else fmt(row.peer)
        cells = [row.group, row.case, fmt(row.ours), row.peer_name, peer, ratio]
        cells += [row.page_cache, row.target]
        print("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
