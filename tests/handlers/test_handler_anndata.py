"""AnnData objects are keyed by every public part, without following their back-references."""

from __future__ import annotations

import pytest

anndata = pytest.importorskip(
    "anndata",
    reason="anndata 0.12 requires pandas<3 and the test set pins pandas 3.1.1; "
    ".ci/run runs these tests in a second venv with pip install '.[test-anndata]' (pandas 2.3)",
)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from recyclable.testing import check_fingerprint_contract  # noqa: E402


def _adata(scale: float = 1.0) -> object:
    rng = np.random.default_rng(5)
    adata = anndata.AnnData(
        X=rng.random((200, 100)) * scale,
        obs=pd.DataFrame(
            {"cell": [f"c{i}" for i in range(200)]}, index=[f"o{i}" for i in range(200)]
        ),
        var=pd.DataFrame(index=[f"g{i}" for i in range(100)]),
    )
    adata.obsm["pca"] = rng.random((200, 5))
    adata.layers["counts"] = np.ones((200, 100))
    adata.uns["method"] = "test"
    return adata


def equal_pairs() -> list[tuple[object, object]]:
    return [(_adata(), _adata()), (_adata()[:50], _adata()[:50].copy())]


def different_pairs() -> list[tuple[object, object]]:
    a = _adata()
    b = _adata()
    b.uns["method"] = "other"
    c = _adata()
    c.obsm["umap"] = np.zeros((200, 2))
    d = _adata()
    d.obs["batch"] = "x"
    return [(a, _adata(2.0)), (a, b), (a, c), (a, d), (a, a[:100])]


def test_anndata_contract(tmp_path) -> None:
    """AnnData keeps the contract: stable across processes, loads match, edits change the key."""
    check_fingerprint_contract(equal_pairs, different_pairs, tmp_path=tmp_path)
