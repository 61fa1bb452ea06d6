"""dask collections (arrays, data frames, bags, delayed values): refused, not keyed by graph.

A dask collection is a task graph: it names the functions it will call and
the files it will read, not the values they give.  Keyed by its graph, a
``dask.delayed(np.load, pure=True)(path)`` keeps its key when the file is
edited (a stale result), and a graph with random task names (``read_csv``,
impure delayed calls) gets another key in every process (never a hit).  So a
collection is refused with the fix: pass ``x.compute()``, whose value is what
a step reads.  (xarray objects, which also speak dask's protocol, have their
own handler; a ``distributed`` future is resolved by the scheduler before a
step sees it.)
"""

from __future__ import annotations

from typing import Any

from recyclable.handlers._base import Reducer, refuse, standin


def handler_for(cls: type) -> Reducer | None:
    """The reducer for dask's own collection types: one that refuses them."""
    if cls.__module__.split(".", 1)[0] == "dask" and hasattr(cls, "__dask_graph__"):
        return standin("dask.collection", _refuse_collection)
    return None


def _refuse_collection(collection: Any) -> Any:
    raise refuse(
        collection,
        "a dask collection is a task graph that names the functions it calls and the files "
        "it reads, not their values, so its key could not see an edited file or function; "
        "pass x.compute() instead",
    )
