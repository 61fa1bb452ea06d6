"""Fingerprints: canonical values, numpy and pandas, the registry, refusals and golden digests."""

from __future__ import annotations

import collections
import datetime
import decimal
import io
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
    "none": (None, "08f30a465c8e699d1d451ec8f7bd8f34"),
    "true": (True, "09fbf8a5803beb9549a9480c44b8ed1c"),
    "zero": (0, "f5a4a6f73766f7225ee9aa8a1db74ff8"),
    "one": (1, "b683ff9d8bbc9c969000cfdadeec69ec"),
    "big_int": (2**100, "d386b4261cda9d8ab6384eeb74ba517a"),
    "float_one": (1.0, "1bc89808013befbad7b5f0cbb339cac0"),
    "neg_zero": (-0.0, "373161d22862fd106205652d62476669"),
    "nan": (float("nan"), "6a5d3433d8c791cd071672f90a64a33c"),
    "complex": (1 + 2j, "eb0d24854c3b21e69270ba8fbd9f3039"),
    "str": ("1", "18f4fa5b05ee6142672b885010f84138"),
    "unicode": ("ünïcødé ✓", "b7a25f6ae223fe60015cf5b44531bc4a"),
    "bytes": (b"1", "72c38e59a29b3c79d3d5138fd001dcba"),
    "list": ([1, 2, 3], "c412ecc8683c826aaf1c96445fa5325e"),
    "tuple": ((1, 2, 3), "2b8560672ecbdd97c65284c7519ed43d"),
    "nested": ({"a": [1, {"b": (2, 3)}], "c": {1, 2}}, "36337825f10ec86dcd689a3800cc9c78"),
    "dict": ({"b": 2, "a": 1}, "1245a570e562fe9f0b35ff04c73d44fa"),
    "set": ({"x", "y", "z"}, "73be8ef8eb61e3ecd8be6a7a98a42763"),
    "frozenset": (frozenset({3, 1}), "1cc476346a1d897d8e01f24a919d9b70"),
    "mixed_keys": ({1: "a", "1": "b", b"1": "c"}, "bce4bbfc78ff2b8c8c3a7078e7e76c71"),
    "ndarray_f8": (
        np.arange(6, dtype=np.float64).reshape(2, 3),
        "da2737c1985c95bcf772e2a72294fbec",
    ),
    "ndarray_i4_fortran": (
        np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        "e488f8f6dd1d2984055dceea7b04a558",
    ),
    "ndarray_object": (np.array(["a", 1, None], dtype=object), "5cc5ab2ae8e01e616550516e90b37a3c"),
    "ndarray_0d": (np.array(3.5), "6ae7be43cfb3a9a05a211746c32c30e6"),
    "datetime": (datetime.datetime(2026, 11, 25, 12, 0, 0), "032109e0dfe65599f4648841c7ae8e7c"),
    "decimal": (decimal.Decimal("1.10"), "e52f5fb591bbb86d5fb7b51d47a440fc"),
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


def test_aliasing_does_not_change_the_digest() -> None:
    """The same object twice hashes like two equal copies."""
    shared = [1, 2, {"k": "v"}]
    assert fingerprint([shared, shared]) == fingerprint([[1, 2, {"k": "v"}], [1, 2, {"k": "v"}]])
    text = "x" * 50
    assert fingerprint((text, text)) == fingerprint(("x" * 50, "".join(["x"] * 50)))


def test_floats_by_their_bits() -> None:
    """0.0 and -0.0 differ; NaN equals NaN of the same payload, not of another."""
    assert fingerprint(0.0) != fingerprint(-0.0)
    assert fingerprint(float("nan")) == fingerprint(float("nan"))
    other_nan = np.frombuffer(np.uint64(0x7FF8000000000001).tobytes(), dtype=np.float64)[0]
    assert fingerprint(float(other_nan)) != fingerprint(float("nan"))


def test_numpy_layouts_share_a_digest() -> None:
    """C-order, Fortran-order, strided views and memmaps of equal data fingerprint the same."""
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    wide = np.zeros((4, 12))
    wide[:, ::2] = base
    strided = wide[:, ::2]  # a view into every other column: not contiguous
    assert not strided.flags.c_contiguous and not strided.flags.f_contiguous
    assert fingerprint(np.asfortranarray(base)) == fingerprint(base)
    assert fingerprint(strided) == fingerprint(base)
    assert fingerprint(base.T) == fingerprint(np.ascontiguousarray(base.T))


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


def test_ordered_dict_order_matters_plain_dict_order_does_not() -> None:
    """OrderedDict compares by order, so its order is part of the key; dict's is not."""
    items = [("b", 1), ("a", 2)]
    assert fingerprint(dict(items)) == fingerprint(dict(reversed(items)))
    assert fingerprint(collections.OrderedDict(items)) != fingerprint(
        collections.OrderedDict(reversed(items))
    )


def test_objects_by_state_with_canonical_dicts() -> None:
    """Plain objects are keyed by class and state; their dicts are order-insensitive."""

    class Config:
        def __init__(self, options: dict[str, int]) -> None:
            self.options = options

    assert fingerprint(Config({"a": 1, "b": 2})) == fingerprint(Config({"b": 2, "a": 1}))
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


def test_cycles_are_refused() -> None:
    """A self-containing value is a clear error, not a hang or a RecursionError."""
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(FingerprintError, match="contains itself"):
        fingerprint(loop)
