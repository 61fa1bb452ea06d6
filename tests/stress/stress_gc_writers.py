"""Garbage collection loops while writers publish into a live pool and another pool churns.

The churning process stores entries that share their blobs with the live
pool's (same content, another step) and removes its pool again and again, so
the collector keeps freeing blobs that writers are reusing at that moment.
Afterwards every entry a writer published must load from the live pool
without being recomputed.

    python tests/stress/stress_gc_writers.py --writers 4 --keys 200 --rounds 20
    python tests/stress/stress_gc_writers.py --s3 http://127.0.0.1:PORT s3://bucket/cache ...

The second form runs against an S3 server (credentials from the environment).
Bounded versions run in the test suite (tests/integration/test_gc_live.py, on a
local directory and on a moto server).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import pipeline_actions as actions  # noqa: E402

from recyclable import Cache, RecyclableWarning  # noqa: E402


@dataclass
class GcRunResult:
    """What a run observed."""

    returncodes: list[int]
    errors: list[str]
    collections: int
    recomputed_after: list[int]
    wrong: list[int]
    warnings: list[str]
    verified: bool


def _open(location: str) -> Cache:
    """The cache at a directory, or at an S3 URL on the server named by $STRESS_S3_ENDPOINT."""
    endpoint = os.environ.get("STRESS_S3_ENDPOINT")
    options = {"endpoint_url": endpoint} if endpoint and "://" in location else None
    return Cache(location, storage_options=options)


def writer(cache_dir: str, keys: int, seed: int) -> int:
    """Store ``square(x)`` for every key, in a shuffled order, into the live pool."""
    order = list(range(keys))
    random.Random(seed).shuffle(order)
    with _open(cache_dir).create_pool("live", reuse=True):
        for x in order:
            actions.square(x)
    return 0


def churn(cache_dir: str, keys: int, rounds: int) -> int:
    """Fill a pool with blob-sharing entries and remove it, ``rounds`` times."""
    cache = _open(cache_dir)
    for i in range(rounds):
        with cache.create_pool(f"doomed-{i}"):
            for x in range(keys):
                actions.square_twin(x)
        cache.remove_pool(f"doomed-{i}", grace=0)
    return 0


def run(
    cache_dir: Path | str,
    *,
    writers: int = 3,
    keys: int = 30,
    rounds: int = 3,
    log: Path | None = None,
    s3_endpoint: str | None = None,
) -> GcRunResult:
    """Run writers and a churning pool with a collector looping in this process; check after.

    ``cache_dir`` is a directory, or an S3 URL with ``s3_endpoint`` naming the
    server (then ``log`` names the execution log).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECYCLABLE_TEST_")}
    if s3_endpoint is not None:
        env["STRESS_S3_ENDPOINT"] = os.environ["STRESS_S3_ENDPOINT"] = s3_endpoint
    cache = _open(str(cache_dir))
    if log is None:
        assert isinstance(cache_dir, Path)
        log = cache_dir.parent / f"{cache_dir.name}.log"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    env["RECYCLABLE_TEST_LOG"] = str(log)
    here = str(Path(__file__).resolve())
    commands = [
        [sys.executable, here, "writer", str(cache_dir), str(keys), str(seed)]
        for seed in range(writers)
    ]
    commands.append([sys.executable, here, "churn", str(cache_dir), str(keys), str(rounds)])
    procs = [subprocess.Popen(c, env=env, stderr=subprocess.PIPE) for c in commands]
    done = threading.Event()
    collections = [0]

    def collect() -> None:
        while not done.is_set():
            cache.garbage_collect(grace=0)
            collections[0] += 1

    collector = threading.Thread(target=collect)
    collector.start()
    try:
        outputs = [proc.communicate(timeout=900)[1] for proc in procs]
    finally:
        done.set()
        collector.join()
    cache.garbage_collect(grace=0)
    before = actions.executions(log)
    saved = os.environ.get("RECYCLABLE_TEST_LOG")
    os.environ["RECYCLABLE_TEST_LOG"] = str(log)
    wrong = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with cache.create_pool("live", reuse=True):
                for x in range(keys):
                    got = actions.square(x)
                    if got["square"] != x * x or int(got["pad"][0]) != x:  # type: ignore[index]
                        wrong.append(x)
    finally:
        if saved is None:
            del os.environ["RECYCLABLE_TEST_LOG"]
        else:
            os.environ["RECYCLABLE_TEST_LOG"] = saved
    after = actions.executions(log)[len(before) :]
    return GcRunResult(
        returncodes=[proc.returncode for proc in procs],
        errors=[err.decode() for err in outputs if err.strip()],
        collections=collections[0],
        recomputed_after=[int(line.split(":")[1]) for line in after],
        wrong=wrong,
        warnings=[str(w.message) for w in caught if issubclass(w.category, RecyclableWarning)],
        verified=cache.verify().ok,
    )


def main() -> int:
    """Command line: ``writer``/``churn`` for the children, otherwise a full run."""
    if len(sys.argv) > 1 and sys.argv[1] == "writer":
        return writer(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    if len(sys.argv) > 1 and sys.argv[1] == "churn":
        return churn(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--s3", nargs=2, metavar=("ENDPOINT", "URL"), help="run on S3 instead")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="recyclable-gc-"))
    location: Path | str = base / "cache" if args.s3 is None else args.s3[1]
    result = run(
        location,
        writers=args.writers,
        keys=args.keys,
        rounds=args.rounds,
        log=base / "cache.log",
        s3_endpoint=None if args.s3 is None else args.s3[0],
    )
    ok = (
        not any(result.returncodes)
        and not result.errors
        and not result.recomputed_after
        and not result.wrong
        and not result.warnings
        and result.verified
    )
    print(
        f"{'OK' if ok else 'FAILED'}: {result.collections} collections; lost entries "
        f"(recomputed afterwards): {result.recomputed_after or 'none'}; wrong results: "
        f"{result.wrong or 'none'}; exit codes {result.returncodes}; verify ok: {result.verified}"
    )
    for text in result.errors + result.warnings:
        print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
