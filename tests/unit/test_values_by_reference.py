"""Values plain pickle can reduce are fingerprinted: copyreg reducers, ufuncs, builtins, typing."""

from __future__ import annotations

import copyreg
import re
import typing
from typing import Any

import numpy as np
import pytest

from recyclable import Cache, FingerprintError, fingerprint, libref, recyclable

RUNS: list[str] = []


@recyclable
def apply(func: Any, x: float) -> float:
    RUNS.append("apply")
    return float(func(x))


def setup_function() -> None:
    RUNS.clear()


@pytest.mark.parametrize(
    "value",
    [
        np.sqrt,
        np.add.reduce,
        re.compile("a+"),
        int | None,
        typing.Optional[int],  # noqa: UP045 - the typing construct itself is the value
        typing.List[int],  # noqa: UP006
        list[int],
        len,
        str.upper,
        [].append,
    ],
    ids=repr,
)
def test_values_plain_pickle_reduces_are_fingerprinted(value: Any) -> None:
    """Each fingerprints, the same twice, and differently from a neighbour of its kind."""
    assert fingerprint(value) == fingerprint(value)


def test_neighbours_differ() -> None:
    """Different ufuncs, patterns, flags and unions are different keys."""
    assert fingerprint(np.sqrt) != fingerprint(np.exp)
    assert fingerprint(re.compile("a+")) != fingerprint(re.compile("a*"))
    assert fingerprint(re.compile("a+")) != fingerprint(re.compile("a+", re.IGNORECASE))
    assert fingerprint(int | None) != fingerprint(str | None)
    assert fingerprint(int | None) != fingerprint(int)
    assert fingerprint([].append) != fingerprint([1].append)


def test_ufunc_argument_is_recycled(cache: Cache) -> None:
    """A step given np.sqrt is stored and loaded; given np.exp it is computed."""
    pool = cache.create_pool("p")
    with pool:
        assert apply(np.sqrt, 4.0) == 2.0
        assert apply(np.sqrt, 4.0) == 2.0
        assert apply(np.exp, 0.0) == 1.0
    assert RUNS == ["apply", "apply"]
    assert pool.stats.loaded == 1


def test_library_objects_are_keyed_by_the_providing_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Upgrading the distribution that provides np.sqrt changes its fingerprint."""
    before = fingerprint(np.sqrt)
    assert libref.provider_version("numpy") == f"numpy {np.__version__}"
    monkeypatch.setitem(libref._versions, "numpy", "numpy 0.0-other")
    assert fingerprint(np.sqrt) != before


class Point:
    """A class whose instances pickle only through a copyreg reducer."""

    __slots__ = ("x", "y")

    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("Point is pickled by its registered reducer")


def test_copyreg_dispatch_table_is_honoured() -> None:
    """A reducer registered with copyreg.pickle is used, as pickle uses it."""
    copyreg.pickle(Point, lambda p: (Point, (p.x, p.y)))
    try:
        assert fingerprint(Point(1, 2)) == fingerprint(Point(1, 2))
        assert fingerprint(Point(1, 2)) != fingerprint(Point(2, 1))
    finally:
        del copyreg.dispatch_table[Point]
    with pytest.raises(FingerprintError, match="registered reducer"):
        fingerprint(Point(1, 2))
