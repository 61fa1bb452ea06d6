"""`cache gc` with its reading of a large cache split with a forked child removes the same."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recyclable import Cache, recyclable

GC_IN_A_NEW_PROCESS = """
import os, sys
import recyclable.forkmap
from recyclable.cli import main
recyclable.forkmap.FORK_MIN = int(sys.argv[1])
forks = []
fork = os.fork
os.fork = lambda: (forks.append(1), fork())[1]
code = main(sys.argv[2:])
sys.stderr.write(f"forks={len(forks)}")
sys.exit(code)
"""


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
    if len(os.sched_getaffinity(0)) < 2 or not sys.platform.startswith("linux"):
        pytest.skip("a forked helper is used on Linux with two cores or more only")
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
    copies = {limit: tmp_path / f"copy-{limit}" for limit in ("2", str(10**9))}
    reports, forks, left = {}, {}, {}
    for limit, copy in copies.items():
        shutil.copytree(root, copy)
        done = subprocess.run(
            [sys.executable, "-c", GC_IN_A_NEW_PROCESS, limit,
             "cache", "gc", "--use-cache", str(copy), "--json"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        reports[limit] = json.loads(done.stdout)
        forks[limit] = int(done.stderr.rsplit("forks=", 1)[-1])
        left[limit] = sorted(
            str(p.relative_to(copy)) for p in (copy / "objects").rglob("*") if p.is_file()
        )
    split, single = reports["2"], reports[str(10**9)]
    assert forks["2"] >= 1 and forks[str(10**9)] == 0, "the first pass was split, the second not"
    assert split == single
    assert split["garbage"]["entries"] == 12 and split["garbage"]["blobs"] == 6
    assert left["2"] == left[str(10**9)] and len(left["2"]) == 9
    # The kept pool loads every one of its calls from what is left.
    pool = Cache(copies["2"]).create_pool("keep", reuse=True)
    with pool:
        assert [payload(n) for n in range(8)] == [bytes([n]) * 30_000 for n in range(8)]
        assert [small(n) for n in range(8)] == [n + 1 for n in range(8)]
        assert twin(0) == b"shared" * 10_000
    assert (pool.stats.loaded, pool.stats.computed) == (17, 0)
