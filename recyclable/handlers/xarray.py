"""xarray: variables, data arrays and datasets keyed by dims, data, coordinates and metadata.

``attrs`` and ``encoding`` are created lazily: a step that merely reads
``da.attrs`` turns ``None`` into ``{}`` inside the object, and plain pickling
would then give the next step another key.  Here an empty and a missing
mapping are the same; non-empty ``attrs`` and ``encoding`` (which decides how
``to_netcdf`` writes) are keyed.  Index coordinates are keyed through the
pandas index they wrap, and the type of each index (``PandasIndex`` or a custom
one) is part of the key.  Dask-backed data is refused (its graph names tasks,
not values): call ``.load()`` or ``.compute()`` first.  Lazily loaded file
data is keyed by its content, read as a step would.  A ``DataTree`` is keyed
by its whole tree, node by node, and the node's path in it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from recyclable.handlers._base import Reducer, refuse, standin, type_name


def handler_for(cls: type) -> Reducer | None:
    """The reducer for xarray types this module covers."""
    datatree = getattr(xr, "DataTree", None)
    if datatree is not None and issubclass(cls, datatree):
        return standin("xarray.DataTree", datatree_standin)
    if issubclass(cls, xr.Dataset):
        return standin("xarray.Dataset", dataset_standin)
    if issubclass(cls, xr.DataArray):
        return standin("xarray.DataArray", dataarray_standin)
    if issubclass(cls, xr.Variable):
        return standin("xarray.Variable", variable_standin)
    return None


def variable_standin(var: xr.Variable) -> Any:
    """Type, dims, data, attrs and encoding (empty and missing alike)."""
    return (
        type_name(type(var)),
        tuple(var.dims),
        _data(var),
        dict(var._attrs or {}),
        dict(var._encoding or {}),
    )


def _data(var: xr.Variable) -> Any:
    data = var._data
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "__dask_graph__"):
        raise refuse(
            var,
            "its data is a dask array, whose graph names tasks rather than values; "
            "call .load() or .compute() on it before passing it",
        )
    index = getattr(data, "array", None)
    pandas = type(index).__module__.startswith("pandas") if index is not None else False
    if pandas:
        return ("pandas", index, str(var.dtype), getattr(data, "level", None))
    return np.asarray(var.values)


def _indexes(obj: Any) -> Any:
    return [(name, type_name(type(index))) for name, index in obj.xindexes.items()]


def dataarray_standin(da: xr.DataArray) -> Any:
    """Name, the variable, coordinates in order, index types."""
    coords = [(name, variable_standin(var)) for name, var in da._coords.items()]
    return (da.name, variable_standin(da.variable), coords, _indexes(da))


def dataset_standin(ds: xr.Dataset) -> Any:
    """Variables in order, which are coordinates, attrs, encoding, index types."""
    variables = [(name, variable_standin(var)) for name, var in ds._variables.items()]
    return (
        variables,
        sorted(ds._coord_names, key=str),
        dict(ds._attrs or {}),
        dict(ds._encoding or {}),
        _indexes(ds),
    )


def datatree_standin(node: Any) -> Any:
    """The whole tree, node by node in pre-order, and this node's path in it.

    A node points to its parent and its children (a cycle), and a read
    (``.ds``, ``str()``, walking ``subtree``) fills caches inside it, so
    plain pickling gave another key after any read and after a load.  Each
    node is keyed by its name, its own variables, attributes and encoding (no
    inherited coordinates: the ancestors that hold them are keyed too) and the
    names of its children in order.  A node inside a larger tree is keyed by
    that tree and its path: a step can walk up through ``parent``.
    """
    root = node.root
    nodes: list[Any] = []
    stack = [root]
    while stack:
        current = stack.pop()
        children = list(current.children.values())
        own = current.to_dataset(inherit=False)
        nodes.append(
            (
                type_name(type(current)),
                current.name,
                dataset_standin(own),
                [c.name for c in children],
            )
        )
        stack.extend(reversed(children))
    return (nodes, node.relative_to(root) if node is not root else "")
