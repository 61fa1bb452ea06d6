"""A full disk (a real, small tmpfs): results are returned, nothing stored by others is lost."""

from __future__ import annotations

import errno
import subprocess
import sys
import warnings
from pathlib import Path

import fault_actions
import pytest
import xxhash
from children import REPO, child_env, wait_for_file
from filesystems import fill, small_tmpfs

from recyclable import Cache, CacheIOError, RecyclableWarning

FAULTS = REPO / "tests" / "fault_actions.py"


def _step(cache: Path, pool: str, func: str, arg: object, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(FAULTS), str(cache), pool, func, str(arg)],
        env=child_env(cache.parent / "log", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_failed_store_keeps_a_blob_another_writer_published(tmp_path: Path) -> None:
    """W1 hits ENOSPC after writing blob A; W2 publishes an entry using A meanwhile; A stays.

    W1's cleanup used to delete every blob it had created, A too, and W2's
    published entry was then damaged (quarantined on its next load).  W1 is
    held in the middle of its second blob (A is published, the large third
    one not yet begun) until W2 has stored its entry, so the interleaving is
    the same every time.
    """
    with small_tmpfs(tmp_path / "fs", "40m") as fs:
        cache = fs / "cache"
        Cache(cache)
        digest = xxhash.xxh3_128_hexdigest(memoryview(fault_actions.SHARED).cast("B"))
        blob = cache / "objects" / digest[:2] / digest
        go = tmp_path / "go"
        first = _step(
            cache,
            "w1",
            "shared_medium_and_big",
            60 << 20,
            RECYCLABLE_TEST_PAUSE_AT=f"mid-blob#2={go}",
        )
        wait_for_file(blob, first)  # type: ignore[arg-type]
        second = _step(cache, "w2", "shared_only", str(blob))
        _, err2 = second.communicate(timeout=120)
        assert second.returncode == 0, err2
        go.touch()
        out1, err1 = first.communicate(timeout=120)
        assert first.returncode == 0, err1
        assert "could not store the result of" in err1 and "No space left" in err1
        assert out1.split() == ["['a',", "'b',", "'big']"]
        assert blob.exists()
        with warnings.catch_warnings():
            warnings.simplefilter("error", RecyclableWarning)
            pool = Cache(cache).create_pool("w2", reuse=True)
            with pool:
                value = fault_actions.shared_only(str(blob))
        assert pool.stats.loaded == 1
        assert (value["a"] == fault_actions.SHARED).all()
        assert Cache(cache).verify().ok
        # W1's own leftovers are gone: the disk has its space back, and the
        # medium blob it created (no one else used it) is freed too.
        assert not list((cache / "tmp").iterdir())
        medium = fault_actions.np.full(1 << 17, 7, dtype=fault_actions.np.int64)
        medium_digest = xxhash.xxh3_128_hexdigest(memoryview(medium).cast("B"))
        assert not (cache / "objects" / medium_digest[:2] / medium_digest).exists()


def test_new_cache_on_a_full_disk_says_what_to_free(tmp_path: Path) -> None:
    """Cache(new path) on a full disk: a CacheIOError naming the fix, and no empty VERSION left."""
    with small_tmpfs(tmp_path / "fs", "1m") as fs:
        fill(fs)
        with pytest.raises(CacheIOError) as raised:
            Cache(fs / "cache")
        assert raised.value.errno == errno.ENOSPC
        assert "free space on the filesystem holding" in str(raised.value)
        assert not list((fs / "cache" / "tmp").iterdir())
        (fs / "filler").unlink()
        assert Cache(fs / "cache").format == 1  # the half-made cache is completed later


def test_new_pool_on_a_full_disk(tmp_path: Path) -> None:
    """No inode left for a pool: reuse=True warns and still loads; reuse=False raises."""
    with small_tmpfs(tmp_path / "fs", "8m,nr_inodes=64") as fs:
        cache = Cache(fs / "cache")
        with cache.create_pool("old"):
            fault_actions.shared_only(__file__)
        index = 0
        while True:
            try:
                (fs / f"f{index}").touch()
            except OSError:
                break
            index += 1
        with pytest.raises(CacheIOError, match=r"cannot create pool 'fresh'.*free space"):
            cache.create_pool("fresh")
        with pytest.warns(RecyclableWarning, match="cannot create pool 'fresh'"):
            pool = cache.create_pool("fresh", reuse=True)
        with pool:
            value = fault_actions.shared_only(__file__)
        assert pool.stats.loaded == 1
        assert (value["a"] == fault_actions.SHARED).all()
