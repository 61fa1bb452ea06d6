"""Cache: location, VERSION, pools, sharing between pools, removal and garbage collection."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from recyclable import (
    Cache,
    CacheFormatError,
    CacheIOError,
    CacheLocationError,
    PoolExistsError,
    PoolNameError,
    PoolNotFoundError,
    recyclable,
)


@recyclable
def big(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(20_000)


def _files(root: Path, sub: str) -> list[Path]:
    return sorted(p for p in (root / sub).rglob("*") if p.is_file())


def test_new_cache_layout(tmp_path: Path) -> None:
    """A new cache has a VERSION file, the store's directories, and is private."""
    cache = Cache(tmp_path / "c")
    assert (cache.path / "VERSION").read_text() == "recyclable cache\nformat: 1\n"
    for sub in ("objects", "entries", "pools", "tmp", "quarantine"):
        assert (cache.path / sub).is_dir()
    assert (cache.path.stat().st_mode & 0o777) == 0o700


def test_reopening_keeps_contents(tmp_path: Path) -> None:
    """Opening an existing cache changes nothing in it."""
    Cache(tmp_path / "c").create_pool("kept")
    assert Cache(tmp_path / "c").pools() == ["kept"]


def test_path_that_is_a_file(tmp_path: Path) -> None:
    """A file where the cache should be is a clear error and is left alone."""
    target = tmp_path / "afile"
    target.write_text("precious")
    with pytest.raises(CacheLocationError, match="is a file"):
        Cache(target)
    assert target.read_text() == "precious"


def test_non_cache_directory_is_refused_not_wiped(tmp_path: Path) -> None:
    """A non-empty directory without VERSION is refused and untouched."""
    target = tmp_path / "data"
    target.mkdir()
    (target / "results.csv").write_text("1,2,3")
    with pytest.raises(CacheLocationError, match="not a recyclable cache"):
        Cache(target)
    assert sorted(os.listdir(target)) == ["results.csv"]


def test_empty_directory_becomes_a_cache(tmp_path: Path) -> None:
    """An existing empty directory is made into a cache."""
    (tmp_path / "empty").mkdir()
    assert Cache(tmp_path / "empty").format == 1


def test_newer_format_is_refused(tmp_path: Path) -> None:
    """A cache written in a newer format names both versions and the fix."""
    cache = Cache(tmp_path / "c")
    (cache.path / "VERSION").write_text("recyclable cache\nformat: 7\n")
    with pytest.raises(CacheFormatError) as info:
        Cache(tmp_path / "c")
    assert "format 7" in str(info.value)
    assert "format 1 or older" in str(info.value)
    assert "upgrade recyclable" in str(info.value)


def test_garbled_version_file_is_refused(tmp_path: Path) -> None:
    """A VERSION file not written by recyclable is an error, not a guess."""
    cache = Cache(tmp_path / "c")
    (cache.path / "VERSION").write_text("QIIME 2\ncache: 1\n")
    with pytest.raises(CacheFormatError, match="not a recyclable VERSION file"):
        Cache(tmp_path / "c")


