"""Fingerprints: canonical values, numpy and pandas, the registry, refusals and golden digests."""

from __future__ import annotations

import collections
import datetime
import decimal
import io
import pickle
import socket
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xxhash

import recyclable
from recyclable import FingerprintError, fingerprint, register_fingerprint
from recyclable.fingerprint import array_digest

# Frozen digests of fixed values: an accidental change of the encoding scheme
# fails here.  A deliberate change bumps fingerprint.SCHEMA_VERSION (so old
# keys can only miss) and regenerates this table.  They were produced by the
# implementation itself, so they are change detectors only: they cannot show
# that a digest is right.  The properties in tests/property/ check digests
# against an independent reference and against the values' own equality.
GOLDEN: dict[str, tuple[Any, str]] = {
    "none": (None, "a36a6765c90ed04c697b95bee1ee5ad8"),
    "true": (True, "205feddc51fb360fcbe37c1472391c97"),
    "zero": (0, "3dedc1636bcc1d79d37c081c740b4cdb"),
    "one": (1, "4a2656027cd9b563efe4fb2ddf97e30a"),
    "big_int": (2**100, "b9c6c592d684f0afebe5e72a4a3757ff"),
    "float_one": (1.0, "4ed503d8b549e5fc7e9f0d627b2dce92"),
    "neg_zero": (-0.0, "7514040e3a237f34e14dc6eebb6692ef"),
    "nan": (float("nan"), "83cadc1c8aa8f64b2e13cd9efd64c5fb"),
    "complex": (1 + 2j, "7785feeefd2c9d3a5c822681a9697031"),
    "str": ("1", "7cc1fe513cf4cbaa3f75e6a0652015e1"),
    "unicode": ("ünïcødé ✓", "f5ead687b1e5e70abbbcc3a3da561503"),
    "bytes": (b"1", "7420c80d0c1e02bfbcd1139f9de5e2ae"),
    "list": ([1, 2, 3], "944bfd47cc0f8074140abcbda244246d"),
    "tuple": ((1, 2, 3), "bdf92c302526f72af678c3756b5f54b4"),
    "nested": ({"a": [1, {"b": (2, 3)}], "c": {1, 2}}, "057afae4f8441b9ab5556a4efb43f8b1"),
    "dict": ({"b": 2, "a": 1}, "4ad87ee6354d9c92d356590e12ffaaf9"),
    "set": ({"x", "y", "z"}, "4304fa2cb087ae59bf37f6ae0871a366"),
    "frozenset": (frozenset({3, 1}), "21b228250f36311c35db26a550dc5d69"),
    "mixed_keys": ({1: "a", "1": "b", b"1": "c"}, "4632fe455fdbe06ca5efb4a11dba59cf"),
    "ndarray_f8": (
        np.arange(6, dtype=np.float64).reshape(2, 3),
        "25c11f81120ac5ffc2a4c0c88577aaad",
    ),
    # Fortran order is part of an array's digest (numpy reduces in memory order).
    "ndarray_i4_fortran": (
        np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        "565a9c9d2a460422ce2339fa0e92e4e6",
    ),
    "ndarray_object": (np.array(["a", 1, None], dtype=object), "7fc2eb7219d7da04fe3759a78cc2ef0a"),
    "ndarray_0d": (np.array(3.5), "93010958eea91a2e0ac332bb31bcbedc"),
    "datetime": (datetime.datetime(2026, 11, 25, 12, 0, 0), "18105fd03fff651c75239102094cc196"),
    "decimal": (decimal.Decimal("1.10"), "cbbe58d334eb0a42a1f334db6bd55207"),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_digests(name: str) -> None:
    """Fixed values keep the digests they had when the scheme was frozen (a change detector)."""
    value, expected = GOLDEN[name]
    assert fingerprint(value).hex() == expected


def test_distinct_scalars() -> None:
    """1, 1.0, True, '1', b'1', [1] and (1,) all differ."""
    forms = [1, 1.0, True, "1", b"1", [1], (1,), {1}, frozenset({1}), {1: None}]
    assert len({fingerprint(f) for f in forms}) == len(forms)


def test_aliasing_of_mutable_objects_is_part_of_the_digest() -> None:
    """The same list twice differs from two equal copies (a step can tell them apart); equal
    strings are never told apart by identity."""
    shared = [1, 2, {"k": "v"}]
    assert fingerprint([shared, shared]) != fingerprint([[1, 2, {"k": "v"}], [1, 2, {"k": "v"}]])
    assert fingerprint([shared, shared]) == fingerprint([[1, 2, {"k": "v"}]] * 2)
    text = "x" * 50
    assert fingerprint((text, text)) == fingerprint(("x" * 50, "".join(["x"] * 50)))


def test_floats_by_their_bits() -> None:
    """0.0 and -0.0 differ; NaN equals NaN of the same payload, not of another."""
    assert fingerprint(0.0) != fingerprint(-0.0)
    assert fingerprint(float("nan")) == fingerprint(float("nan"))
    other_nan = np.frombuffer(np.uint64(0x7FF8000000000001).tobytes(), dtype=np.float64)[0]
    assert fingerprint(float(other_nan)) != fingerprint(float("nan"))


def test_numpy_layouts_share_a_digest() -> None:
    """C-order arrays, strided and reversed views of equal data fingerprint the same."""
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    wide = np.zeros((4, 12))
    wide[:, ::2] = base
    strided = wide[:, ::2]  # a view into every other column: not contiguous
    assert not strided.flags.c_contiguous and not strided.flags.f_contiguous
    assert fingerprint(strided) == fingerprint(base)
    assert fingerprint(base[::-1]) == fingerprint(base[::-1].copy())
    assert fingerprint(np.arange(6.0).reshape(6, 1).T) == fingerprint(np.arange(6.0).reshape(1, 6))


def test_fortran_order_is_part_of_the_digest() -> None:
    """An array whose axes lie in Fortran order is keyed apart from its C-ordered copy.

    numpy sums an array in memory order, so the two can give different floats:
    a shared key would hand one call the other's result.
    """
    rng = np.random.default_rng(0)
    base = rng.random((37, 53)) * 10.0 ** rng.integers(-5, 5, (37, 53))
    fortran = np.asfortranarray(base)
    assert fortran.sum() != base.sum()  # the reason: one value, two results
    assert fingerprint(fortran) != fingerprint(base)
    assert fingerprint(base.T) != fingerprint(np.ascontiguousarray(base.T))
    # A strided view is keyed as the C-ordered copy pickling makes of it (a re-run loads that).
    view = fortran[::2, ::3]
    assert fingerprint(view) == fingerprint(np.ascontiguousarray(view))
    assert fingerprint(view) == fingerprint(pickle.loads(pickle.dumps(view, protocol=5)))
    assert fingerprint(fortran) == fingerprint(np.asfortranarray(base.copy()))


def test_strided_array_over_16_mib_is_hashed_block_by_block() -> None:
    """A strided array larger than one 16 MiB hashing block: the digest is xxh3 of all its
    C-order bytes, and an element in the last block counts, one outside the view does not."""
    view = np.random.default_rng(4).random((2100, 2048))[::2]  # every other row: 17.2 MB
    assert not view.flags.c_contiguous
    assert view.nbytes > 16 * 1024 * 1024  # more than one block
    digest = array_digest(view)
    assert digest == xxhash.xxh3_128_digest(view.tobytes(order="C"))
    parent = view.base
    assert parent is not None
    parent[1, 0] += 1.0  # an odd row: not part of the view
    assert array_digest(view) == digest
    view[-1, -1] += 1.0  # the last element, in the second block
    assert array_digest(view) != digest
    assert array_digest(view) == xxhash.xxh3_128_digest(view.tobytes(order="C"))


def test_numpy_memmap_equals_ndarray(tmp_path: Path) -> None:
    """A memory-mapped array fingerprints like the in-memory array with the same data."""
    data = np.random.default_rng(0).random((50, 7))
    mapped = np.memmap(tmp_path / "a.bin", dtype=data.dtype, mode="w+", shape=data.shape)
    mapped[:] = data
    assert fingerprint(mapped) == fingerprint(data)


def test_numpy_dtype_and_shape_matter() -> None:
    """Same bytes under another dtype or shape are a different value."""
    a = np.arange(6, dtype=np.int64)
    assert fingerprint(a) != fingerprint(a.view(np.float64))
    assert fingerprint(a) != fingerprint(a.reshape(2, 3))
    assert fingerprint(a) != fingerprint(a.astype(np.int32))


def test_masked_array_keeps_its_mask() -> None:
    """A masked array is not hashed as its bare data (the mask matters)."""
    data = np.arange(4.0)
    masked = np.ma.masked_array(data, mask=[0, 1, 0, 0])
    assert fingerprint(masked) != fingerprint(data)
    assert fingerprint(masked) != fingerprint(np.ma.masked_array(data, mask=[0, 0, 1, 0]))


def test_pandas_values_index_columns_dtypes() -> None:
    """DataFrames differ by values, index, column names and dtypes; copies are equal."""
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert fingerprint(frame.copy()) == fingerprint(frame)
    assert fingerprint(frame.assign(a=[1, 2, 4])) != fingerprint(frame)
    assert fingerprint(frame.set_axis([5, 6, 7])) != fingerprint(frame)
    assert fingerprint(frame.rename(columns={"b": "c"})) != fingerprint(frame)
    assert fingerprint(frame.astype({"a": "float64"})) != fingerprint(frame)
    series = pd.Series([1.0, 2.0], name="s")
    assert fingerprint(series) != fingerprint(series.rename("t"))


def test_dict_order_is_part_of_the_digest() -> None:
    """A step can observe insertion order (list(d), json.dumps): dicts and OrderedDicts key it."""
    items = [("b", 1), ("a", 2)]
    assert fingerprint(dict(items)) != fingerprint(dict(reversed(items)))
    assert fingerprint(collections.OrderedDict(items)) != fingerprint(
        collections.OrderedDict(reversed(items))
    )
    assert fingerprint(dict(items)) == fingerprint(dict(list(items)))


def test_objects_by_state_with_canonical_dicts() -> None:
    """Plain objects are keyed by class and state."""

    class Config:
        def __init__(self, options: dict[str, int]) -> None:
            self.options = options

    assert fingerprint(Config({"a": 1, "b": 2})) == fingerprint(Config({"a": 1, "b": 2}))
    assert fingerprint(Config({"a": 1})) != fingerprint(Config({"a": 2}))


def test_registered_fingerprint_and_protocol() -> None:
    """register_fingerprint and __recyclable_fingerprint__ give stand-in values."""

    class Artifact:
        def __init__(self, uuid: str, payload: object) -> None:
            self.uuid = uuid
            self.payload = payload

    class Handle:
        def __init__(self, url: str) -> None:
            self.url = url
            self.lock = threading.Lock()

        def __recyclable_fingerprint__(self) -> str:
            return self.url

    register_fingerprint(Artifact, lambda artifact: artifact.uuid)
    # The payload (a lock) would be refused; the registered stand-in is used instead.
    assert fingerprint(Artifact("u1", threading.Lock())) == fingerprint(Artifact("u1", None))
    assert fingerprint(Artifact("u1", None)) != fingerprint(Artifact("u2", None))
    assert fingerprint(Artifact("u1", None)) != fingerprint("u1")
    assert fingerprint(Handle("db://x")) == fingerprint(Handle("db://x"))
    assert fingerprint(Handle("db://x")) != fingerprint(Handle("db://y"))


def test_register_fingerprint_bad_arguments() -> None:
    """register_fingerprint names a wrong argument type and the fix."""
    with pytest.raises(TypeError, match=r"cls=...\) expects a type, got str"):
        register_fingerprint("Artifact", str)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"func=...\) expects a callable, got int"):
        register_fingerprint(int, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "type_name", "reason"),
    [
        (socket.socket, "socket.socket", "cannot pickle"),
        (threading.Lock, "_thread.lock", "cannot pickle"),
        (lambda: (i for i in range(3)), "generator", "consumed by use"),
        (lambda: io.StringIO("x"), "_io.StringIO", "open file or stream"),
    ],
)
def test_refusals_name_the_path(make: Any, type_name: str, reason: str) -> None:
    """Unfingerprintable values raise FingerprintError with the path to them and a fix."""
    value = make()
    try:
        with pytest.raises(FingerprintError) as info:
            fingerprint({"outer": [1, {"inner": value}]}, where="argument 'config'")
    finally:
        close = getattr(value, "close", None)
        if close is not None:
            close()
    message = str(info.value)
    assert f"argument 'config' → ['outer'] → [1] → ['inner'] → {type_name}" in message
    assert reason in message
    assert info.value.path == ["argument 'config'", "['outer']", "[1]", "['inner']"]


def test_closures_are_keyed_by_their_cell_values_and_functions_by_code() -> None:
    """A closure counts with what its cells hold; plain functions hash by code."""

    def make(offset: int) -> Any:
        def add(x: int) -> int:
            return x + offset

        return add

    assert fingerprint(make(3)) == fingerprint(make(3))
    assert fingerprint(make(3)) != fingerprint(make(4))
    assert fingerprint(recyclable.fingerprint) == fingerprint(recyclable.fingerprint)
    assert fingerprint(len) == fingerprint(len)
    assert fingerprint(lambda x: x + 1) != fingerprint(lambda x: x + 2)


def test_cycles_are_back_references() -> None:
    """A self-containing value fingerprints (the cycle is a back-reference), and a cycle
    differs from the same shape unrolled."""
    loop: list[Any] = [1]
    loop.append(loop)
    other: list[Any] = [1]
    other.append(other)
    assert fingerprint(loop) == fingerprint(other)
    assert fingerprint(loop) != fingerprint([1, [1]])
