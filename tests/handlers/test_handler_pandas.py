"""pandas values are keyed by everything a step can read, stably, and survive the store."""

from __future__ import annotations

import datetime
import zoneinfo

import numpy as np
import pandas as pd
import pytest

from recyclable import fingerprint
from recyclable.testing import check_fingerprint_contract

N = 20_000  # columns of 160 KB: stored out of band, loaded memory-mapped


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "i": np.arange(N),
            "f": rng.random(N),
            "Int64": pd.array([*range(N - 1), None], dtype="Int64"),
            "s": [f"s{i % 97}" for i in range(N)],
            "cat": pd.Categorical([("a", "b", "c")[i % 3] for i in range(N)]),
            "tz": pd.date_range("2024-01-01", periods=N, freq="min", tz="Europe/Paris"),
        },
        index=pd.RangeIndex(N, name="row"),
    )


def equal_pairs() -> list[tuple[object, object]]:
    frame = _frame()
    consolidated = frame.copy()
    split = pd.concat([frame[["i"]], frame.drop(columns=["i"])], axis=1)  # other block layout
    masked_garbage = pd.arrays.IntegerArray(np.array([1, 99]), np.array([False, True]))
    masked_clean = pd.arrays.IntegerArray(np.array([1, 0]), np.array([False, True]))
    return [
        (frame, consolidated),
        (frame, split),
        (frame["tz"], frame["tz"].copy()),
        (frame.index, pd.RangeIndex(N, name="row")),
        (masked_garbage, masked_clean),  # what lies under the mask is not a value
        (pd.Index(["x", "y"] * 50_000, dtype=object), pd.Index(["x", "y"] * 50_000, dtype=object)),
        (pd.CategoricalDtype(["a", "b"]), pd.CategoricalDtype(["a", "b"])),
        (
            pd.Series(["x", None], dtype="string[python]"),
            pd.Series(["x", pd.NA], dtype="string[python]"),
        ),
    ]


def different_pairs() -> list[tuple[object, object]]:
    big, almost = 2**53 + 1, 2**53
    frame = _frame()
    with_attrs = frame.copy()
    with_attrs.attrs["unit"] = "m"
    no_dupes = frame.copy().set_flags(allows_duplicate_labels=False)
    mi = pd.MultiIndex.from_arrays([[1, 2, 3], ["a", "b", "c"]], names=["n", "l"])
    days = pd.date_range("2024-01-01", periods=3, freq="D")
    nan_value = pd.arrays.FloatingArray(np.array([np.nan]), np.array([False]))
    na_value = pd.arrays.FloatingArray(np.array([np.nan]), np.array([True]))
    return [
        (pd.Series([big, None], dtype="Int64"), pd.Series([almost, None], dtype="Int64")),
        (
            pd.Series([big, None], dtype="int64[pyarrow]"),
            pd.Series([almost, None], dtype="int64[pyarrow]"),
        ),
        (nan_value, na_value),
        (pd.Series(["a"], dtype="string[python]"), pd.Series(["a"], dtype="string[pyarrow]")),
        (
            pd.Series(["a"], dtype=pd.StringDtype("python", na_value=np.nan)),
            pd.Series(["a"], dtype=pd.StringDtype("python", na_value=pd.NA)),
        ),
        (pd.Series([1, 2], dtype="int64"), pd.Series([1, 2], dtype="Int64")),
        (
            pd.Categorical(["a", "b"], categories=["a", "b"]),
            pd.Categorical(["a", "b"], categories=["b", "a"]),
        ),
        (pd.Categorical(["a"], ordered=True), pd.Categorical(["a"], ordered=False)),
        (pd.Categorical(["a"], categories=["a"]), pd.Categorical(["a"], categories=["a", "z"])),
        (days, pd.DatetimeIndex(list(days))),  # freq "D" vs None
        (days, pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")),
        (
            pd.date_range("2024", periods=2, tz="UTC"),
            pd.date_range("2024", periods=2, tz=datetime.timezone(datetime.timedelta(0), "Z")),
        ),
        (
            pd.date_range("2024", periods=2, tz=zoneinfo.ZoneInfo("Europe/Paris")),
            pd.date_range("2024", periods=2, tz=zoneinfo.ZoneInfo("Europe/Berlin")),
        ),
        (
            pd.period_range("2024", periods=2, freq="M"),
            pd.period_range("2024", periods=2, freq="2M"),
        ),
        (
            pd.interval_range(0, 2, closed="left"),
            pd.interval_range(0, 2, closed="right"),
        ),
        (mi, mi.set_names(["n", "m"])),
        (mi[:2], mi[:2].remove_unused_levels()),  # unused levels a step can read
        (pd.Index([0, 1, 2]), pd.RangeIndex(3)),
        (pd.Index([1, 2], name="a"), pd.Index([1, 2], name="b")),
        (frame, with_attrs),
        (frame, no_dupes),
        (frame, frame.rename(columns={"f": "g"})),
        (frame, frame[["f", "i", "Int64", "s", "cat", "tz"]]),  # column order
        (pd.Series([1, 2], name="x"), pd.Series([1, 2], name="y")),
        (pd.Series([0.0]), pd.Series([-0.0])),
        (pd.Series(["a", None], dtype=object), pd.Series(["a", np.nan], dtype=object)),
        (pd.Series(["ab", "c"], dtype=object), pd.Series(["a", "bc"], dtype=object)),
        (pd.Series(["a", "b"], dtype=object), pd.Series([["a"], "b"], dtype=object)),
        (pd.arrays.SparseArray([0, 1, 0]), pd.arrays.SparseArray([0, 1, 0], fill_value=1)),
        *_array_freq_pairs(),
    ]


def _array_freq_pairs() -> list[tuple[object, object]]:
    """pandas 2: a DatetimeArray's freq (pd.Index(arr).freq) is readable; pandas 3 has none."""
    days = pd.date_range("2024-01-01", periods=3, freq="D").array
    if getattr(days, "freq", None) is None:
        return []
    return [
        (days, pd.array(list(days))),
        (days, pd.date_range("2024-01-01", periods=3, freq="24h").array),
    ]


def test_pandas_contract(tmp_path) -> None:
    """Equal values share a key in every process; others do not; loads match the stored."""
    check_fingerprint_contract(
        equal_pairs,
        different_pairs,
        read=lambda v: getattr(v, "index", None) is not None and v.index.is_monotonic_increasing,
        tmp_path=tmp_path,
    )


def test_tz_aware_column_is_read_from_its_int64_storage() -> None:
    """A tz-aware column is keyed from its int64 storage, never through Timestamp objects."""
    series = pd.Series(
        pd.date_range("2024", periods=200_000, freq="s", tz="Europe/Paris", unit="ns")
    )
    shifted = series.copy()
    shifted.iloc[-1] += pd.Timedelta(1, "ns")
    assert fingerprint(series) != fingerprint(shifted)
    assert fingerprint(series) == fingerprint(series.copy())


@pytest.mark.parametrize("dtype", ["Int64", "int64[pyarrow]", "UInt64", "uint64[pyarrow]"])
def test_large_integers_with_missing_values_are_exact(dtype: str) -> None:
    """2**53 and 2**53 + 1 differ even next to a missing value (no trip through float64)."""
    a = pd.Series([2**53 + 1, None], dtype=dtype)
    b = pd.Series([2**53, None], dtype=dtype)
    assert fingerprint(a) != fingerprint(b)
