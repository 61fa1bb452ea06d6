"""Properties of library handlers for generated pandas and Arrow values."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recyclable.fingerprint import fingerprint

INT64 = st.integers(-(2**63), 2**63 - 1)

DTYPES: dict[str, Any] = {
    "Int64": st.lists(st.one_of(st.none(), INT64), max_size=30),
    "int64[pyarrow]": st.lists(st.one_of(st.none(), INT64), max_size=30),
    "Float64": st.lists(st.one_of(st.none(), st.floats(allow_nan=False)), max_size=30),
    "string[python]": st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=30),
    "string[pyarrow]": st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=30),
    "category": st.lists(st.sampled_from(["a", "b", "c"]), max_size=30),
    "object": st.lists(st.one_of(st.none(), st.text(max_size=5), st.integers()), max_size=30),
}

series = st.sampled_from(sorted(DTYPES)).flatmap(
    lambda dtype: DTYPES[dtype].map(lambda values: pd.Series(values, dtype=dtype))
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(series)
def test_copies_and_pickle_round_trips_share_the_digest(s: pd.Series) -> None:
    """A copy and a pickle round trip of a Series digest like the Series."""
    digest = fingerprint(s)
    assert fingerprint(s.copy()) == digest
    assert fingerprint(pickle.loads(pickle.dumps(s, protocol=5))) == digest


@SETTINGS
@given(series, st.data())
def test_changing_one_element_changes_the_digest(s: pd.Series, data: st.DataObject) -> None:
    """Replacing one element by a value that compares differently changes the digest."""
    if len(s) == 0 or s.dtype == "category":
        return
    i = data.draw(st.integers(0, len(s) - 1))
    old = s.iloc[i]
    new = s.copy()
    if pd.isna(old):
        replacement: Any = "zz" if s.dtype.kind in "OUT" or "string" in str(s.dtype) else 7
    elif isinstance(old, str):
        replacement = old + "x"
    elif isinstance(old, (float, np.floating)):
        replacement = None if old == 0 else -old if old != -old else None
        if replacement is None:
            replacement = 1.5 if old != 1.5 else 2.5
    else:
        replacement = int(old) - 1 if old > -(2**63) else int(old) + 1
    new.iloc[i] = replacement
    assert fingerprint(new) != fingerprint(s)


@SETTINGS
@given(st.lists(st.one_of(st.none(), INT64), min_size=1, max_size=40), st.data())
def test_arrow_slices_and_chunkings_share_the_digest(
    values: list[Any], data: st.DataObject
) -> None:
    """An Arrow slice, its copy, and any chunking of the same values share one digest."""
    pa = __import__("pyarrow")
    start = data.draw(st.integers(0, len(values) - 1))
    stop = data.draw(st.integers(start, len(values)))
    cut = data.draw(st.integers(0, stop - start))
    sliced = pa.array(values, type=pa.int64()).slice(start, stop - start)
    copy = pa.array(values[start:stop], type=pa.int64())
    chunked = pa.chunked_array([copy.slice(0, cut), copy.slice(cut)], type=pa.int64())
    assert fingerprint(sliced) == fingerprint(copy)
    assert fingerprint(pa.chunked_array([sliced])) == fingerprint(chunked)
