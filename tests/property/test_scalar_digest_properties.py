"""Scalars' remembered digests: a dict lookup, and always the digest of the scalar's own bits."""

from __future__ import annotations

import math
import pickle
import struct
from typing import Any

import xxhash
from hypothesis import given
from hypothesis import strategies as st
from strategies import scalars

from recyclable.fingerprint import _PREFIX, SCALAR_DIGESTS, fingerprint, scalar_digest


def _pickled(value: Any) -> bytes:
    return xxhash.xxh3_128_digest(_PREFIX + pickle.dumps(value, 5))


@given(st.lists(scalars, max_size=12), scalars)
def test_remembered_digest_is_the_digest_of_the_value_itself(seen: list[Any], value: Any) -> None:
    """After any other scalars were keyed (equal ones of another type or sign among them),
    a scalar's digest is still the one its own pickle gives, the second time too."""
    for other in seen:
        scalar_digest(other)
    assert scalar_digest(value) == _pickled(value)
    assert scalar_digest(value) == _pickled(value)
    assert fingerprint(value) == _pickled(value)


def test_equal_scalars_of_other_types_or_bits_never_share_a_digest() -> None:
    """1, 1.0 and True; 0.0 and -0.0; NaNs of two payloads: each keyed apart, in either
    order of first use."""
    nan_a = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]
    nan_b = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000002))[0]
    groups = [(1, 1.0, True), (0.0, -0.0, 0, False), (nan_a, nan_b), ("1", b"1")]
    for group in groups:
        for order in (group, tuple(reversed(group))):
            SCALAR_DIGESTS.clear()
            digests = [scalar_digest(v) for v in order]
            assert len(set(digests)) == len(order), order
            assert [scalar_digest(v) for v in order] == digests
    assert math.isnan(nan_a) and math.isnan(nan_b)
    assert (float, -0.0) not in SCALAR_DIGESTS and (float, 0.0) not in SCALAR_DIGESTS
