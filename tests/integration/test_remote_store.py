"""What only an object store has: the conditional-create probe, opening rules, leftovers.

The contract every store shares is in test_store_contract.py; this module pins
what is specific to `FsspecStore` on the loopback S3 server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import fsspec
import pipeline_actions
import pytest
import s3fs
from remote_support import S3Location

from recyclable import (
    Cache,
    CacheFormatError,
    CacheLocationError,
    ConfigurationError,
    RecyclableWarning,
)
from recyclable.store.local import temp_name
from recyclable.store.remote import FsspecStore

LEGACY = "s3legacy"
RACED = "s3raced"


class LegacyS3FileSystem(s3fs.S3FileSystem):  # type: ignore[misc]
    """S3 as served by a server that ignores ``If-None-Match`` (fault injection at the write)."""

    protocol = (LEGACY,)

    async def _pipe_file(self, path: str, data: Any, mode: str = "overwrite", **kwargs: Any) -> Any:
        return await super()._pipe_file(path, data, mode="overwrite", **kwargs)


@pytest.fixture
def legacy_protocol() -> str:
    """The ``s3legacy://`` protocol (a name no real backend uses), registered with fsspec."""
    fsspec.register_implementation(LEGACY, LegacyS3FileSystem, clobber=True)
    return LEGACY


class RacedS3FileSystem(s3fs.S3FileSystem):  # type: ignore[misc]
    """S3 where another host's collector deletes the first probe object between its two creates."""

    protocol = (RACED,)
    raced: ClassVar[list[str]] = []

    async def _pipe_file(self, path: str, data: Any, mode: str = "overwrite", **kwargs: Any) -> Any:
        name = path.rsplit("/", 1)[-1]
        probe = mode == "create" and name.startswith("probe.") and not self.raced
        if probe and await self._exists(path):
            self.raced.append(path)
            await self._rm_file(path)
        return await super()._pipe_file(path, data, mode=mode, **kwargs)


@pytest.fixture
def raced_protocol() -> Iterator[str]:
    """The ``s3raced://`` protocol, registered with fsspec; its record of races starts empty."""
    fsspec.register_implementation(RACED, RacedS3FileSystem, clobber=True)
    RacedS3FileSystem.raced = []
    yield RACED
    RacedS3FileSystem.raced = []


def _store(cache: Cache) -> FsspecStore:
    assert isinstance(cache.store, FsspecStore)
    return cache.store


def test_probe_finds_conditional_creates_on_s3(s3: S3Location) -> None:
    """On S3 the probe sees the second create refused; no warning, and the probe cleans up."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache = Cache(s3.url(), storage_options=s3.options)
    assert _store(cache).conditional_create is True
    fs = s3.filesystem()
    assert fs.find(f"{s3.bucket}/cache") == [f"{s3.bucket}/cache/VERSION"]


def test_store_without_conditional_creates_warns_once_and_stays_correct(
    s3: S3Location, legacy_protocol: str
) -> None:
    """A store accepting a second create: one RecyclableWarning, last writer wins, correct hits."""
    url = f"{legacy_protocol}://{s3.bucket}/cache"
    with pytest.warns(RecyclableWarning, match="does not honour conditional creates") as record:
        cache = Cache(url, storage_options=s3.options)
    assert len(record) == 1
    store = _store(cache)
    assert store.conditional_create is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same URL again: no second warning
        again = Cache(url, storage_options=s3.options)
    assert _store(again).conditional_create is False

    key = "ab" + "0" * 30
    assert store.publish_manifest(key, b"first") is True
    assert store.publish_manifest(key, b"second") is False
    assert store.read_manifest(key) == b"first"

    with cache.create_pool("run", reuse=True):
        expected = pipeline_actions.load_reads(100_000, 4)
    with again.create_pool("run", reuse=True) as pool:
        assert (pipeline_actions.load_reads(100_000, 4) == expected).all()
    assert pool.stats.loaded == 1


def test_a_probe_object_deleted_between_its_creates_is_probed_again(
    s3: S3Location, raced_protocol: str
) -> None:
    """A second create accepted because the first object vanished does not decide "no support".

    A collector of another host with no grace may delete an opener's probe
    object between its two creates; the store still honours conditional
    creates, so opening it must neither warn nor publish last-writer-wins.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache = Cache(f"{raced_protocol}://{s3.bucket}/cache", storage_options=s3.options)
    assert len(RacedS3FileSystem.raced) == 1  # the race did happen
    assert _store(cache).conditional_create is True
    fs = s3.filesystem()
    assert fs.find(f"{s3.bucket}/cache") == [f"{s3.bucket}/cache/VERSION"]


