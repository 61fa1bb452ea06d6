"""scipy.sparse matrices and arrays, keyed by format, shape, dtype and their index/data arrays.

Pickle keeps a sparse matrix's ``__dict__``, which also holds caches scipy
fills when a step merely reads it (``has_sorted_indices``,
``has_canonical_format``, ...): the next step would miss.  Here only the
arrays that make the value are keyed, each hashed in place: ``data``,
``indices`` and ``indptr`` (CSR, CSC, BSR, with the block size), ``row``/``col``
or ``coords`` (COO), ``offsets`` (DIA), rows (LIL) and items (DOK).  The
class (``csr_matrix`` or ``csr_array``) is part of the key: they behave
differently under ``*``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recyclable.handlers._base import Reducer, standin


def handler_for(cls: type) -> Reducer | None:
    """The reducer for scipy.sparse types this module covers."""
    base = getattr(sp, "_base", None)
    sparse_base = getattr(base, "_spbase", None) if base is not None else None
    if sparse_base is not None and issubclass(cls, sparse_base):
        return standin("scipy.sparse", sparse_standin)
    return None


def sparse_standin(matrix: Any) -> Any:
    """Format, shape, dtype and the arrays of that format."""
    fmt = matrix.format
    head = (fmt, tuple(matrix.shape), matrix.dtype.str)
    if fmt in ("csr", "csc"):
        return (*head, matrix.data, matrix.indices, matrix.indptr)
    if fmt == "bsr":
        return (*head, matrix.blocksize, matrix.data, matrix.indices, matrix.indptr)
    if fmt == "coo":
        coords = getattr(matrix, "coords", None) or (matrix.row, matrix.col)
        return (*head, matrix.data, list(coords))
    if fmt == "dia":
        return (*head, matrix.data, matrix.offsets)
    if fmt == "lil":
        return (*head, matrix.rows.tolist(), matrix.data.tolist())
    if fmt == "dok":
        items = sorted(matrix.items())
        keys = [key for key, _ in items]
        values = np.array([value for _, value in items], dtype=matrix.dtype)
        return (*head, keys, values)
    return (*head, matrix.tocoo(copy=False))
