"""Lease files kept between claims: one inode for a run of misses, nothing left after the run."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from recyclable import Cache, recyclable

SEEN: list[dict[str, Any]] = []


def _lease_files(cache: Cache) -> list[Path]:
    return [p for p in (cache.path / "leases").rglob("*") if p.is_file()]


def _look_at_own_lease(cache: Cache) -> dict[str, Any]:
    (lease,) = _lease_files(cache)
    info = os.stat(lease)
    return {"inode": info.st_ino, "links": info.st_nlink, "record": json.loads(lease.read_bytes())}


def _make_step(cache: Cache) -> Any:
    @recyclable(name="lease_spare_step")
    def step(x: int) -> int:
        SEEN.append(_look_at_own_lease(cache))
        return x * 3

    return step


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


def test_a_run_of_misses_reuses_one_lease_file_and_leaves_nothing(tmp_path: Path) -> None:
    """Five misses in one pool: one inode for their leases, a fresh record each, then no debris."""
    cache = Cache(tmp_path / "cache")
    step = _make_step(cache)
    with cache.create_pool("p") as pool:
        assert [step(i) for i in range(5)] == [0, 3, 6, 9, 12]
        assert pool.stats.computed == 5
        assert _lease_files(cache) == []  # released after each call
        # Between claims the file waits in tmp/ under a staging name of this process.
        (kept,) = list((cache.path / "tmp").iterdir())
        assert f".{os.getpid()}." in kept.name
    assert len({seen["inode"] for seen in SEEN}) == 1
    assert {seen["record"]["pid"] for seen in SEEN} == {os.getpid()}
    assert len({seen["record"]["token"] for seen in SEEN}) == 5
    assert all(seen["links"] == 2 for seen in SEEN)  # the lease and the kept file
    assert list((cache.path / "tmp").iterdir()) == []
    assert _lease_files(cache) == []
    with cache.create_pool("p", reuse=True) as pool:
        assert step(4) == 12
    assert pool.stats.loaded == 1 and len(SEEN) == 5


def test_a_kept_file_removed_by_another_process_is_made_again(tmp_path: Path) -> None:
    """Garbage collection elsewhere may remove an idle kept lease file: the next claim makes one."""
    cache = Cache(tmp_path / "cache")
    step = _make_step(cache)
    with cache.create_pool("p") as pool:
        assert step(1) == 3
        for kept in (cache.path / "tmp").iterdir():
            kept.unlink()  # as a collection in another process does to an old idle file
        assert step(2) == 6
        assert pool.stats.computed == 2
    # Linked twice: at the lease's path and at the new file's staging name.
    assert SEEN[1]["links"] == 2 and SEEN[1]["record"]["pid"] == os.getpid()
    assert list((cache.path / "tmp").iterdir()) == []
    with cache.create_pool("p", reuse=True) as pool:
        assert step(1) == 3 and step(2) == 6
    assert pool.stats.loaded == 2


def _child_miss(cache_dir: str, queue: Any) -> None:
    cache = Cache(cache_dir)
    step = _make_step(cache)
    with cache.create_pool("p", reuse=True) as pool:
        step(100)
    queue.put((SEEN[-1]["inode"], SEEN[-1]["record"]["pid"], pool.stats.computed))


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
)
def test_a_forked_child_never_fills_the_parents_lease_file(tmp_path: Path) -> None:
    """A child forked with a kept lease file idle makes its own; the parent's stays its own."""
    cache = Cache(tmp_path / "cache")
    step = _make_step(cache)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with cache.create_pool("p") as pool:
        assert step(1) == 3
        (parents,) = list((cache.path / "tmp").iterdir())
        child = context.Process(target=_child_miss, args=(str(cache.path), queue))
        child.start()
        inode, pid, computed = queue.get(timeout=60)
        child.join(60)
        assert child.exitcode == 0 and computed == 1
        assert parents.exists()  # the child left the parent's kept file alone
        assert step(2) == 6
        assert pool.stats.computed == 2
    assert pid == child.pid and inode != SEEN[0]["inode"]
    assert SEEN[1]["inode"] == SEEN[0]["inode"] and SEEN[1]["record"]["pid"] == os.getpid()
    assert list((cache.path / "tmp").iterdir()) == []
    assert _lease_files(cache) == []
