"""Objects two arguments share are part of the key: ``f(a, a)`` is not ``f(a, a.copy())``."""

from __future__ import annotations

import numpy as np
import pytest

from recyclable import Cache, NotRecyclableWarning, recyclable

RUNS: list[str] = []


def _smooth_plain(data: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Running mean written into ``out``; reads ``data`` as it goes, so ``out is data`` differs."""
    for i in range(1, len(data)):
        out[i] = (data[i - 1] + data[i]) / 2
    return out


@recyclable(mutates=["out"])
def smooth(data: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The same as a step that updates ``out`` in place."""
    RUNS.append("smooth")
    return _smooth_plain(data, out)


@recyclable
def same_object(x: list[int], y: list[int]) -> bool:
    """Whether the two arguments are one object."""
    RUNS.append("same_object")
    return x is y


@recyclable
def first_row_is_row(table: list[list[int]], row: list[int]) -> bool:
    """Whether ``row`` is the table's first row (one argument holds the other)."""
    RUNS.append("first_row_is_row")
    return table[0] is row


def setup_function() -> None:
    RUNS.clear()


def test_in_place_update_of_a_shared_array_is_another_call(cache: Cache) -> None:
    """smooth(c, copy) is stored; smooth(a, a), which smooths in place, must not load it.

    The shared call changes ``data`` too, so it is computed and not stored
    (with the warning); the control, smooth(d, copy) with equal values, loads.
    """
    values = [0.0, 8.0, 0.0, 8.0, 0.0]
    pool = cache.create_pool("p")
    with pool:
        separate = smooth(np.array(values), np.array(values))
        a = np.array(values)
        with pytest.warns(NotRecyclableWarning, match="'data'"):
            in_place = smooth(a, a)
        again = smooth(np.array(values), np.array(values))
    shared_now = np.array(values)
    assert np.array_equal(in_place, _smooth_plain(shared_now, shared_now))
    assert not np.array_equal(in_place, separate)  # the two calls really differ
    assert np.array_equal(again, separate)
    assert RUNS == ["smooth", "smooth"]
    assert pool.stats.loaded == 1


def test_one_argument_the_other_or_inside_the_other(cache: Cache) -> None:
    """``x is y`` and ``table[0] is row`` are answered anew when the sharing changes."""
    pool = cache.create_pool("p")
    with pool:
        a = [1, 2]
        assert same_object(a, a) is True
        assert same_object([1, 2], [1, 2]) is False
        assert same_object(a, a) is True
        row = [1, 2]
        assert first_row_is_row([row, [3]], row) is True
        assert first_row_is_row([[1, 2], [3]], [1, 2]) is False
        other = [1, 2]
        assert first_row_is_row([other, [3]], other) is True
    assert RUNS == ["same_object", "same_object", "first_row_is_row", "first_row_is_row"]
    assert pool.stats.loaded == 2


def test_explain_names_the_shared_arguments(cache: Cache) -> None:
    """A miss that differs only in what the arguments share says so."""
    a = [1, 2]
    with cache.create_pool("p") as pool:
        same_object([1, 2], [1, 2])
        text = pool.explain(same_object, a, a)
    assert "'y' is 'x'" in text
    assert "share" in text
