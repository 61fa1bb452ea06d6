"""A hit gives back what the miss gave: writability, types, and no lossy results stored."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recyclable import Cache, NotRecyclableWarning, fingerprint, recyclable, register_fingerprint

RUNS: list[str] = []


def setup_function() -> None:
    RUNS.clear()


@recyclable
def make(n: int) -> dict[str, Any]:
    RUNS.append("make")
    big = np.arange(n, dtype=np.float64)
    return {"big": big, "frame": pd.DataFrame({"x": big, "y": big * 2}), "small": big[:4].copy()}


def _flags(value: dict[str, Any]) -> list[object]:
    frame = value["frame"]
    return [
        type(value["big"]),
        value["big"].flags.writeable,
        value["small"].flags.writeable,
        type(frame),
        frame["x"].to_numpy().flags.writeable,
    ]


@pytest.mark.parametrize("mmap", ["r", "c", None])
def test_miss_and_hit_have_the_same_types_and_writability(tmp_path: Any, mmap: Any) -> None:
    """For each load mode the miss returns what the hit loads: same types and the same
    writeable flags for large arrays, small arrays and frames built on them."""
    pool = Cache(tmp_path / "c", mmap=mmap).create_pool("p")
    with pool:
        miss = make(20_000)
        hit = make(20_000)
    assert RUNS == ["make"]
    assert pool.stats.loaded == 1
    assert _flags(miss) == _flags(hit)
    assert miss["big"].flags.writeable is (mmap != "r")
    np.testing.assert_array_equal(miss["big"], hit["big"])


@recyclable
def hardened(n: int) -> np.ma.MaskedArray:
    RUNS.append("hardened")
    masked = np.ma.masked_array(np.arange(n), mask=[i % 2 == 0 for i in range(n)])
    masked.harden_mask()
    return masked


def test_result_that_loses_state_in_pickle_is_not_stored(cache: Cache) -> None:
    """A masked array's hardmask does not survive pickling: the result is returned as
    computed, not stored, and a NotRecyclableWarning names the type and the fix."""
    pool = cache.create_pool("p")
    with pool, pytest.warns(NotRecyclableWarning, match=r"numpy\.ma\.MaskedArray.*__reduce__"):
        first = hardened(5)
    with pool, pytest.warns(NotRecyclableWarning):
        second = hardened(5)
    assert first.hardmask and second.hardmask
    assert RUNS == ["hardened", "hardened"]
    assert pool.stats.loaded == 0


class Lossy:
    """Pickles without its ``label``: loading it would give another object."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __reduce__(self) -> Any:
        return (Lossy, ("",))


class Cached:
    """Drops a cache when pickled, and says so with a registered fingerprint."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.cache: dict[int, int] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"value": self.value, "cache": {}}


register_fingerprint(Cached, lambda obj: obj.value)


@recyclable
def lossy(label: str) -> Lossy:
    RUNS.append("lossy")
    return Lossy(label)


@recyclable
def cached(value: int) -> Cached:
    RUNS.append("cached")
    obj = Cached(value)
    obj.cache[1] = 2
    return obj


def test_lossy_reduce_is_not_stored_and_registered_fingerprint_is_the_fix(cache: Cache) -> None:
    """A __reduce__ that drops state is caught; a type whose registered fingerprint leaves out
    what pickling drops is stored and loaded."""
    pool = cache.create_pool("p")
    with pool, pytest.warns(NotRecyclableWarning, match="Lossy"):
        assert lossy("kept").label == "kept"
    with pool, pytest.warns(NotRecyclableWarning):
        assert lossy("kept").label == "kept"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pool:
            cached(3)
            loaded = cached(3)
    assert loaded.value == 3
    assert RUNS == ["lossy", "lossy", "cached"]
    assert pool.stats.loaded == 1


def test_round_trip_check_does_not_change_a_large_array_key(cache: Cache) -> None:
    """The result's arrays are checked through their blob digests: the loaded value
    fingerprints like the computed one."""
    pool = cache.create_pool("p")
    with pool:
        miss = make(20_000)
        hit = make(20_000)
    assert fingerprint(miss["big"]) == fingerprint(hit["big"])
    assert fingerprint(miss["frame"]) == fingerprint(hit["frame"])


@recyclable(name="same_bytes")
def same_bytes(k: int) -> np.ndarray:
    RUNS.append("same_bytes")
    return np.full(20_000, float(k))


def test_damaged_equal_blob_is_replaced_when_a_new_result_needs_it(cache: Cache) -> None:
    """A store whose blob already exists but was damaged on disk replaces it (the result is
    loaded back before publishing), so the new entry is stored and later loads are right."""
    pool = cache.create_pool("p")
    with pool:
        first = same_bytes(1)
    assert first[0] == 1.0
    blob = next(
        b
        for b in (cache.path / "objects").rglob("*")
        if b.is_file() and b.stat().st_size == 160_000
    )
    raw = bytearray(blob.read_bytes())
    raw[100] ^= 1
    blob.unlink()  # the mapped result above keeps the old inode
    blob.write_bytes(bytes(raw))
    other = recyclable(name="same_bytes_again")(same_bytes.__wrapped__)
    with pool:
        again = other(1)
        loaded = other(1)
    assert float(again[12]) == float(loaded[12]) == 1.0
    assert pool.stats.loaded == 1
