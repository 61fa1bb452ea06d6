"""The store contract: every store passes the same tests (local POSIX, and S3 through fsspec).

Each test runs once per store: ``local`` is a `LocalStore` in a temporary
directory, ``s3`` an `FsspecStore` on a moto S3 server on 127.0.0.1.  What
differs between media (memory-mapping, how raw bytes are damaged for fault
injection) lives in the small `Medium` helpers, never in the assertions.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pipeline_actions
import pytest
import race_workers
import xxhash
from race_workers import manifest_bytes
from remote_support import DUMMY_CREDENTIALS, S3Location

from recyclable import Cache, PoolHandle, RecyclableWarning
from recyclable.manifest import load_manifest
from recyclable.store.base import Store
from recyclable.store.local import DamagedBlob

RACERS = 8


@dataclass
class Medium:
    """How a test opens a cache on one medium and touches its raw bytes (fault injection)."""

    name: str
    location: str
    options: dict[str, Any] | None
    raw_write: Callable[[str, bytes], None]
    raw_read: Callable[[str], bytes]
    raw_list: Callable[[], list[str]]

    def open(self) -> Cache:
        return Cache(self.location, storage_options=self.options)


def _local_medium(root: Path) -> Medium:
    def write(rel: str, data: bytes) -> None:
        (root / rel).write_bytes(data)

    def listing() -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    return Medium("local", str(root), None, write, lambda rel: (root / rel).read_bytes(), listing)


def _s3_medium(s3: S3Location) -> Medium:
    fs = s3.filesystem()
    base = f"{s3.bucket}/cache"

    def write(rel: str, data: bytes) -> None:
        fs.pipe_file(f"{base}/{rel}", data)

    def read(rel: str) -> bytes:
        return bytes(fs.cat_file(f"{base}/{rel}"))

    def listing() -> list[str]:
        fs.invalidate_cache()
        return sorted(path[len(base) + 1 :] for path in fs.find(base))

    return Medium("s3", s3.url("cache"), s3.options, write, read, listing)


@pytest.fixture(params=["local", "s3"])
def medium(request: pytest.FixtureRequest, tmp_path: Path) -> Medium:
    """One medium per parameter: a local directory, or a fresh bucket on the S3 server."""
    if request.param == "local":
        return _local_medium(tmp_path / "cache")
    return _s3_medium(request.getfixturevalue("s3"))


def _digest(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


# --- blobs ----------------------------------------------------------------------------


def test_blob_round_trip(medium: Medium) -> None:
    """A blob written from several chunks loads back whole and verified; a missing one is damage."""
    store: Store = medium.open().store
    data = np.arange(50_000, dtype=np.int64)
    whole = data.tobytes()
    digest = _digest(whole)
    store.write_blob(digest, [memoryview(whole)[:1000], memoryview(data)[125:]])
    assert store.blob_size(digest) == len(whole)
    load = store.load_blob
    assert bytes(load(digest, len(whole), mmap_mode=None, trust_verdict=False)) == whole
    store.write_blob(digest, [whole])  # writing it again is harmless
    assert bytes(load(digest, len(whole), mmap_mode=None, trust_verdict=False)) == whole
    with pytest.raises(DamagedBlob, match="is missing"):
        load("0" * 32, 3, mmap_mode=None, trust_verdict=False)
    with pytest.raises(DamagedBlob, match="expected 3"):
        load(digest, 3, mmap_mode=None, trust_verdict=False)
    assert store.blob_size("0" * 32) is None
    assert [name for name, _ in store.iter_blobs()] == [digest]
    assert medium.raw_list() == ["VERSION", f"objects/{digest[:2]}/{digest}"]


def test_blob_read_without_mmap_is_writable(medium: Medium) -> None:
    """Blobs read into memory are writable buffers, so arrays built on them are writable."""
    store = medium.open().store
    store.write_blob(_digest(b"abc"), [b"abc"])
    data = store.load_blob(_digest(b"abc"), 3, mmap_mode=None, trust_verdict=False)
    assert isinstance(data, bytearray)


# --- manifests: publish, first writer wins ---------------------------------------------


def test_first_manifest_wins(medium: Medium) -> None:
    """The first publish of a key wins; a second is refused and the first stays readable."""
    store = medium.open().store
    key = "ab" + "0" * 30
    first, second = manifest_bytes(key, "first"), manifest_bytes(key, "second")
    assert store.read_manifest(key) is None
    assert store.publish_manifest(key, first) is True
    assert store.publish_manifest(key, second) is False
    assert store.read_manifest(key) == first
    assert list(store.iter_manifest_keys()) == [key]
    assert f"entries/ab/{key}.json" in medium.raw_list()


def test_quarantined_manifest_can_be_published_again(medium: Medium) -> None:
    """A quarantined manifest is gone from its key (kept aside), so a fresh one can win."""
    store = medium.open().store
    key = "cd" + "1" * 30
    assert store.publish_manifest(key, b"damaged")
    store.quarantine_manifest(key)
    assert store.read_manifest(key) is None
    assert any(name.startswith("quarantine/entry-") for name in medium.raw_list())
    assert store.publish_manifest(key, manifest_bytes(key, "fresh")) is True


def test_publish_race_between_processes_has_one_winner(medium: Medium) -> None:
    """Eight processes publish the same key at once: exactly one wins, and its manifest stays."""
    medium.open()  # create the cache before the race
    # Children fork from a server that imported the store modules once, so the
    # racers start in a fraction of a second rather than importing them 8 times.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["race_workers", "s3fs"])
    barrier = context.Barrier(RACERS)
    results = context.Queue()
    key = "ef" + "2" * 30
    environ = {name: os.environ[name] for name in DUMMY_CREDENTIALS if name in os.environ}
    racers = [
        context.Process(
            target=race_workers.publish,
            args=(medium.location, medium.options, key, f"racer-{i}", barrier, results, environ),
        )
        for i in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    outcomes: dict[str, bool] = {}
    deadline = time.monotonic() + 240
    while len(outcomes) < RACERS:
        crashed = [r.exitcode for r in racers if r.exitcode not in (None, 0)]
        assert not crashed, f"racer processes failed with exit codes {crashed}"
        assert time.monotonic() < deadline, "racers did not all report within 240 s"
        with contextlib.suppress(queue.Empty):
            label, won = results.get(timeout=1)
            outcomes[label] = won
    for racer in racers:
        racer.join(timeout=60)
        assert racer.exitcode == 0
    winners = [label for label, won in outcomes.items() if won]
    assert len(outcomes) == RACERS
    assert len(winners) == 1
    stored = medium.open().store.read_manifest(key)
    assert stored is not None
    assert load_manifest(stored)["writer"] == winners[0]


# --- pools and markers -----------------------------------------------------------------


def test_pools_and_markers(medium: Medium) -> None:
    """Pools are created once, listed, hold markers; a detached pool's markers are removed."""
    store = medium.open().store
    key, other = "12" + "3" * 30, "34" + "5" * 30
    assert store.create_pool("a") is True
    assert store.create_pool("a") is False
    assert store.create_pool("b") is True
    assert store.list_pools() == ["a", "b"]
    assert store.pool_exists("a") and not store.pool_exists("c")
    assert not store.has_marker("a", key)
    store.add_marker("a", key)
    store.add_marker("a", key)
    store.add_marker("a", other)
    store.add_marker("b", key)
    assert store.has_marker("a", key) and not store.has_marker("b", other)
    assert sorted(store.iter_markers("a")) == sorted([key, other])
    detached = store.detach_pool("a")
    assert detached is not None
    assert not store.pool_exists("a")
    store.remove_tree(detached)
    assert list(store.iter_markers("a")) == []
    assert store.list_pools() == ["b"]
    assert store.detach_pool("a") is None
    assert list(store.iter_markers("b")) == [key]


