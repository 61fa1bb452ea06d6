"""Properties of large arrays: digests against an independent reference, and stored round trips.

The golden digests in tests/unit/test_fingerprint.py come from the
implementation: they detect a change, not a wrong digest.  The reference here
is computed without recyclable (numpy's own C-order bytes hashed by xxhash),
so a digest that skips, reorders or mis-strides bytes fails.
"""

from __future__ import annotations

import mmap
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import OUT_OF_BAND_BYTES, large_arrays, same

from recyclable import Cache
from recyclable.fingerprint import array_digest, fingerprint

SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _memory_owner(array: Any) -> type:
    base: object = array
    while True:
        if isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        elif isinstance(base, memoryview):
            base = base.obj
        else:
            return type(base)


def _assert_same_array(loaded: Any, array: Any) -> None:
    """Bitwise equal, with the same dtype, byte order included.

    numpy alone pickles an array it cannot hand out of band (not contiguous,
    or a subclass such as np.memmap) in its native byte order (``>i2`` comes
    back as ``<i2``); the codec stores such an array as its contiguous copy so
    the byte order survives.
    """
    assert same(loaded, array)
    assert loaded.dtype == array.dtype  # byte order included


@given(large_arrays())
@settings(SLOW, max_examples=60)
def test_array_digest_is_xxh3_of_the_c_order_bytes(array: Any) -> None:
    """Any layout and byte order: the bytes' digest is xxh3_128 of numpy's C-order bytes; the
    fingerprint is that of the copy pickling makes of its bytes (order "A"; numpy's pickle of a
    strided view may also change its byte order): a Fortran-contiguous array
    keeps its order (numpy's reductions follow memory order), any other layout is keyed as
    its C-ordered copy, which is what a re-run loads."""
    assert array.nbytes >= OUT_OF_BAND_BYTES
    assert array_digest(array) == xxhash.xxh3_128_digest(array.tobytes(order="C"))
    assert fingerprint(array) == fingerprint(array.copy(order="A"))
    fortran = array.flags.f_contiguous and not array.flags.c_contiguous
    assert (fingerprint(array) == fingerprint(np.ascontiguousarray(array))) is not fortran


@given(large_arrays(), st.data())
@settings(SLOW, max_examples=40)
def test_changing_any_byte_changes_the_digest(array: Any, data: st.DataObject) -> None:
    """One byte changed anywhere in a large array, in place in its layout, changes its digest."""
    before, before_bytes = fingerprint(array), array.tobytes()
    row = data.draw(st.integers(0, array.shape[0] - 1), label="row")
    col = data.draw(st.integers(0, array.shape[1] - 1), label="column")
    element = bytearray(array[row : row + 1, col : col + 1].tobytes())
    element[data.draw(st.integers(0, len(element) - 1), label="byte")] ^= 0xFF
    # Same dtype on both sides: numpy copies the bytes as they are.
    array[row : row + 1, col : col + 1] = np.frombuffer(bytes(element), array.dtype).reshape(1, 1)
    assert array.tobytes() != before_bytes
    assert fingerprint(array) != before


@given(large_arrays())
@settings(SLOW, max_examples=30)
def test_large_results_round_trip_out_of_band_and_mapped(array: Any) -> None:
    """A stored large array loads back bitwise equal, dtype and byte order kept; a contiguous
    one is written out of band as its own blob and comes back memory-mapped."""
    from pipeline_actions import identity

    with tempfile.TemporaryDirectory() as tmp:
        cache = Cache(Path(tmp) / "c")
        with cache.create_pool("p") as pool:
            computed = identity(array)
            loaded = identity(array)
        assert (pool.stats.computed, pool.stats.loaded) == (1, 1)
        assert same(computed, array)
        _assert_same_array(loaded, array)
        if array.flags.c_contiguous or array.flags.f_contiguous:
            blobs = [p.stat().st_size for p in (cache.path / "objects").rglob("*") if p.is_file()]
            assert array.nbytes in blobs
            assert _memory_owner(loaded) is mmap.mmap
            assert not loaded.flags.writeable


@given(large_arrays(layouts=("C",)))
@settings(SLOW, max_examples=20)
def test_memory_mapped_inputs_key_and_store_like_arrays(array: Any) -> None:
    """An np.memmap argument has the in-memory array's fingerprint and round-trips by value."""
    from pipeline_actions import identity

    with tempfile.TemporaryDirectory() as tmp:
        mapped = np.memmap(Path(tmp) / "a.bin", dtype=array.dtype, mode="w+", shape=array.shape)
        mapped[:] = array
        mapped.flush()
        assert fingerprint(mapped) == fingerprint(array)
        with Cache(Path(tmp) / "c").create_pool("p") as pool:
            identity(mapped)
            loaded = identity(np.array(array))  # the in-memory copy is the same call
        assert pool.stats.loaded == 1
        _assert_same_array(np.asarray(loaded), array)
        del mapped
