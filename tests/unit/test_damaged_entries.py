"""A damaged entry is a warned miss that heals; never an exception, never a wrong result."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from recyclable import Cache, RecyclableWarning, recyclable

RUNS: list[int] = []


@recyclable
def produce(seed: int) -> dict[str, object]:
    RUNS.append(seed)
    rng = np.random.default_rng(seed)
    return {"array": rng.random(50_000), "label": f"sample-{seed}"}


def setup_function() -> None:
    RUNS.clear()


def _blob(cache: Cache) -> Path:
    (blob,) = [p for p in (cache.path / "objects").rglob("*") if p.is_file()]
    return blob


def _manifest(cache: Cache) -> Path:
    (manifest,) = list((cache.path / "entries").rglob("*.json"))
    return manifest


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-8])


def _edit_manifest(path: Path) -> None:
    path.write_text(path.read_text().replace("sample", "SAMPLE").replace('"size":', '"size": '))


DAMAGE: dict[str, tuple[Callable[[Cache], Path], Callable[[Path], None]]] = {
    "corrupt blob byte": (_blob, _flip_byte),
    "truncated blob": (_blob, _truncate),
    "deleted blob": (_blob, Path.unlink),
    "truncated manifest": (_manifest, _truncate),
    "manifest edited by hand": (_manifest, _edit_manifest),
    "manifest emptied": (_manifest, lambda p: p.write_bytes(b"")),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_a_warned_miss_then_healed(cache: Cache, damage: str) -> None:
    """Each kind of damage: a RecyclableWarning naming the action, a recompute, then hits again."""
    pick, harm = DAMAGE[damage]
    pool = cache.create_pool("p")
    with pool:
        # A copy: the result is a view of its blob (as on a hit), which the harm edits in place.
        original = {"array": np.array(produce(3)["array"])}
    harm(pick(cache))

    with pytest.warns(RecyclableWarning, match="produce") as record, pool:
        again = produce(3)
    assert "quarantine" in str(record[0].message)
    assert RUNS == [3, 3]
    np.testing.assert_array_equal(again["array"], original["array"])  # type: ignore[arg-type]
    assert any((cache.path / "quarantine").iterdir())

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pool:
            healed = produce(3)
    assert RUNS == [3, 3]
    assert healed["label"] == "sample-3"
    np.testing.assert_array_equal(healed["array"], original["array"])  # type: ignore[arg-type]


def test_deleted_manifest_is_a_warned_miss_then_healed(cache: Cache) -> None:
    """A manifest deleted from under a pool that recorded it: warned, recomputed, then a hit."""
    with cache.create_pool("p"):
        produce(1)
    _manifest(cache).unlink()
    with (
        pytest.warns(RecyclableWarning, match="manifest is missing"),
        cache.create_pool("p", reuse=True),
    ):
        produce(1)
    assert RUNS == [1, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with cache.create_pool("p", reuse=True):
            produce(1)
    assert RUNS == [1, 1]


def test_entry_never_stored_in_this_pool_is_a_quiet_miss(cache: Cache) -> None:
    """A manifest missing for a key the pool never recorded is an ordinary, silent miss."""
    with cache.create_pool("p"):
        produce(1)
    _manifest(cache).unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with cache.create_pool("other"):
            produce(1)
    assert RUNS == [1, 1]


def test_unpicklable_result_is_returned_with_one_warning(cache: Cache) -> None:
    """A result pickle cannot store is still returned; one warning, nothing half-written."""

    @recyclable
    def make_lambda(x: int) -> object:
        RUNS.append(x)
        return lambda: x

    with (
        pytest.warns(RecyclableWarning, match="cannot be stored") as record,
        cache.create_pool("p"),
    ):
        assert make_lambda(1)() == 1
        assert make_lambda(1)() == 1
    assert len(record) == 1
    assert RUNS == [1, 1]
    assert list((cache.path / "entries").rglob("*")) == [
        p for p in (cache.path / "entries").rglob("*") if p.is_dir()
    ]
    assert list((cache.path / "tmp").iterdir()) == []


def test_write_failure_returns_result_and_leaves_no_debris(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing write (ENOSPC injected at the write call) still returns the result, warns once."""
    import errno
    import os

    real_write = os.write

    def full_disk(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("recyclable.store.local.os.write", full_disk)
    with pytest.warns(RecyclableWarning, match="No space left") as record, cache.create_pool("p"):
        first = produce(5)
        second = produce(6)
    assert len(record) == 1
    assert first["label"] == "sample-5" and second["label"] == "sample-6"
    assert list((cache.path / "tmp").iterdir()) == []
    assert not list((cache.path / "entries").rglob("*.json"))

    monkeypatch.setattr("recyclable.store.local.os.write", real_write)
    with cache.create_pool("p", reuse=True):
        produce(5)
        produce(5)
    assert RUNS == [5, 6, 5]


def test_blob_set_aside_by_a_collection_is_linked_back_by_a_reader(cache: Cache) -> None:
    """A reader that finds a published blob renamed aside mid-collection puts it back and hits."""
    pool = cache.create_pool("p")
    with pool:
        produce(4)
    blob = _blob(cache)
    aside = cache.store.set_blob_aside(blob.name)
    assert aside is not None and not blob.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pool:
            produce(4)
    assert RUNS == [4]
    assert blob.exists()
    # The collection then judges the blob old and unreferenced, but finds it restored.
    kept = cache.store.finish_blob_aside(
        blob.name, aside, keep_if_touched_after=float("inf"), keep=False
    )
    assert kept and blob.exists()
    with pool:
        produce(4)
    assert RUNS == [4]


def test_short_writes_still_store_whole_blobs(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.write may write less than asked (signals, pipes, some filesystems): blobs stay whole."""
    import os

    real_write = os.write

    def short_write(fd: int, data: memoryview) -> int:
        return real_write(fd, memoryview(data)[:1000])

    monkeypatch.setattr("recyclable.store.local.os.write", short_write)
    with cache.create_pool("p"):
        stored = produce(8)
    monkeypatch.undo()
    assert cache.verify().ok
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with cache.create_pool("p", reuse=True):
            loaded = produce(8)
    assert RUNS == [8]
    np.testing.assert_array_equal(loaded["array"], stored["array"])  # type: ignore[arg-type]


def test_unreadable_entry_is_a_warned_miss_left_in_place(cache: Cache) -> None:
    """A stored file that cannot be read (a directory in a manifest's place) is a warned miss.

    The system error does not come out of the call, and nothing is quarantined:
    the entry may be fine for a process that can read it.
    """
    with cache.create_pool("p"):
        first = produce(4)
    manifest = _manifest(cache)
    data = manifest.read_bytes()
    manifest.unlink()
    manifest.mkdir()  # reading it fails with IsADirectoryError, an OSError
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with cache.create_pool("p", reuse=True) as pool:
            again = produce(4)
    assert RUNS == [4, 4]
    assert pool.stats.loaded == 0
    np.testing.assert_array_equal(again["array"], first["array"])  # type: ignore[arg-type]
    messages = [str(w.message) for w in caught if issubclass(w.category, RecyclableWarning)]
    assert any("cannot read stored results" in m and "Is a directory" in m for m in messages)
    assert not (cache.path / "quarantine").exists() or not list(
        (cache.path / "quarantine").iterdir()
    )
    manifest.rmdir()
    manifest.write_bytes(data)
    with cache.create_pool("p", reuse=True) as pool:
        produce(4)
    assert pool.stats.loaded == 1
