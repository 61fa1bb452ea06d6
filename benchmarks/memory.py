"""A scikit-learn pipeline fitted twice in fresh processes: joblib.Memory against recyclable.Memory.

    python benchmarks/memory.py            # full sizes (about a minute)
    python benchmarks/memory.py --smoke    # tiny sizes: proves the script still runs

Each round gives each memory a new cache directory and fits the same
pipeline (scale → PCA → Nystroem → nearest centroid; the three transformers
cached) in two fresh processes, one after the other: the first computes and stores, the
second loads.  The memories take turns going first from round to round.
Reported, as the median over rounds:

* the second fit's time (transformers loaded; the final classifier is fitted
  again either way), with the floor: the classifier's fit alone; and the
  same with both memories loading arrays memory-mapped (``mmap_mode="r"``);
* the first fit's time (computed and stored);
* the cache's size on disk after both fits.

Ratios are joblib / recyclable: above 1 means recyclable is faster or smaller.
Each second fit must have loaded every transformer (checked through a fit
log the transformers append to), or the benchmark stops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

SIZES = {"full": (20_000, 200, 400), "smoke": (400, 16, 20)}  # samples, features, kernel
STEPS = 3  # cached transformers in memory_steps.pipeline


def _data(samples: int, features: int) -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=samples, n_features=features, n_informative=features // 2, random_state=0
    )


def child(peer: str, cache: str, size: str) -> dict[str, Any]:
    """Fit the pipeline once in this (fresh) process; report times and what was loaded."""
    sys.path[:0] = [str(REPO), str(HERE)]
    import memory_steps

    samples, features, kernel = SIZES[size]
    X, y = _data(samples, features)
    # "joblib-r" / "recyclable-r": the same memory with mmap_mode="r".
    name, _, mapped = peer.partition("-")
    mmap_mode = "r" if mapped else None
    if name == "joblib":
        import joblib

        memory: Any = joblib.Memory(cache, mmap_mode=mmap_mode, verbose=0)
    else:
        import recyclable

        memory = recyclable.Memory(cache, mmap_mode=mmap_mode)
    model = memory_steps.pipeline(memory, features, kernel)
    start = time.perf_counter()
    model.fit(X, y)
    fit = time.perf_counter() - start
    # The floor of a second fit: the final step alone, on what the transformers gave.
    Xt = model[:-1].transform(X)
    start = time.perf_counter()
    model[-1].fit(Xt, y)
    floor = time.perf_counter() - start
    loaded = None if name == "joblib" else memory.pool.stats.loaded
    return {"fit": fit, "floor": floor, "loaded": loaded, "score": float(model.score(X, y))}


def _run_child(peer: str, cache: Path, size: str, log: Path) -> dict[str, Any]:
    env = {**os.environ, "BENCH_FIT_LOG": str(log), "PYTHONPATH": str(REPO)}
    # One BLAS thread: on a shared machine, threads fighting over the cores
    # make the fit's own time (PCA's SVD) vary more than the memories differ.
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("RECYCLABLE_DISABLE", None)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", peer, str(cache), size],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"{peer} child failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _fits(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def one_round(peer: str, workdir: Path, size: str) -> dict[str, float]:
    """Two fresh-process fits with a new cache; the second must load every transformer."""
    cache = workdir / f"{peer}-cache"
    log = workdir / f"{peer}-fits.log"
    shutil.rmtree(cache, ignore_errors=True)
    log.unlink(missing_ok=True)
    first = _run_child(peer, cache, size, log)
    fitted = _fits(log)
    second = _run_child(peer, cache, size, log)
    if fitted != STEPS or _fits(log) != fitted:
        raise SystemExit(f"{peer}: the second fit refitted ({fitted} then {_fits(log)} fits)")
    if second["loaded"] is not None and second["loaded"] != STEPS:
        raise SystemExit(f"{peer}: the second fit loaded {second['loaded']} of {STEPS} steps")
    if first["score"] != second["score"]:
        raise SystemExit(f"{peer}: loaded pipeline scores {second['score']}, not {first['score']}")
    return {
        "first": first["fit"],
        "second": second["fit"],
        "floor": second["floor"],
        "size": float(_size(cache)),
    }


def fmt(value: float, unit: str) -> str:
    if unit == "B":
        for name, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if value >= scale:
                return f"{value / scale:.1f} {name}"
        return f"{value:.0f} B"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, smoke 1)")
    parser.add_argument("--child", nargs=3, metavar=("PEER", "CACHE", "SIZE"), help="internal")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    size = "smoke" if args.smoke else "full"
    rounds = args.rounds or (1 if args.smoke else 3)
    peers = ["joblib", "recyclable", "joblib-r", "recyclable-r"]
    results: dict[str, list[dict[str, float]]] = {peer: [] for peer in peers}
    workdir = Path(tempfile.mkdtemp(prefix="recyclable-bench-memory-"))
    try:
        for index in range(rounds):
            order = peers if index % 2 == 0 else peers[::-1]
            for peer in order:
                results[peer].append(one_round(peer, workdir, size))
                figures = ", ".join(f"{k} {v:.3f}" for k, v in results[peer][-1].items())
                print(f"round {index + 1} {peer}: {figures}", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def median(peer: str, field: str) -> float:
        return statistics.median(r[field] for r in results[peer])

    samples, features, kernel = SIZES[size]
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}; "
        f"X {samples}×{features}, Nystroem {kernel}; median of {rounds} round(s)"
        f"{' (smoke sizes)' if args.smoke else ''}"
    )
    header = f"{'case':<52} {'recyclable':>12} {'joblib':>12} {'joblib / ours':>14}"
    print(header)
    print("-" * len(header))
    for case, field, unit, suffix in (
        ("second fit, fresh process (transformers loaded)", "second", "s", ""),
        ("second fit, mmap_mode='r'", "second", "s", "-r"),
        ("first fit, fresh process (computed and stored)", "first", "s", ""),
        ("cache size after both fits", "size", "B", ""),
    ):
        ours, theirs = median("recyclable" + suffix, field), median("joblib" + suffix, field)
        print(f"{case:<52} {fmt(ours, unit):>12} {fmt(theirs, unit):>12} {theirs / ours:>13.2f}×")
    floor = median("recyclable", "floor")
    ours = median("recyclable", "second")
    print(f"{'floor: the final step fitted alone':<52} {fmt(floor, 's'):>12} {'':>12} {'':>14}")
    print(f"second fit / floor (recyclable): {ours / floor:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
