"""AnnData: the matrix, annotations, multi-dimensional annotations, layers and ``uns``.

An AnnData's mappings (``obsm``, ``layers``, ...) point back to the object,
a reference cycle that made plain recursion fail.  Here it is keyed by what a
step reads through its public attributes: ``X``, ``obs``, ``var``, ``obsm``,
``varm``, ``obsp``, ``varp``, ``layers`` (each mapping in insertion order),
``uns`` and ``raw``.  A view is keyed like the copy it stands for (and costs
that copy).  A backed
AnnData reads ``X`` from a file on demand and is refused: load it with
``adata.to_memory()`` first.
"""

from __future__ import annotations

from typing import Any

import anndata

from recyclable.handlers._base import Reducer, refuse, standin

_MAPPINGS = ("obsm", "varm", "obsp", "varp", "layers")


def handler_for(cls: type) -> Reducer | None:
    """The reducer for anndata types this module covers."""
    if issubclass(cls, anndata.AnnData):
        return standin("anndata.AnnData", anndata_standin)
    return None


def anndata_standin(adata: anndata.AnnData) -> Any:
    """Every public part of the object, mappings in insertion order."""
    if adata.isbacked:
        raise refuse(
            adata,
            "a backed AnnData reads its matrix from a file on demand; "
            "pass adata.to_memory() instead",
        )
    if adata.is_view:
        # A view's parts are view classes that point back to the parent
        # object; the copy it stands for holds exactly what a step reads.
        adata = adata.copy()
    mappings = [(name, list(getattr(adata, name).items())) for name in _MAPPINGS]
    raw = adata.raw
    raw_part = None if raw is None else (raw.X, raw.var, list(raw.varm.items()))
    return (adata.X, adata.obs, adata.var, mappings, dict(adata.uns), raw_part)
