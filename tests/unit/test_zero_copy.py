"""Zero-copy loads, remembered verdicts and digest propagation: fast, and never stale."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from recyclable import Cache, RecyclableWarning, recyclable
from recyclable.fingerprint import _propagated, array_digest, fingerprint

RUNS: list[str] = []


@recyclable
def make(n: int) -> np.ndarray:
    RUNS.append("make")
    return np.arange(n, dtype=np.float64)


@recyclable
def double(values: np.ndarray) -> np.ndarray:
    RUNS.append("double")
    return values * 2


def setup_function() -> None:
    RUNS.clear()


def _blob_of(cache: Cache) -> Path:
    blobs = [p for p in (cache.path / "objects").rglob("*") if p.is_file()]
    return max(blobs, key=lambda p: p.stat().st_size)


def test_loaded_array_is_a_read_only_map_of_the_blob(cache: Cache) -> None:
    """A large result comes back as a read-only view of the blob file, not a copy."""
    with cache.create_pool("p"):
        make(200_000)
        loaded = make(200_000)
    assert not loaded.flags.writeable and not loaded.flags.owndata
    with pytest.raises(ValueError, match="read-only"):
        loaded[0] = 1.0
    with pytest.raises(ValueError):
        loaded.flags.writeable = True


def test_loaded_read_only_array_carries_its_digest(cache: Cache) -> None:
    """Passing a loaded array on costs a lookup, and the digest equals a full hash."""
    with cache.create_pool("p"):
        make(200_000)
        loaded = make(200_000)
    known = _propagated.get(id(loaded))
    assert known is not None
    assert known[1] == array_digest(np.array(loaded))
    assert fingerprint(loaded) == fingerprint(np.arange(200_000, dtype=np.float64))


def test_mutating_between_steps_never_gives_a_stale_hit(tmp_path: Path) -> None:
    """A loaded value changed before the next step (copied, or writable) is hashed anew."""
    cache = Cache(tmp_path / "c")
    with cache.create_pool("p"):
        first = double(make(100_000))
        loaded = make(100_000)  # read-only, digest remembered
        changed = loaded.copy()
        changed[0] = 42.0
        second = double(changed)
    assert RUNS == ["make", "double", "double"]
    assert second[0] == 84.0 and first[0] == 0.0

    cow = Cache(tmp_path / "c", mmap="c")  # writable loads: never trusted
    with cow.create_pool("p", reuse=True):
        writable = make(100_000)
        writable[0] = 7.0
        third = double(writable)
    assert third[0] == 14.0
    assert RUNS == ["make", "double", "double", "double"]


def test_a_remembered_verdict_is_void_once_the_blob_changes(cache: Cache) -> None:
    """Damage that changes the blob's mtime is caught even after the blob was verified."""
    with cache.create_pool("p"):
        make(100_000)
        make(100_000)  # verified (and stamped) now
    blob = _blob_of(cache)
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    with (
        pytest.warns(RecyclableWarning, match="fails its checksum"),
        cache.create_pool("p", reuse=True),
    ):
        again = make(100_000)
    assert again[12] == 12.0
    assert RUNS == ["make", "make"]


def test_verify_always_catches_damage_that_keeps_the_mtime(tmp_path: Path) -> None:
    """verify_loads='always' hashes every load, so even an mtime-preserving edit is caught."""
    cache = Cache(tmp_path / "c", verify_loads="always")
    with cache.create_pool("p"):
        make(100_000)
        make(100_000)
    blob = _blob_of(cache)
    info = blob.stat()
    with open(blob, "r+b") as handle:
        handle.seek(64)
        handle.write(b"\x01")
    os.utime(blob, ns=(info.st_atime_ns, info.st_mtime_ns))
    with (
        pytest.warns(RecyclableWarning, match="fails its checksum"),
        cache.create_pool("p", reuse=True),
    ):
        make(100_000)
    assert RUNS == ["make", "make"]


def test_verify_option_is_validated(tmp_path: Path) -> None:
    """Cache(verify_loads=...) accepts 'once' and 'always' only, and says so."""
    with pytest.raises(ValueError, match=r"Cache\(verify_loads=...\) got 'sometimes'"):
        Cache(tmp_path / "c", verify_loads="sometimes")
