"""xarray objects: keyed by data, coordinates and metadata, not by lazily created attrs."""

from __future__ import annotations

import pytest

xr = pytest.importorskip("xarray", reason="xarray is not installed")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from recyclable import fingerprint  # noqa: E402
from recyclable.testing import check_fingerprint_contract  # noqa: E402


def _array() -> xr.DataArray:
    return xr.DataArray(
        np.arange(20_000.0).reshape(100, 200),
        dims=("x", "y"),
        coords={"x": np.arange(100) * 10, "t": ("y", pd.date_range("2020", periods=200))},
        name="temperature",
    )


def _tree(scale: float = 1.0, **attrs: object) -> xr.DataTree:
    return xr.DataTree.from_dict(
        {
            "/": xr.Dataset(attrs={"title": "run"}, coords={"x": [1, 2, 3]}),
            "/obs": xr.Dataset({"v": ("x", np.arange(3.0) * scale)}, attrs=attrs),
            "/obs/raw": xr.Dataset({"w": ("y", np.arange(20_000.0))}),
        }
    )


def _tree_read() -> xr.DataTree:
    """A tree after the reads a step does (each used to change its key)."""
    tree = _tree()
    str(tree)
    tree["obs"].ds["v"].attrs  # noqa: B018
    list(tree.subtree)
    tree.to_dict()
    return tree


def equal_pairs() -> list[tuple[object, object]]:
    return [
        (_tree(), _tree()),
        (_tree_read(), _tree()),
        (_tree_read()["obs"], _tree()["obs"]),
        (_array(), _array()),
        (_array().to_dataset(), _array().to_dataset()),
        (_array().variable, _array().variable.copy()),
    ]


def different_pairs() -> list[tuple[object, object]]:
    a = _array()
    return [
        (a, a + 1),
        (a, a.rename("pressure")),
        (a, a.assign_attrs(units="K")),
        (a, a.assign_coords(x=np.arange(100) * 20)),
        (a, a.rename({"x": "lat"})),
        (a.to_dataset(), a.to_dataset().assign_attrs(source="model")),
        (a.to_dataset(), a.to_dataset().assign(other=a * 2)),
        (_tree(), _tree(2.0)),
        (_tree(), _tree(unit="K")),
        (_tree()["obs"], _tree()),  # a node is keyed by its place in the tree
        (_tree()["obs"], _tree()["obs/raw"]),
        (_tree()["obs"], xr.DataTree(_tree()["obs"].to_dataset(), name="obs")),  # no parent
    ]


def _read(value: object) -> None:
    value.attrs  # noqa: B018 - creates the attrs dict lazily
    value.encoding  # noqa: B018
    for name in getattr(value, "coords", {}):
        value.coords[name].attrs  # noqa: B018


def test_xarray_contract(tmp_path) -> None:
    """DataArray, Dataset and Variable keep the contract, reads of attrs/encoding included."""
    check_fingerprint_contract(equal_pairs, different_pairs, read=_read, tmp_path=tmp_path)


def test_reading_attrs_and_encoding_keeps_the_key() -> None:
    """Merely reading .attrs and .encoding (which creates them) leaves the digest as it was."""
    a = _array()
    before = fingerprint(a)
    assert a.attrs == {} and a.encoding == {}
    assert a.x.attrs == {}
    assert fingerprint(a) == before


def test_file_backed_data_is_keyed_by_the_file_content(tmp_path) -> None:
    """A dataset opened lazily from a file is keyed by what it reads: an edited file misses."""
    pytest.importorskip("scipy", reason="the netCDF3 writer of xarray needs scipy")
    path = tmp_path / "data.nc"
    xr.Dataset({"v": ("x", np.arange(5.0))}).to_netcdf(path, engine="scipy")
    with xr.open_dataset(path, engine="scipy", cache=False) as opened:
        first = fingerprint(opened)
    xr.Dataset({"v": ("x", np.array([0.0, 1.0, 2.0, 3.0, 4.5]))}).to_netcdf(path, engine="scipy")
    with xr.open_dataset(path, engine="scipy", cache=False) as opened:
        edited = fingerprint(opened)
    xr.Dataset({"v": ("x", np.arange(5.0))}).to_netcdf(path, engine="scipy")
    with xr.open_dataset(path, engine="scipy", cache=False) as opened:
        restored = fingerprint(opened)
    assert edited != first
    assert restored == first
