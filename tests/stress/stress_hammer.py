"""Many processes call the same recyclable steps with overlapping arguments on one pool.

Checks that every result is correct, that each key is computed exactly once
(single flight), that no process raises, and that no lease or staging file is
left behind.  Optionally a garbage collector runs in a loop meanwhile.

    python tests/stress/stress_hammer.py --processes 8 --keys 64 --seconds 120 --gc

A bounded version runs in the test suite (tests/integration/test_hammer.py).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import pipeline_actions as actions  # noqa: E402

from recyclable import Cache  # noqa: E402


@dataclass
class HammerResult:
    """What a hammer run observed."""

    returncodes: list[int]
    computed: dict[int, int]
    calls: int
    leftover_leases: list[Path]
    leftover_temp: list[Path]
    errors: list[str]


def worker(cache_dir: str, keys: int, seconds: float, rounds: int, seed: int) -> int:
    """Call ``square`` over shuffled keys until the time or the rounds run out."""
    cache = Cache(cache_dir, lease_timeout=300)
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    calls = 0
    with cache.create_pool("hammer", reuse=True):
        for _ in range(rounds):
            order = list(range(keys))
            rng.shuffle(order)
            for x in order:
                got = actions.square(x)
                want = actions.expected_square(x)
                if (
                    got["x"] != x
                    or got["square"] != x * x
                    or not np.array_equal(got["pad"], want["pad"])
                ):
                    print(f"WRONG RESULT for {x}: {got!r}", file=sys.stderr)
                    return 3
                calls += 1
            if time.monotonic() > deadline:
                break
    print(calls)
    return 0


def gc_loop(cache_dir: str, stop_file: str) -> int:
    """Collect garbage with no grace period until ``stop_file`` appears."""
    cache = Cache(cache_dir)
    while not os.path.exists(stop_file):
        cache.garbage_collect(grace=0)
    return 0


def run(
    cache_dir: Path,
    *,
    processes: int = 8,
    keys: int = 16,
    seconds: float = 30.0,
    rounds: int = 2,
    work_seconds: float = 0.02,
    with_gc: bool = False,
) -> HammerResult:
    """Start the workers (and a collector), wait for them, and gather what happened."""
    Cache(cache_dir)
    log = cache_dir.parent / f"{cache_dir.name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECYCLABLE_TEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    env["RECYCLABLE_TEST_LOG"] = str(log)
    env["RECYCLABLE_TEST_WORK_SECONDS"] = str(work_seconds)
    here = str(Path(__file__).resolve())
    stop = cache_dir.parent / f"{cache_dir.name}.stop"
    collector = None
    if with_gc:
        collector = subprocess.Popen(
            [sys.executable, here, "gc", str(cache_dir), str(stop)], env=env
        )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                here,
                "worker",
                str(cache_dir),
                str(keys),
                str(seconds),
                str(rounds),
                str(seed),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for seed in range(processes)
    ]
    outputs = [proc.communicate(timeout=seconds + 600) for proc in procs]
    stop.write_text("stop")
    if collector is not None:
        collector.wait(timeout=600)
    errors = [err.decode() for _, err in outputs if err.strip()]
    calls = sum(int(out.decode().strip() or 0) for out, _ in outputs)
    runs = collections.Counter(
        int(line.split(":")[1]) for line in actions.executions(log) if line.startswith("square:")
    )
    return HammerResult(
        returncodes=[proc.returncode for proc in procs]
        + ([] if collector is None else [collector.returncode]),
        computed=dict(runs),
        calls=calls,
        leftover_leases=sorted(p for p in (cache_dir / "leases").rglob("*") if p.is_file()),
        leftover_temp=sorted((cache_dir / "tmp").iterdir()),
        errors=errors,
    )


def main() -> int:
    """Command line: ``worker``/``gc`` for the children, otherwise a full run with a summary."""
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        cache_dir, keys, seconds, rounds, seed = sys.argv[2:]
        return worker(cache_dir, int(keys), float(seconds), int(rounds), int(seed))
    if len(sys.argv) > 1 and sys.argv[1] == "gc":
        return gc_loop(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--keys", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--work-seconds", type=float, default=0.02)
    parser.add_argument("--gc", action="store_true", help="run a collector meanwhile")
    parser.add_argument("--dir", type=Path, default=None, help="where to make the cache")
    args = parser.parse_args()
    import tempfile

    base = args.dir or Path(tempfile.mkdtemp(prefix="recyclable-hammer-"))
    result = run(
        base / "cache",
        processes=args.processes,
        keys=args.keys,
        seconds=args.seconds,
        rounds=10**9,
        work_seconds=args.work_seconds,
        with_gc=args.gc,
    )
    twice = {k: n for k, n in result.computed.items() if n != 1}
    missing = set(range(args.keys)) - set(result.computed)
    ok = (
        not any(result.returncodes)
        and not twice
        and not missing
        and not result.leftover_leases
        and not result.errors
    )
    print(
        f"{'OK' if ok else 'FAILED'}: {result.calls} calls, {len(result.computed)} keys computed, "
        f"computed more than once: {twice or 'none'}, never computed: {sorted(missing) or 'none'}, "
        f"exit codes {result.returncodes}, leftover leases {len(result.leftover_leases)}"
    )
    for err in result.errors:
        print(err)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
