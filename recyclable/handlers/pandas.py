"""pandas: frames, series, indexes and extension arrays keyed by everything a step can read.

A frame is keyed by its columns index, its row index, each column's full dtype
and values, ``attrs``, ``flags`` and a subclass's ``_metadata``.  Values are
read from the arrays pandas keeps, never through ``to_numpy()`` (which turns
``Int64`` with NA into float64 and tz-aware timestamps into Python objects):

* numpy-backed columns → the array itself (dtype descr + xxh3 of its bytes);
* masked (``Int64``, ``Float64``, ``boolean``) → data and mask, the data under
  the mask zeroed (pandas never reads it);
* Arrow-backed (``int64[pyarrow]``, ``string[pyarrow]``, pandas 3's ``str``)
  → the Arrow buffers, see `recyclable.handlers.pyarrow`;
* categorical → codes, with categories and ``ordered`` in the dtype;
* datetime / timedelta / period → their int64 storage, with unit, time zone
  and frequency in the dtype or index;
* object and ``string[python]`` → the elements, pickled in C.

A dtype is keyed by its identity, not its text: ``string[python]`` and
``string[pyarrow]`` both print as ``string`` but differ here, as do NA
semantics (``na_value``), categories and their order, time zones, period
frequencies and interval closedness.  Indexes are keyed by their type, names,
dtype and values, and ``freq`` (DatetimeIndex/TimedeltaIndex), levels, codes
and ``sortorder`` (MultiIndex, unused levels included), or start/stop/step
(RangeIndex).  Lazily filled caches (``Index._cache``, ...) are never read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas._libs.lib import is_string_array
from pandas.api.extensions import ExtensionArray, ExtensionDtype

from recyclable.fingerprint import _LIBRARY, _Canonical
from recyclable.handlers._base import Reducer, standin, type_name

try:  # private locations; fall back to isinstance checks by name where they move
    from pandas.core.arrays.masked import BaseMaskedArray
    from pandas.core.dtypes.dtypes import BaseMaskedDtype
except ImportError:  # pragma: no cover - every supported pandas has them
    BaseMaskedArray = BaseMaskedDtype = None


def handler_for(cls: type) -> Reducer | None:
    """The reducer for pandas types this module covers."""
    if issubclass(cls, pd.DataFrame):
        return standin("pandas.DataFrame", frame_standin)
    if issubclass(cls, pd.Series):
        return standin("pandas.Series", series_standin)
    if issubclass(cls, pd.Index):
        return standin("pandas.Index", index_standin)
    if issubclass(cls, ExtensionArray):
        return standin("pandas.array", lambda arr: (dtype_standin(arr.dtype), values_standin(arr)))
    if issubclass(cls, ExtensionDtype):
        return standin("pandas.dtype", dtype_standin)
    return None


# --- containers ------------------------------------------------------------------------


def frame_standin(df: pd.DataFrame) -> Any:
    """Columns, index, per-column dtype and values, attrs, flags, subclass metadata."""
    mgr = df._mgr
    # Each column as pandas stores it (a view of its block, or its extension
    # array): equal frames with other block layouts share a key.
    if hasattr(mgr, "iget_values"):
        arrays = [mgr.iget_values(i) for i in range(df.shape[1])]
    else:  # pragma: no cover - every supported pandas has iget_values
        arrays = [df._ixs(i, axis=1)._values for i in range(df.shape[1])]
    columns = [(dtype_standin(arr.dtype), values_standin(arr)) for arr in arrays]
    return (
        index_standin(df.columns),
        index_standin(df.index),
        columns,
        _common(df),
    )


def series_standin(series: pd.Series) -> Any:
    """Name, index, dtype and values, attrs, flags, subclass metadata."""
    values = series._values
    return (
        series.name,
        index_standin(series.index),
        dtype_standin(values.dtype),
        values_standin(values),
        _common(series),
    )


def _common(obj: Any) -> Any:
    # attrs is public, propagated by most operations and readable by a step;
    # flags.allows_duplicate_labels changes what later operations accept.
    extra = [(name, getattr(obj, name, None)) for name in type(obj)._metadata if name != "_name"]
    return (dict(obj.attrs), bool(obj.flags.allows_duplicate_labels), extra)


def index_standin(index: pd.Index) -> Any:
    """An index by type, names, dtype and values, and the details its type adds."""
    kind = type_name(type(index))
    names = list(index.names)
    if isinstance(index, pd.RangeIndex):
        return (kind, names, index.start, index.stop, index.step)
    if isinstance(index, pd.MultiIndex):
        levels = [index_standin(level) for level in index.levels]
        codes = [np.asarray(code) for code in index.codes]
        return (kind, names, levels, codes, index.sortorder)
    values = index._values
    freq = getattr(index, "freq", None) if isinstance(index, _FREQ_INDEXES) else None
    return (kind, names, dtype_standin(values.dtype), values_standin(values), offset_standin(freq))


_FREQ_INDEXES = (pd.DatetimeIndex, pd.TimedeltaIndex)


def offset_standin(offset: Any) -> Any:
    """A DateOffset by type, multiple, normalize flag and parameters (``None`` stays ``None``)."""
    if offset is None:
        return None
    return (type_name(type(offset)), offset.n, bool(offset.normalize), dict(offset.kwds))


# --- dtypes ----------------------------------------------------------------------------


def dtype_standin(dtype: Any) -> Any:
    """A pandas or numpy dtype by its full identity, not its text."""
    if isinstance(dtype, np.dtype):
        from recyclable.handlers.numpy import dtype_identity

        return ("numpy", dtype_identity(dtype))
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        return (
            "category",
            bool(dtype.ordered),
            None if categories is None else index_standin(categories),
        )
    if isinstance(dtype, pd.DatetimeTZDtype):
        return ("datetimetz", dtype.unit, tz_standin(dtype.tz))
    if isinstance(dtype, pd.PeriodDtype):
        return ("period", offset_standin(dtype.freq))
    if isinstance(dtype, pd.IntervalDtype):
        subtype = None if dtype.subtype is None else dtype_standin(dtype.subtype)
        return ("interval", subtype, dtype.closed)
    if isinstance(dtype, pd.SparseDtype):
        return ("sparse", dtype_standin(dtype.subtype), _scalar(dtype.fill_value))
    if isinstance(dtype, pd.StringDtype):
        return ("string", dtype.storage, _scalar(getattr(dtype, "na_value", pd.NA)))
    if BaseMaskedDtype is not None and isinstance(dtype, BaseMaskedDtype):
        return ("masked", dtype.name)
    if isinstance(dtype, pd.ArrowDtype):
        from recyclable.handlers.pyarrow import type_identity

        return ("arrow", type_identity(dtype.pyarrow_dtype))
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if type(dtype).__name__ == "NumpyEADtype" and isinstance(numpy_dtype, np.dtype):
        return ("numpy-ea", dtype_standin(numpy_dtype))
    # Another library's extension dtype: its type, its text and its pickled state.
    return ("extension", type_name(type(dtype)), str(dtype), dtype.__reduce_ex__(5)[1:])


def tz_standin(tz: Any) -> Any:
    """A time zone by its type and pandas' canonical name (no machine-specific file path)."""
    from pandas._libs.tslibs import timezones

    name = timezones.get_timezone(tz)
    return (type_name(type(tz)), name if isinstance(name, str) else str(tz))


