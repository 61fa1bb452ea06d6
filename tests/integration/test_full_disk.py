"""A full disk (a real, small tmpfs): results are returned, nothing stored by others is lost."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import fault_actions
import pytest
import xxhash
from children import REPO, child_env
from filesystems import small_tmpfs

from recyclable import Cache, RecyclableWarning

FAULTS = REPO / "tests" / "fault_actions.py"


def _step(cache: Path, pool: str, func: str, arg: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(FAULTS), str(cache), pool, func, str(arg)],
        env=child_env(cache.parent / "log"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("attempt", range(3))
def test_failed_store_keeps_a_blob_another_writer_published(tmp_path: Path, attempt: int) -> None:
    """W1 hits ENOSPC after writing blob A; W2 publishes an entry using A meanwhile; A stays.

    W1's cleanup used to delete every blob it had created, A too, and W2's
    published entry was then damaged (quarantined on its next load).
    """
    with small_tmpfs(tmp_path / "fs", "40m") as fs:
        cache = fs / "cache"
        Cache(cache)
        digest = xxhash.xxh3_128_hexdigest(memoryview(fault_actions.SHARED).cast("B"))
        blob = cache / "objects" / digest[:2] / digest
        second = _step(cache, "w2", "shared_only", str(blob))
        first = _step(cache, "w1", "shared_and_big", 60 << 20)
        out1, err1 = first.communicate(timeout=120)
        _, err2 = second.communicate(timeout=120)
        assert first.returncode == 0, err1
        assert "could not store the result of" in err1 and "No space left" in err1
        assert out1.split() == ["['a',", "'big']"]
        assert second.returncode == 0, err2
        assert blob.exists()
        with warnings.catch_warnings():
            warnings.simplefilter("error", RecyclableWarning)
            pool = Cache(cache).create_pool("w2", reuse=True)
            with pool:
                value = fault_actions.shared_only(str(blob))
        assert pool.stats.loaded == 1
        assert (value["a"] == fault_actions.SHARED).all()
        assert Cache(cache).verify().ok
        # W1's own leftovers are gone: the disk has its space back.
        assert not list((cache / "tmp").iterdir())
