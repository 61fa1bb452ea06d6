"""numpy arrays with the newer dtypes: ``StringDType``, dtypes with metadata, masked arrays.

Arrays of the classic dtypes keep the core encoding (``dtype descr, shape,
xxh3 of the C-order bytes``, with digests remembered for arrays loaded from
the store).  The classic descr cannot spell a ``StringDType`` (it becomes
``|O``, the key of an object array, and numpy warns that custom dtypes are
saved as Python objects) nor a dtype's ``metadata`` (dropped with a warning),
so arrays of those dtypes are keyed here by `dtype_identity`, the dtype's full
identity, and by their elements.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from recyclable.fingerprint import _LIBRARY, _canon, _ndarray_handler, _qualified, array_digest
from recyclable.handlers._base import Reducer, standin

_StringDType: Any = getattr(getattr(np, "dtypes", None), "StringDType", None)


def handler_for(cls: type) -> Reducer | None:
    """The reducer for numpy types this module covers."""
    if cls is np.ndarray or cls is np.memmap:
        return _array_reducer
    ma = sys.modules.get("numpy.ma")  # imported lazily by numpy; a MaskedArray implies it
    if ma is not None and issubclass(cls, ma.MaskedArray):
        return standin("numpy.ma.MaskedArray", _masked_standin)
    if issubclass(cls, np.dtype):
        return standin("numpy.dtype", dtype_identity)
    return None


def is_classic(dtype: np.dtype[Any]) -> bool:
    """True for dtypes the ``.npy`` descr spells exactly (no metadata, no new-style dtype)."""
    if dtype.metadata:
        return False
    if dtype.fields is not None:
        return all(is_classic(field[0]) for field in dtype.fields.values())
    if dtype.subdtype is not None:
        return is_classic(dtype.subdtype[0])
    return type(dtype).__module__ == "numpy.dtypes" and type(dtype) is not _StringDType


def _array_reducer(arr: Any) -> Any:
    if is_classic(arr.dtype):
        return _ndarray_handler(arr)
    return (_LIBRARY, ("numpy.ndarray", _canon(_array_standin(arr))))


def _array_standin(arr: Any) -> Any:
    dtype = arr.dtype
    identity = dtype_identity(dtype)
    if dtype.hasobject or _has_new_dtype(dtype):
        # Elements are Python objects (StringDType: str or its NA object):
        # a list of str pickles in C and stays exact.
        return (identity, arr.shape, arr.tolist())  # canonicalised once, by the caller
    # A classic memory layout under a dtype that only adds metadata.
    plain = arr.view(np.dtype(dtype.descr) if dtype.fields is not None else np.dtype(dtype.str))
    return (identity, arr.shape, array_digest(plain))


def _has_new_dtype(dtype: np.dtype[Any]) -> bool:
    if dtype.fields is not None:
        return any(_has_new_dtype(field[0]) for field in dtype.fields.values())
    if dtype.subdtype is not None:
        return _has_new_dtype(dtype.subdtype[0])
    return type(dtype).__module__ != "numpy.dtypes" or type(dtype) is _StringDType


def dtype_identity(dtype: np.dtype[Any]) -> Any:
    """Everything that makes a numpy dtype what it is, as a fingerprintable tuple.

    Byte order, item size, field names, offsets and titles, sub-array shapes,
    alignment, ``metadata`` (also of fields), and for ``StringDType`` its NA
    object and ``coerce`` flag.
    """
    metadata = dict(dtype.metadata) if dtype.metadata else {}
    if dtype.fields is not None:
        fields = [
            (name, dtype_identity(info[0]), info[1], info[2] if len(info) > 2 else None)
            for name, info in dtype.fields.items()
        ]
        return ("struct", fields, dtype.itemsize, dtype.isalignedstruct, metadata)
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return ("subarray", dtype_identity(base), shape, metadata)
    if _StringDType is not None and type(dtype) is _StringDType:
        has_na = hasattr(dtype, "na_object")
        na = getattr(dtype, "na_object", None)
        return (
            "StringDType",
            has_na,
            _na_identity(na),
            bool(getattr(dtype, "coerce", True)),
            metadata,
        )
    if type(dtype).__module__ == "numpy.dtypes":
        return ("classic", dtype.str, metadata)
    # A user-defined (new-style) dtype: its type and its own description.
    return ("user", _qualified(type(dtype)), str(dtype), metadata)


def _na_identity(na: Any) -> Any:
    if isinstance(na, float):
        return ("float", na)  # NaN by its bits, through the float encoding
    if na is None or isinstance(na, (str, int)):
        return na
    return (_qualified(type(na)), repr(na))


def _masked_standin(arr: Any) -> Any:
    # Everything MaskedArray.__reduce__ keeps, plus what it drops: the hard
    # mask flag, which changes what assignment does.
    data = np.ma.getdata(arr)
    mask = np.ma.getmaskarray(arr)
    filled = data
    if data.dtype.fields is None and not data.dtype.hasobject and mask.any():
        # What lies under the mask is not part of the value.
        filled = np.where(mask, np.zeros((), data.dtype), data)
    return (filled, mask, arr.fill_value, bool(arr.hardmask), arr.baseclass)
