"""Arguments changed in place: found on a miss, or declared with mutates= and replayed on a hit."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from recyclable import Cache, NotRecyclableWarning, recyclable

RUNS: list[str] = []


def setup_function() -> None:
    RUNS.clear()


@recyclable(mutates=["xs", "table", "seen", "arr"])
def update_all(xs: list[int], table: dict[str, int], seen: set[int], arr: np.ndarray) -> int:
    RUNS.append("update_all")
    xs.append(len(xs))
    table["n"] = table.get("n", 0) + 1
    seen.add(7)
    arr *= 2
    return len(xs)


def _arguments() -> tuple[list[int], dict[str, int], set[int], np.ndarray]:
    return [1, 2], {"a": 1}, {1}, np.arange(4.0)


def test_declared_containers_are_restored_in_place_on_a_hit(cache: Cache) -> None:
    """Lists, dicts, sets and arrays named in mutates= hold the after-call state on a hit, in
    the very objects the caller passed."""
    pool = cache.create_pool("p")
    computed = _arguments()
    with pool:
        first = update_all(*computed)
    loaded = _arguments()
    ids = [id(v) for v in loaded]
    with pool:
        second = update_all(*loaded)
    assert RUNS == ["update_all"]
    assert pool.stats.loaded == 1
    assert first == second == 3
    assert [id(v) for v in loaded] == ids
    assert loaded[0] == computed[0] == [1, 2, 2]
    assert loaded[1] == computed[1] == {"a": 1, "n": 1}
    assert loaded[2] == computed[2] == {1, 7}
    np.testing.assert_array_equal(loaded[3], computed[3])
    assert loaded[3].flags.writeable


class Slotted:
    """An object with slots and no __dict__."""

    __slots__ = ("total",)

    def __init__(self) -> None:
        self.total = 0

    @recyclable(mutates=["self"])
    def add(self, n: int) -> None:
        RUNS.append("add")
        self.total += n


class Stateful:
    """An object with its own __setstate__."""

    def __init__(self) -> None:
        self.items: list[int] = []

    def __getstate__(self) -> dict[str, Any]:
        return {"items": list(self.items)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.items = state["items"]

    @recyclable(mutates=["self"])
    def push(self, n: int) -> int:
        RUNS.append("push")
        self.items.append(n)
        return len(self.items)


def test_objects_with_slots_or_setstate_are_restored(cache: Cache) -> None:
    """Slots are set back; a custom __setstate__ receives the stored state."""
    pool = cache.create_pool("p")
    with pool:
        Slotted().add(5)
        slotted = Slotted()
        slotted.add(5)
        Stateful().push(3)
        stateful = Stateful()
        assert stateful.push(3) == 1
    assert RUNS == ["add", "push"]
    assert pool.stats.loaded == 2
    assert slotted.total == 5
    assert stateful.items == [3]


@recyclable
def scale_in_place(arr: np.ndarray) -> float:
    RUNS.append("scale")
    arr /= arr.max()
    return float(arr.sum())


def test_large_argument_changed_in_place_is_not_stored(cache: Cache) -> None:
    """A 2 MiB array normalised in place (re-checked in a thread while the result is written)
    withholds the entry: the re-run computes and normalises again."""
    pool = cache.create_pool("p")
    with pool, pytest.warns(NotRecyclableWarning, match=r"argument 'arr'.*mutates=\['arr'\]"):
        scale_in_place(np.arange(1.0, 262_145.0))
    second = np.arange(1.0, 262_145.0)
    with pool, pytest.warns(NotRecyclableWarning):
        scale_in_place(second)
    assert RUNS == ["scale", "scale"]
    assert pool.stats.loaded == 0
    assert second.max() == 1.0
    assert len(list(pool.keys())) == 0


@recyclable
def pure(xs: list[int], arr: np.ndarray) -> int:
    RUNS.append("pure")
    return sum(xs) + int(arr.sum())


def test_unchanged_arguments_are_stored_without_warning(cache: Cache) -> None:
    """The control: a step that only reads its arguments is stored and loaded, silently."""
    pool = cache.create_pool("p")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pool:
            pure([1, 2], np.ones(300_000))
            pure([1, 2], np.ones(300_000))
    assert RUNS == ["pure"]
    assert pool.stats.loaded == 1


def test_mutates_names_are_checked() -> None:
    """mutates= naming a parameter the function lacks is a ValueError at decoration."""
    with pytest.raises(ValueError, match=r"mutates=\.\.\.\) names \['nope'\]"):
        recyclable(mutates=["nope"])(lambda x: x)
    with pytest.raises(TypeError, match="mutates"):
        recyclable(mutates=[1])  # type: ignore[list-item]


@recyclable(mutates=["n"])
def cannot(n: int) -> int:
    RUNS.append("cannot")
    return n


def test_declaring_an_immutable_argument_is_not_stored(cache: Cache) -> None:
    """An int cannot change in place: the declaration is reported and nothing is stored."""
    pool = cache.create_pool("p")
    with pool, pytest.warns(NotRecyclableWarning, match="cannot change in place"):
        assert cannot(3) == 3
    assert pool.stats.loaded == 0


@recyclable
def total_through_base(arr: np.ndarray) -> float:
    RUNS.append("total")
    owner = arr.base
    if isinstance(owner, np.ndarray) and owner.flags.writeable:
        owner[0] = -1.0  # writes the argument's bytes through the writable array it views
    return float(arr.sum())


def test_a_read_only_view_of_a_writable_array_is_still_checked(cache: Cache) -> None:
    """Only arrays nobody can write skip the re-check: a read-only view's owner can change it."""
    view = np.ones(300_000).view()
    view.flags.writeable = False
    pool = cache.create_pool("p")
    with pool, pytest.warns(NotRecyclableWarning, match="argument 'arr'"):
        total_through_base(view)
    assert len(list(pool.keys())) == 0


def test_arrays_over_bytes_skip_the_recheck_and_are_stored(cache: Cache) -> None:
    """An array over immutable bytes cannot change: no re-check, stored and loaded as usual."""
    from recyclable.mutation import _cannot_change

    data = np.ones(300_000).tobytes()
    arg = np.frombuffer(data, dtype=np.float64)
    assert _cannot_change(arg)
    assert not _cannot_change(np.ones(3))
    pool = cache.create_pool("p")
    with pool:
        first = total_through_base(arg)
        again = total_through_base(np.frombuffer(data, dtype=np.float64))
    assert first == again == 300_000.0
    assert RUNS == ["total"]
    assert pool.stats.loaded == 1
