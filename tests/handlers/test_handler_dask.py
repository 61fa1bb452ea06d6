"""dask collections are refused with the fix, never keyed by a graph that names files."""

from __future__ import annotations

import pytest

dask = pytest.importorskip("dask", reason="the Dask tests need the test extra")
np = pytest.importorskip("numpy")

import dask.array as da  # noqa: E402

from recyclable import FingerprintError, fingerprint  # noqa: E402


def test_array_reading_a_file_by_name_is_refused(tmp_path) -> None:
    """A dask array whose graph loads a file by path is refused (its key could not see an edit).

    Keyed by its graph, a pure delayed ``np.load(path)`` kept its key after the
    file changed: a stale result.
    """
    path = tmp_path / "values.npy"
    np.save(path, np.arange(10.0))
    lazy = da.from_delayed(dask.delayed(np.load, pure=True)(str(path)), shape=(10,), dtype=float)
    with pytest.raises(FingerprintError, match=r"compute\(\)") as info:
        fingerprint(lazy, where="argument 'values'")
    assert "argument 'values'" in str(info.value)
    assert "dask" in str(info.value)


@pytest.mark.parametrize("kind", ["array", "delayed", "bag"])
def test_every_dask_collection_is_refused(kind: str) -> None:
    """Arrays, delayed values and bags alike, also inside a container."""
    if kind == "array":
        value: object = da.ones(4, chunks=2)
    elif kind == "delayed":
        value = dask.delayed(sum)([1, 2])
    else:
        bag = pytest.importorskip("dask.bag")
        value = bag.from_sequence([1, 2, 3], npartitions=1)
    with pytest.raises(FingerprintError, match=r"compute\(\)"):
        fingerprint({"data": [value]})


def test_computed_values_are_keyed_by_content() -> None:
    """The value a collection computes is keyed like any array: the fix works."""
    assert fingerprint(da.arange(6, chunks=3).compute()) == fingerprint(np.arange(6))
