"""A three-step pipeline over one library's data type, run as its own process by the tests.

``python datatype_pipeline.py LIBS DATA CACHE`` builds, for each library of
the comma-separated LIBS, a value of that library from the integers in the
file DATA (``make``), lets a step read it the way steps do (``peek``, which
fills the library's lazy caches), and summarises it (``use``: the largest
value, as text), each library in a pool of its own.  It prints, as one JSON
object by library, each pool's counts and the summary.  (One process runs
every library: starting an interpreter that imports torch or pandas costs
seconds, and a program using several of them is what users run too.)
"""

from __future__ import annotations

import json
import sys
from typing import Any

from recyclable import Cache, recyclable

REPEAT = 5_000  # large enough that arrays are stored out of band and loaded memory-mapped


def build(lib: str, numbers: list[int]) -> Any:
    values = numbers * REPEAT
    if lib == "pandas":
        import pandas as pd

        return pd.DataFrame({"a": pd.array([*values, None], dtype="Int64")})
    if lib == "pandas-arrow":
        import pandas as pd

        return pd.DataFrame({"a": pd.array([*values, None], dtype="int64[pyarrow]")})
    if lib == "pyarrow":
        import pyarrow as pa

        return pa.table({"a": pa.array([*values, None], type=pa.int64())})
    if lib == "polars":
        import polars as pl

        return pl.DataFrame({"a": [*values, None]})
    if lib == "torch":
        import torch

        return torch.tensor(values, dtype=torch.int64)
    if lib == "xarray":
        import numpy as np
        import xarray as xr

        return xr.DataArray(np.array(values, dtype=np.int64), dims=("x",), name="a")
    if lib == "scipy":
        import numpy as np
        import scipy.sparse as sp

        return sp.csr_matrix(np.array([values], dtype=np.int64))
    raise ValueError(lib)


def largest(lib: str, value: Any) -> str:
    if lib.startswith("pandas"):
        return str(int(value["a"].max()))
    if lib == "pyarrow":
        import pyarrow.compute as pc

        return str(pc.max(value["a"]).as_py())
    if lib == "polars":
        return str(value["a"].max())
    return str(int(value.max()))


@recyclable
def make(lib: str, text: str) -> Any:
    return build(lib, [int(word) for word in text.split()])


@recyclable
def peek(lib: str, value: Any) -> int:
    # What a step typically reads, which some libraries answer by filling a cache.
    for name in ("attrs", "encoding", "has_sorted_indices", "has_canonical_format"):
        getattr(value, name, None)
    index = getattr(value, "index", None)
    if index is not None and lib.startswith("pandas"):
        index.is_monotonic_increasing  # noqa: B018
    return 0


@recyclable
def use(lib: str, value: Any) -> str:
    return largest(lib, value)


def main() -> None:
    libs, data, cache = sys.argv[1:4]
    with open(data) as f:
        text = f.read()
    results = {}
    for lib in libs.split(","):
        with Cache(cache).create_pool(f"datatypes-{lib}", reuse=True) as pool:
            value = make(lib, text)
            peek(lib, value)
            out = use(lib, value)
        results[lib] = {"loaded": pool.stats.loaded, "computed": pool.stats.computed, "out": out}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