# --- through the public API: round trip, damage, hit path, garbage collection ---------


def test_decorated_round_trip_through_a_fresh_cache_object(medium: Medium) -> None:
    """A stored result (array + dict) loads equal through a new Cache object on the same store."""
    with medium.open().create_pool("run", reuse=True) as pool:
        reads = pipeline_actions.load_reads(200_000, 7)  # large: an out-of-band blob
        meta = pipeline_actions.load_metadata(5)
    assert pool.stats.computed == 2
    reopened = medium.open().create_pool("run", reuse=True)
    with reopened:
        np.testing.assert_array_equal(pipeline_actions.load_reads(200_000, 7), reads)
        assert pipeline_actions.load_metadata(5) == meta
    assert (reopened.stats.loaded, reopened.stats.computed) == (2, 0)


def test_corrupt_blob_is_a_warned_miss_that_heals(medium: Medium) -> None:
    """A blob whose bytes changed is a RecyclableWarning and a recompute, never a wrong result."""
    cache = medium.open()
    with cache.create_pool("run", reuse=True):
        # A copy: on a local cache the result is a view of its blob, as on a hit, and the
        # damage below edits that file in place.
        original = np.array(pipeline_actions.load_reads(100_000, 3))
    (blob,) = [name for name in medium.raw_list() if name.startswith("objects/")]
    damaged = bytearray(medium.raw_read(blob))
    damaged[len(damaged) // 2] ^= 0xFF
    medium.raw_write(blob, bytes(damaged))

    pool = medium.open().create_pool("run", reuse=True)
    with pytest.warns(RecyclableWarning, match="load_reads") as record, pool:
        again = pipeline_actions.load_reads(100_000, 3)
    assert "fails its checksum" in str(record[0].message)
    np.testing.assert_array_equal(again, original)
    assert pool.stats.computed == 1
    assert any(name.startswith("quarantine/") for name in medium.raw_list())

    healed = medium.open().create_pool("run", reuse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with healed:
            np.testing.assert_array_equal(pipeline_actions.load_reads(100_000, 3), original)
    assert healed.stats.loaded == 1


def test_hit_path_lists_nothing(medium: Medium, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hit reads by name only: with every listing call broken, it still loads."""
    cache = medium.open()
    with cache.create_pool("run", reuse=True):
        expected = pipeline_actions.load_reads(100_000, 11)

    pool = medium.open().create_pool("other", reuse=True)

    def no_listing(*args: object, **kwargs: object) -> object:
        raise AssertionError("the hit path listed a directory")

    if medium.name == "local":
        monkeypatch.setattr(os, "scandir", no_listing)
        monkeypatch.setattr(os, "listdir", no_listing)
    else:
        fs = pool.cache.store.fs  # type: ignore[attr-defined]
        for name in ("ls", "find", "walk", "glob", "_ls", "_find", "_walk", "_glob"):
            monkeypatch.setattr(fs, name, no_listing)
    with pool:
        np.testing.assert_array_equal(pipeline_actions.load_reads(100_000, 11), expected)
    assert pool.stats.loaded == 1
    monkeypatch.undo()
    assert len(pool) == 1  # the hit added this pool's marker


def test_remove_pool_reclaims_only_what_no_other_pool_uses(medium: Medium) -> None:
    """Removing a pool deletes its own entries and blobs; an entry another pool holds stays."""
    cache = medium.open()
    with cache.create_pool("keep"):
        shared = pipeline_actions.load_reads(100_000, 1)
    with cache.create_pool("drop"):
        pipeline_actions.load_reads(100_000, 1)  # a hit: now held by both pools
        pipeline_actions.load_reads(100_000, 2)  # only in "drop"
    before = medium.raw_list()
    assert sum(name.startswith("entries/") for name in before) == 2
    report = cache.remove_pool("drop", grace=0)
    assert (report.entries, report.blobs) == (1, 1)
    after = medium.raw_list()
    assert sum(name.startswith("entries/") for name in after) == 1
    assert sum(name.startswith("objects/") for name in after) == 1
    assert cache.pools() == ["keep"]
    with medium.open().create_pool("keep", reuse=True) as pool:
        np.testing.assert_array_equal(pipeline_actions.load_reads(100_000, 1), shared)
    assert pool.stats.loaded == 1


def test_handle_reopens_the_same_pool_with_no_secret(medium: Medium) -> None:
    """A pool handle pickles small, re-opens the same pool, and carries no credential.

    Both media hold secrets: the signing key, and on S3 the storage credentials.
    """
    cache = Cache(
        medium.location,
        secret="signing-s3cr3t",
        storage_options=None
        if medium.options is None
        else {**medium.options, "key": "AKIDs3cr3t", "secret": "s3cr3t"},
    )
    with cache.create_pool("run", reuse=True):
        pipeline_actions.load_metadata(9)
    handle = cache.handle("run")
    data = pickle.dumps(handle)
    assert len(data) < 512
    assert b"s3cr3t" not in data
    clone: PoolHandle = pickle.loads(data)
    assert clone == handle
    assert Cache.from_handle(clone) is cache  # the same process reuses the open cache
    with clone.open() as reopened:
        again = pipeline_actions.load_metadata(9)
    assert again == {"sample": list(range(9)), "group": [i % 2 for i in range(9)]}
    assert reopened.stats.loaded == 1  # the same pool, with the signed entry stored above
    stored = medium.raw_list()
    assert any(name.startswith("entries/") for name in stored)
    assert all(b"s3cr3t" not in medium.raw_read(name) for name in stored)