def test_missing_bucket_is_a_clear_error(s3_endpoint: str) -> None:
    """A cache in a bucket that does not exist names the URL and says what to check."""
    with pytest.raises(CacheLocationError, match="s3://no-such-bucket-here/cache") as info:
        Cache("s3://no-such-bucket-here/cache", storage_options={"endpoint_url": s3_endpoint})
    assert "bucket exists" in str(info.value)


def test_prefix_with_foreign_objects_is_refused(s3: S3Location) -> None:
    """A prefix that holds objects but no VERSION is not taken over."""
    s3.filesystem().pipe_file(f"{s3.bucket}/data/report.csv", b"a,b\n")
    with pytest.raises(CacheLocationError, match="not a recyclable cache"):
        Cache(s3.url("data"), storage_options=s3.options)
    assert s3.filesystem().cat_file(f"{s3.bucket}/data/report.csv") == b"a,b\n"


def test_newer_format_is_refused(s3: S3Location) -> None:
    """A cache written in a newer format is refused with the upgrade hint."""
    s3.filesystem().pipe_file(f"{s3.bucket}/cache/VERSION", b"recyclable cache\nformat: 99\n")
    with pytest.raises(CacheFormatError, match="format 99"):
        Cache(s3.url(), storage_options=s3.options)


def test_unknown_protocol_and_misplaced_options_name_the_argument(tmp_path: Any) -> None:
    """A URL fsspec cannot open, or storage options for a directory, are configuration errors."""
    with pytest.raises(ConfigurationError, match="'nosuchproto://x/y'"):
        Cache("nosuchproto://x/y")
    with pytest.raises(ConfigurationError, match="storage_options"):
        Cache(tmp_path / "c", storage_options={"endpoint_url": "http://127.0.0.1:1"})


def test_garbage_collection_removes_old_probe_leftovers(s3: S3Location) -> None:
    """A probe object left by a crashed opener is staging garbage: collected after the grace."""
    cache = Cache(s3.url(), storage_options=s3.options)
    fs = s3.filesystem()
    fs.pipe_file(f"{s3.bucket}/cache/tmp/probe.host.1.abc.tmp", b"probe")
    assert cache.garbage_collect(grace=3600).temporary == 0
    report = cache.garbage_collect(grace=0)
    assert report.temporary == 1
    fs.invalidate_cache()
    assert fs.find(f"{s3.bucket}/cache/tmp") == []


def test_garbage_collection_keeps_the_probe_of_a_running_opener(s3: S3Location) -> None:
    """A probe object of a live process of this host survives a collection with no grace.

    Taking it between the opener's two creates would make the opener conclude
    the store ignores conditional creates; a dead process's probe still goes.
    """
    cache = Cache(s3.url(), storage_options=s3.options)
    fs = s3.filesystem()
    name = temp_name("probe")
    live = f"{s3.bucket}/cache/tmp/{name}"
    fs.pipe_file(live, b"probe")
    dead_name = name.replace(f".{os.getpid()}.", f".{_dead_pid()}.", 1)
    dead = f"{s3.bucket}/cache/tmp/{dead_name}"
    fs.pipe_file(dead, b"probe")
    report = cache.garbage_collect(grace=0)
    assert report.temporary == 1
    fs.invalidate_cache()
    assert fs.find(f"{s3.bucket}/cache/tmp") == [live]


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)
