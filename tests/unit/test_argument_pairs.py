"""Arguments a step can tell apart never share a key, whatever their equality says.

Each pair is two values a step gives different results for, of the kinds the
test suites of other memoizers pass (joblib, cachier, cachetools, scikit-learn).
Within one pool the step is called with the first, then the second: the second
call must be computed and give the plain call's result, and calling the first
again must load.
"""

from __future__ import annotations

import array
import collections
import datetime
import decimal
import enum
import math
import re
import zoneinfo
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recyclable import Cache, recyclable


class Kept:
    """An object whose ``__getstate__`` leaves an attribute out of its pickle."""

    def __init__(self, a: int, b: int) -> None:
        self.a, self.b = a, b

    def __getstate__(self) -> dict[str, int]:
        return {"a": self.a}


class Rebuilt:
    """An object whose ``__reduce__`` loses an attribute (it rebuilds with ``b=0``)."""

    def __init__(self, a: int, b: int) -> None:
        self.a, self.b = a, b

    def __reduce__(self) -> tuple[Any, ...]:
        return (Rebuilt, (self.a, 0))


class Liar:
    """Equal to everything, hashed by identity: only its attributes tell instances apart."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


class Level(enum.IntEnum):
    """An IntEnum member equals its int, but its repr and type differ."""

    LOW = 1


_NOON = datetime.datetime(2020, 1, 1, 12, tzinfo=zoneinfo.ZoneInfo("UTC"))


def _observe(value: Any) -> str:
    """What a step can see of a value: its type, its repr, and attributes a peer suite reads."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {value.shape} {value.sum().tobytes().hex()}"
    if isinstance(value, memoryview):
        return f"{value.format} {value.readonly} {value.tobytes()!r}"
    if isinstance(value, (Kept, Rebuilt, Liar)):
        return repr(sorted(vars(value).items()))
    if isinstance(value, float):
        return value.hex() if math.isfinite(value) else repr(value)
    return f"{type(value).__qualname__} {value!r}"


_RNG = np.random.default_rng(0)
# Magnitudes far apart, so that summing in another order rounds differently.
_ROWS = _RNG.random((37, 53)) * 10.0 ** _RNG.integers(-5, 5, (37, 53))

PAIRS: dict[str, tuple[Any, Any]] = {
    "1 and 1.0": (1, 1.0),
    "1 and True": (1, True),
    "0.0 and -0.0": (0.0, -0.0),
    "nan and inf": (float("nan"), float("inf")),
    "sets of mixed types": ({1, "1"}, {1.0, "1"}),
    "set and frozenset": ({1, 2}, frozenset({1, 2})),
    "dict insertion order": ({1: "a", "b": 2}, {"b": 2, 1: "a"}),
    "dict int and str keys": ({1: "a"}, {"1": "a"}),
    "numpy scalars of two dtypes": (np.float64(1), np.float32(1)),
    "numpy int dtypes": (np.int64(1), np.int32(1)),
    "array dtypes": (np.arange(3, dtype=np.int64), np.arange(3, dtype=np.int32)),
    "array Fortran order": (_ROWS, np.asfortranarray(_ROWS)),
    "pandas dtype": (pd.Series([1, 2]), pd.Series([1, 2], dtype="int32")),
    "pandas index name": (
        pd.Series([1], index=pd.Index([0], name="a")),
        pd.Series([1], index=pd.Index([0], name="b")),
    ),
    "pandas column order": (pd.DataFrame({"a": [1], "b": [2]}), pd.DataFrame({"b": [2], "a": [1]})),
    "pandas freq": (
        pd.date_range("2020", periods=3, freq="D"),
        pd.DatetimeIndex(list(pd.date_range("2020", periods=3, freq="D"))),
    ),
    "datetime with and without tzinfo": (
        datetime.datetime(2020, 1, 1),
        datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
    ),
    "timedelta": (datetime.timedelta(days=1), datetime.timedelta(days=1, microseconds=1)),
    "Path and str": (Path("x"), "x"),
    "bytes and bytearray": (b"ab", bytearray(b"ab")),
    "memoryview formats": (memoryview(b"abcd"), memoryview(b"abcd").cast("i")),
    "memoryview and bytes": (memoryview(b"ab"), b"ab"),
    "Decimal precision": (decimal.Decimal("1.0"), decimal.Decimal("1.00")),
    "__getstate__ leaving an attribute out": (Kept(1, 2), Kept(1, 3)),
    "__reduce__ losing an attribute": (Rebuilt(1, 2), Rebuilt(1, 3)),
    "__eq__ that lies": (Liar(1), Liar(2)),
    "IntEnum member and int": (Level.LOW, 1),
    "OrderedDict and dict": (collections.OrderedDict(a=1), {"a": 1}),
    "defaultdict factories": (
        collections.defaultdict(int, a=1),
        collections.defaultdict(list, a=1),
    ),
    "deque maxlen": (collections.deque([1], maxlen=3), collections.deque([1])),
    "array typecodes": (array.array("i", [1]), array.array("l", [1])),
    "Decimal 0 and -0": (decimal.Decimal("0"), decimal.Decimal("-0")),
    "complex 0j and -0j": (complex(0, 0.0), complex(0, -0.0)),
    "datetime fold": (datetime.datetime(2020, 1, 1, fold=0), datetime.datetime(2020, 1, 1, fold=1)),
    "equal instants in two time zones": (
        _NOON,
        _NOON.astimezone(zoneinfo.ZoneInfo("Europe/Paris")),
    ),
    "regex flags": (re.compile("a"), re.compile("a", re.IGNORECASE)),
    "posix and windows pure paths": (PurePosixPath("a/b"), PureWindowsPath("a/b")),
    "array byte order": (np.array([1.0], dtype=">f8"), np.array([1.0], dtype="<f8")),
    "datetime64 units": (np.datetime64(1, "s"), np.datetime64(1, "ms")),
    "0-d array and numpy scalar": (np.array(1.0), np.float64(1.0)),
    "pandas nullable and numpy dtypes": (
        pd.Series([1, 2], dtype="Int64"),
        pd.Series([1, 2], dtype="int64"),
    ),
    "pandas equal instants in two time zones": (
        pd.Series(pd.to_datetime(["2020-01-01"]).tz_localize("UTC")),
        pd.Series(pd.to_datetime(["2020-01-01"]).tz_localize("UTC").tz_convert("Asia/Tokyo")),
    ),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_second_value_is_computed_and_the_first_still_loads(cache: Cache, name: str) -> None:
    """f(a), then f(b): b is a miss with the plain result; f(a) again is a hit with a's."""
    first, second = PAIRS[name]
    assert _observe(first) != _observe(second), "the step must be able to tell the pair apart"
    step = recyclable(_observe)
    with cache.create_pool("p") as pool:
        assert step(first) == _observe(first)
        assert step(second) == _observe(second)
        assert (pool.stats.loaded, pool.stats.computed) == (0, 2)
        assert step(first) == _observe(first)
        assert (pool.stats.loaded, pool.stats.computed) == (1, 2)
