"""Round trips through a pool: the miss and the hit give back the same value, type and flags."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import values

from recyclable import Cache, recyclable
from recyclable.fingerprint import fingerprint

# Arrays of at least 64 KiB travel as out-of-band blobs and come back memory-mapped.
large_arrays = st.builds(
    lambda n, dtype, order, step: np.asarray(
        np.arange(n * step, dtype=dtype)[::step], order=order
    ).reshape(-1, 8),
    st.integers(8192, 12000).map(lambda n: n - n % 8),
    st.sampled_from([np.float64, np.int64, np.complex128]),
    st.sampled_from(["C", "F"]),
    st.sampled_from([1, 2]),
)
mixed = st.one_of(
    values,
    large_arrays,
    st.tuples(large_arrays, values),
    st.dictionaries(st.text(max_size=4), st.one_of(large_arrays, values), max_size=3),
)


@recyclable
def echo(value: object) -> object:
    """Return the argument unchanged."""
    return value


def _flags(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        f = value.flags
        return [type(value), value.dtype, f.writeable, f.c_contiguous, f.f_contiguous]
    if isinstance(value, (list, tuple)):
        return [type(value), *[_flags(v) for v in value]]
    if isinstance(value, dict):
        return [type(value), *[(k, _flags(v)) for k, v in value.items()]]
    return [type(value)]


@given(mixed, st.sampled_from(["r", "c", None]))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_miss_and_hit_agree_in_fingerprint_type_and_flags(value: Any, mmap: Any) -> None:
    """The value a miss returns and the one a hit loads fingerprint like the computed value
    and have the same types and array flags (writeability included), in every load mode."""
    with tempfile.TemporaryDirectory() as tmp:
        pool = Cache(Path(tmp) / "c", mmap=mmap).create_pool("p")
        with pool:
            miss = echo(value)
            hit = echo(value)
        assert pool.stats.loaded == 1
        assert fingerprint(miss) == fingerprint(hit) == fingerprint(value)
        assert _flags(miss) == _flags(hit)
