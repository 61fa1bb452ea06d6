"""`cache gc` and `cache pools`, their reading split with a forked child: the same answers."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from forked_tool import ONE_PROCESS, SPLIT, needs_two_cores, run_tool

from recyclable import Cache, recyclable


@recyclable
def payload(n: int) -> bytes:
    return bytes([n]) * 30_000


@recyclable
def twin(n: int) -> bytes:
    return b"shared" * 10_000  # one data file for every n


@recyclable
def small(n: int) -> int:
    return n + 1


def test_gc_split_with_a_forked_child_removes_what_a_single_pass_removes(
    cache: Cache, tmp_path: Path
) -> None:
    """Old data files are kept exactly when a pooled entry references them, split or not."""
    needs_two_cores()
    with cache.create_pool("keep"):
        for n in range(8):
            payload(n)
            small(n)
        twin(0)
    with cache.create_pool("drop"):
        for n in range(8, 14):
            payload(n)
            twin(n)  # the same data file as the kept twin(0)
    root = cache.path
    assert root is not None
    shutil.rmtree(root / "pools" / "drop")  # its entries are now garbage
    week = time.time() - 7 * 24 * 3600  # every file old: each data file is a candidate
    for path in root.rglob("*"):
        os.utime(path, (week, week))
    copies = {limit: tmp_path / f"copy-{limit}" for limit in (SPLIT, ONE_PROCESS)}
    reports, forks, left = {}, {}, {}
    for limit, copy in copies.items():
        shutil.copytree(root, copy)
        printed, forks[limit] = run_tool(limit, "cache", "gc", "--use-cache", str(copy), "--json")
        reports[limit] = json.loads(printed)
        left[limit] = sorted(
            str(p.relative_to(copy)) for p in (copy / "objects").rglob("*") if p.is_file()
        )
    split, single = reports[SPLIT], reports[ONE_PROCESS]
    assert forks[SPLIT] >= 1 and forks[ONE_PROCESS] == 0, "the first pass was split, the second not"
    assert split == single
    assert split["garbage"]["entries"] == 12 and split["garbage"]["blobs"] == 6
    assert left[SPLIT] == left[ONE_PROCESS] and len(left[SPLIT]) == 9
    # The kept pool loads every one of its calls from what is left.
    pool = Cache(copies[SPLIT]).create_pool("keep", reuse=True)
    with pool:
        assert [payload(n) for n in range(8)] == [bytes([n]) * 30_000 for n in range(8)]
        assert [small(n) for n in range(8)] == [n + 1 for n in range(8)]
        assert twin(0) == b"shared" * 10_000
    assert (pool.stats.loaded, pool.stats.computed) == (17, 0)


def test_pools_split_with_a_forked_child_sizes_the_same(cache: Cache) -> None:
    """Each pool's entries and bytes, an entry in two pools counted in both, split or not."""
    needs_two_cores()
    with cache.create_pool("a"):
        for n in range(6):
            payload(n)
            small(n)
    with cache.create_pool("b"):
        for n in range(4, 9):
            payload(n)  # 4 and 5 are in both pools
    argv = ("cache", "pools", "--use-cache", str(cache.path), "--json")
    (split, forks), (single, none) = run_tool(SPLIT, *argv), run_tool(ONE_PROCESS, *argv)
    assert (forks, none) == (1, 0), "the first pass was split, the second not"
    assert split == single
    found = {pool["name"]: pool for pool in json.loads(split)}
    assert (found["a"]["entries"], found["b"]["entries"]) == (12, 5)
    assert found["b"]["bytes"] > 5 * 30_000 and found["a"]["bytes"] > 6 * 30_000
