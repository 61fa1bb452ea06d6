"""Two runs of one pool that share a key and finish at the same moment leave no marker behind."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path
from typing import Any

import pytest

from recyclable import Cache
from recyclable.runs import RunRecord

SHARED = "5" * 32
TRIALS = 25


def _finisher(cache_dir: str, own: str, barrier: Any, results: Any) -> None:
    """In each trial: register, note the shared key and an own key, then finish with the other."""
    cache = Cache(cache_dir)
    for trial in range(TRIALS):
        pool = cache.create_pool(f"pool-{trial}", reuse=True)
        store = cache.local_store
        record = RunRecord(pool, identity=own, heartbeat=0)
        record.start()
        for key in (SHARED, own * 32):
            record.note(key)
            store.add_marker(pool.name, key)
        barrier.wait(timeout=60)  # both records hold both keys now
        barrier.wait(timeout=60)
        record.finish(release=True)
        barrier.wait(timeout=60)  # both are done: the pool must be gone
    results.put(own)


@pytest.mark.skipif(sys.platform != "linux", reason="run records judge processes through /proc")
def test_runs_finishing_at_once_release_the_keys_they_share(tmp_path: Path) -> None:
    """Of two runs finishing together, the later one removes the shared marker and the pool.

    Each spared the shared key for the other when both read the records
    before either removed its own; the pool then stayed with a marker.
    """
    Cache(tmp_path / "cache")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3)
    results = context.Queue()
    workers = [
        context.Process(target=_finisher, args=(str(tmp_path / "cache"), own, barrier, results))
        for own in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    left: list[tuple[int, list[str]]] = []
    try:
        for trial in range(TRIALS):
            barrier.wait(timeout=120)
            barrier.wait(timeout=60)
            barrier.wait(timeout=60)
            pool_dir = tmp_path / "cache" / "pools" / f"pool-{trial}"
            if pool_dir.exists():
                left.append(
                    (trial, sorted(str(p.relative_to(pool_dir)) for p in pool_dir.rglob("*")))
                )
        finished = sorted(results.get(timeout=60) for _ in workers)
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
    assert finished == ["a", "b"]
    assert left == []