def _scalar(value: Any) -> Any:
    # pd.NA, NaT and NaN are distinct missing values a step can tell apart.
    if value is pd.NA:
        return ("NA",)
    if value is pd.NaT:
        return ("NaT",)
    return value


# --- values ----------------------------------------------------------------------------


def values_standin(arr: Any) -> Any:
    """The values pandas holds, read from its own storage without conversion."""
    if isinstance(arr, np.ndarray):
        return object_values(arr) if arr.dtype.hasobject else arr
    if isinstance(arr, pd.Categorical):
        return ("codes", arr.codes)
    if isinstance(arr, (pd.arrays.DatetimeArray, pd.arrays.TimedeltaArray)):
        # pandas 2's arrays carry a freq (pandas 3 keeps it on the index only)
        # that a step reads through .freq or an index built from the array.
        return ("datetimelike", arr._ndarray, offset_standin(getattr(arr, "freq", None)))
    if isinstance(arr, pd.arrays.PeriodArray):
        return ("period", arr.asi8)
    if isinstance(arr, pd.arrays.IntervalArray):
        left, right = arr.left._values, arr.right._values
        return ("interval", values_standin(left), values_standin(right), np.asarray(arr.isna()))
    if BaseMaskedArray is not None and isinstance(arr, BaseMaskedArray):
        return ("masked", *masked_parts(arr._data, arr._mask))
    if isinstance(arr, pd.arrays.ArrowExtensionArray):
        from recyclable.handlers.pyarrow import chunked_standin

        return ("arrow", chunked_standin(arr._pa_array))
    if isinstance(arr, pd.arrays.SparseArray):
        return ("sparse", values_standin(arr.sp_values), arr.sp_index.indices, len(arr))
    if isinstance(arr, pd.arrays.NumpyExtensionArray):  # includes StringArray (python storage)
        return ("numpy-ea", values_standin(arr._ndarray))
    # Another library's extension array: pickled as pickle would.
    return ("extension", arr.__reduce_ex__(5)[1:])


def masked_parts(data: np.ndarray[Any, Any], mask: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    """Data with what lies under the mask zeroed, and the mask."""
    if mask.any():
        data = np.where(mask, np.zeros((), data.dtype), data)
    return data, mask


def object_values(arr: np.ndarray[Any, Any]) -> Any:
    """An object array's elements (str, None, NaN, pd.NA keep their identity), pickled in C."""
    items = arr.tolist()
    if arr.ndim == 1 and is_string_array(arr, skipna=False):
        # Only strings: already canonical, so the pickler takes the list as it
        # is instead of the element-by-element canonicalisation walk.
        return _Canonical(_LIBRARY, ("strings", arr.shape, items))
    return ("objects", arr.shape, items)