def test_bad_arguments(tmp_path: Path) -> None:
    """Cache() names a wrong argument type or mmap mode."""
    with pytest.raises(TypeError, match=r"Cache\(path=...\) expects a str or os.PathLike, got int"):
        Cache(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Cache\(mmap=...\) got 'w'"):
        Cache(tmp_path / "c", mmap="w")


@pytest.mark.parametrize(
    "name",
    ["", "a/b", "..", "a..b", "../up", ".hidden", "-dash", "x" * 201, "sp ace", "tab\t", "é"],
)
def test_invalid_pool_names(cache: Cache, name: str) -> None:
    """Path separators, '..', leading dots or dashes, odd characters and long names are refused."""
    with pytest.raises(PoolNameError) as info:
        cache.create_pool(name)
    assert isinstance(info.value, ValueError)
    assert "letters, digits" in str(info.value)
    assert cache.pools() == []


def test_pool_name_must_be_a_string(cache: Cache) -> None:
    """A pool name of the wrong type names its type."""
    with pytest.raises(PoolNameError, match="must be a str, got int"):
        cache.create_pool(5)  # type: ignore[arg-type]


def test_valid_pool_names(cache: Cache) -> None:
    """Letters, digits, '_', '-', '.' and 200 characters are fine."""
    for name in ["p", "recycle_plugin_action_0a1b", "run-2026.11.25", "x" * 200]:
        cache.create_pool(name)
    assert len(cache.pools()) == 4


def test_create_pool_reuse(cache: Cache) -> None:
    """reuse=False refuses an existing pool; reuse=True opens it."""
    cache.create_pool("p")
    with pytest.raises(PoolExistsError, match="pass reuse=True"):
        cache.create_pool("p")
    assert cache.create_pool("p", reuse=True).name == "p"


def test_unknown_pool(cache: Cache) -> None:
    """Opening or removing a missing pool is a LookupError naming the pool."""
    cache.create_pool("present")
    with pytest.raises(PoolNotFoundError) as info:
        cache.pool("absent")
    assert isinstance(info.value, LookupError)
    assert "'absent'" in str(info.value) and "present" in str(info.value)
    with pytest.raises(PoolNotFoundError):
        cache.remove_pool("absent")


def test_same_call_in_two_pools_is_stored_once(cache: Cache) -> None:
    """Two pools holding the same call share one manifest and one blob."""
    first, second = cache.create_pool("a"), cache.create_pool("b")
    with first:
        big(1)
    with second:
        big(1)
    assert first.stats.computed == 1 and second.stats.loaded == 1
    assert len(_files(cache.path, "entries")) == 1
    assert len(_files(cache.path, "objects")) == 1
    assert len(first) == len(second) == 1


def test_remove_pool_reclaims_only_unshared_data(cache: Cache) -> None:
    """Removing a pool deletes its own entries and blobs and keeps those another pool holds."""
    first, second = cache.create_pool("a"), cache.create_pool("b")
    with first:
        big(1)
        big(2)
    with second:
        big(2)
    report = first.remove()
    assert cache.pools() == ["b"]
    assert report.entries == 1 and report.blobs == 1
    assert len(_files(cache.path, "entries")) == 1
    assert len(_files(cache.path, "objects")) == 1
    with second:
        big(2)
    assert second.stats.loaded == 2  # still there, and verifies


def test_garbage_collect_keeps_referenced_and_young_data(cache: Cache) -> None:
    """gc removes unreferenced entries; young unreferenced blobs wait for the grace period."""
    pool = cache.create_pool("p")
    with pool:
        big(1)
    # A blob staged by a writer that has not published yet: unreferenced and young.
    staged = cache.store.blob_path("ff" + "0" * 30)
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_bytes(b"in flight")
    leftover = cache.path / "tmp" / "blob.host.1.abc.tmp"
    leftover.write_bytes(b"from a killed writer")
    old = leftover.stat().st_mtime - 7200
    os.utime(leftover, (old, old))

    report = cache.garbage_collect()
    assert report.entries == 0 and report.blobs == 0 and report.temporary == 1
    assert staged.exists() and not leftover.exists()
    assert len(_files(cache.path, "entries")) == 1

    dry = cache.garbage_collect(grace=0, dry_run=True)
    assert dry.blobs == 1 and staged.exists()
    assert cache.garbage_collect(grace=0).blobs == 1
    assert not staged.exists()
    with pool:
        big(1)
    assert pool.stats.loaded == 1


def test_a_copied_cache_still_hits(cache: Cache, tmp_path: Path) -> None:
    """Keys hold no cache path, host or pool name: a cache copied elsewhere hits in any pool."""
    import shutil

    with cache.create_pool("original"):
        big(7)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(cache.path, moved)
    copy = Cache(moved)
    other = copy.create_pool("another-name")
    with other:
        big(7)
    assert other.stats.loaded == 1 and other.stats.computed == 0


def test_cache_half_created_by_another_process_opens(tmp_path: Path) -> None:
    """A directory holding only the store's directories (VERSION not yet published) is a cache.

    Two processes creating one new cache at once: the second sees the first's
    directories before its VERSION file and must not refuse the directory.
    """
    target = tmp_path / "c"
    for sub in ("objects", "entries", "pools", "tmp"):
        (target / sub).mkdir(parents=True)
    assert Cache(target).format == 1
    assert (target / "VERSION").is_file()
    (tmp_path / "d" / "objects").mkdir(parents=True)
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(CacheLocationError, match="not a recyclable cache"):
        Cache(tmp_path / "d")


def test_pool_object_reused_after_removal_marks_its_entries_again(cache: Cache) -> None:
    """A Pool object kept across its pool's removal re-adds markers, so gc keeps its hits."""
    pool = cache.create_pool("p")
    other = cache.create_pool("other")
    with other:
        big(3)
    with pool:
        big(3)
    pool.remove()
    cache.create_pool("p")
    with pool:
        big(3)  # a hit on the entry the other pool keeps; must be marked in "p" again
    other.remove()
    assert cache.garbage_collect(grace=0).entries == 0
    assert len(cache.pool("p")) == 1


def test_loading_an_entry_does_not_refresh_its_age(cache: Cache) -> None:
    """gc's budget evicts by when an entry was stored: a load leaves the manifest's mtime."""
    from recyclable import recyclable

    @recyclable
    def triple(x: int) -> int:
        return 3 * x

    with cache.create_pool("p") as pool:
        triple(2)
    (key,) = pool.stats.keys
    manifest = cache.store.manifest_path(key)
    os.utime(manifest, (1_000_000_000, 1_000_000_000))
    with cache.create_pool("q") as other:
        assert triple(2) == 6
    assert other.stats.loaded == 1
    assert manifest.stat().st_mtime == 1_000_000_000


def test_cache_where_no_directory_can_be_made(tmp_path: Path) -> None:
    """Cache('/proc/x') is a CacheIOError (a RecyclableError and an OSError) saying what to pass."""
    with pytest.raises(CacheIOError, match="pass a cache path on an ordinary filesystem"):
        Cache("/proc/recyclable-no-such-dir")
