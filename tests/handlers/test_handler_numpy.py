"""numpy's newer dtypes: StringDType and dtypes with metadata keep their identity, quietly."""

from __future__ import annotations

import warnings

import numpy as np

from recyclable import fingerprint
from recyclable.testing import check_fingerprint_contract

StringDType = np.dtypes.StringDType


def equal_pairs() -> list[tuple[object, object]]:
    words = [f"word{i}" for i in range(10_000)]
    return [
        (np.array(words, dtype=StringDType()), np.array(words, dtype=StringDType())),
        (np.array(["a", None], dtype=StringDType(na_object=None)),) * 2,
        (
            np.arange(20_000).astype(np.dtype("int64", metadata={"unit": "m"})),
            np.arange(20_000).astype(np.dtype("int64", metadata={"unit": "m"})),
        ),
        (np.ma.array([1, 2], mask=[False, True]), np.ma.array([1, 5], mask=[False, True])),
        (np.arange(30_000.0), np.arange(30_000.0)),
    ]


def different_pairs() -> list[tuple[object, object]]:
    words = ["a", "bb", "ccc"]
    meta = np.dtype("int64", metadata={"unit": "m"})
    return [
        (np.array(words, dtype=StringDType()), np.array(words, dtype=object)),
        (np.array(words, dtype=StringDType()), np.array(words, dtype="U3")),
        (np.array(words, dtype=StringDType()), np.array(["a", "bb", "ccd"], dtype=StringDType())),
        (np.array(["ab", "c"], dtype=StringDType()), np.array(["a", "bc"], dtype=StringDType())),
        (
            np.array(["a", None], dtype=StringDType(na_object=None)),
            np.array(["a", np.nan], dtype=StringDType(na_object=np.nan)),
        ),
        (np.array(["a"], dtype=StringDType()), np.array(["a"], dtype=StringDType(coerce=False))),
        (np.arange(3).astype(meta), np.arange(3)),
        (
            np.arange(3).astype(meta),
            np.arange(3).astype(np.dtype("int64", metadata={"unit": "s"})),
        ),
        (meta, np.dtype("int64")),
        (np.ma.array([1, 2], mask=[False, True]), np.ma.array([1, 2], mask=[True, False])),
        (
            np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
            np.zeros(2, dtype=[("a", "<i4"), ("c", "<f8")]),
        ),
    ]


def no_pairs() -> list[tuple[object, object]]:
    return []


def hard_mask_pairs() -> list[tuple[object, object]]:
    return [
        (
            np.ma.array([1, 2], mask=[False, True], hard_mask=True),
            np.ma.array([1, 2], mask=[False, True], hard_mask=False),
        )
    ]


def test_masked_arrays_keep_their_hard_mask_flag() -> None:
    """A hard and a soft mask differ (assignment behaves differently) in every process.

    Pickle drops the flag, so such a value cannot round-trip through the store
    unchanged; that check is left out here.
    """
    check_fingerprint_contract(no_pairs, hard_mask_pairs, roundtrip=False)


def test_numpy_contract(tmp_path) -> None:
    """The contract holds for StringDType, metadata dtypes, masked and classic arrays."""
    check_fingerprint_contract(equal_pairs, different_pairs, tmp_path=tmp_path)


def test_new_dtypes_do_not_warn() -> None:
    """Fingerprinting a StringDType array or a metadata dtype issues no warning at all."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fingerprint(np.array(["x"], dtype=StringDType()))
        fingerprint(np.arange(2).astype(np.dtype("int64", metadata={"k": 1})))


def test_classic_arrays_keep_the_core_encoding() -> None:
    """A classic array's digest is the core one, so digests of loaded blobs still propagate."""
    from recyclable.fingerprint import _canon, _digest

    arr = np.arange(10.0)
    assert fingerprint(arr) == _digest(_canon(arr))
