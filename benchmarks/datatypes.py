"""Fingerprints of library data types against pickle + xxh3 and the libraries' own hashing.

    python benchmarks/datatypes.py            # ~100 MB values (a few minutes)
    python benchmarks/datatypes.py --smoke    # tiny sizes: proves the script still runs
    python benchmarks/datatypes.py --only pandas,polars
    python benchmarks/run.py --only datatypes [--smoke]   # the same rows in the suite's table

For each installed library, one value of about 100 MB is fingerprinted by
``recyclable.fingerprint`` and, in the same rounds and in alternating order,
by the floor every key must beat (``pickle.dumps`` + ``xxh3_128``) and by the
library's own row hashing where it has one (``pandas.util.hash_pandas_object``,
polars ``DataFrame.hash_rows``).  Ratios above 1 mean recyclable is faster.
Machines here are shared and noisy: read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import pickle
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recyclable import fingerprint


@dataclass
class Row:
    case: str
    mbytes: float
    ours: float
    pickle: float
    own_name: str
    own: float | None


def pickle_xxh3(value: Any) -> bytes:
    return xxhash.xxh3_128_digest(pickle.dumps(value, protocol=5))


def alternate(funcs: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Median seconds of each function, run in rounds whose order alternates."""
    times: list[list[float]] = [[] for _ in funcs]
    for round_no in range(repeat):
        order = list(range(len(funcs)))
        if round_no % 2:
            order.reverse()
        for i in order:
            gc.collect()
            gc.disable()
            start = time.perf_counter()
            funcs[i]()
            times[i].append(time.perf_counter() - start)
            gc.enable()
    return [statistics.median(t) for t in times]


# --- values of about 100 MB -------------------------------------------------------------


def pandas_mixed(rows: int) -> Any:
    """1M × 10 mixed columns: the frame of the pandas row hashing comparison."""
    import pandas as pd

    rng = np.random.default_rng(0)
    ints = rng.integers(0, 1 << 40, rows)
    return pd.DataFrame(
        {
            "int64": ints,
            "float64": rng.random(rows),
            "Int64": pd.array(np.where(ints % 11 == 0, 0, ints), dtype="Int64"),
            "bool": ints % 2 == 0,
            "str": pd.Series([f"name{i % 5000}" for i in range(rows)], dtype="str"),
            "category": pd.Categorical.from_codes(ints % 50, [f"c{i}" for i in range(50)]),
            "tz": pd.date_range("2024-01-01", periods=rows, freq="s", tz="Europe/Paris"),
            "Float64": pd.array(rng.random(rows), dtype="Float64"),
            "int64[pyarrow]": pd.array(ints, dtype="int64[pyarrow]"),
            "timedelta": pd.to_timedelta(ints % 10_000, unit="s"),
        }
    )


def pandas_multiindex(rows: int) -> Any:
    import pandas as pd

    rng = np.random.default_rng(1)
    n = rows * 4
    index = pd.MultiIndex.from_arrays(
        [
            rng.integers(0, 1000, n),
            np.array([f"k{i}" for i in range(300)], dtype=object)[np.arange(n) % 300],
        ],
        names=["a", "b"],
    )
    return pd.DataFrame({"x": rng.random(n), "y": rng.random(n)}, index=index)


def numpy_strings(rows: int) -> Any:
    return np.array([f"string number {i}" for i in range(rows)], dtype=np.dtypes.StringDType())


def pyarrow_table(rows: int) -> Any:
    import pyarrow as pa

    rng = np.random.default_rng(2)
    return pa.table(
        {
            **{f"i{k}": rng.integers(0, 1 << 40, rows) for k in range(6)},
            "f": rng.random(rows),
            "s": pa.array([f"value {i % 10_000}" for i in range(rows)]),
        }
    )


def polars_frame(rows: int) -> Any:
    import polars as pl

    rng = np.random.default_rng(3)
    return pl.DataFrame(
        {
            **{f"i{k}": rng.integers(0, 1 << 40, rows) for k in range(6)},
            "f": rng.random(rows),
            "s": [f"value {i % 10_000}" for i in range(rows)],
        }
    )


def xarray_dataset(rows: int) -> Any:
    import xarray as xr

    rng = np.random.default_rng(4)
    cols = 100
    times = rows * 12 // cols  # 12.5 M float64 values: 100 MB
    return xr.Dataset(
        {"t": (("time", "site"), rng.random((times, cols)))},
        coords={"time": np.arange(times), "site": [f"s{i}" for i in range(cols)]},
        attrs={"source": "model"},
    )


def scipy_csr(rows: int) -> Any:
    import scipy.sparse as sp

    nnz = rows * 8  # 8 M stored values: float64 data + int32 indices ≈ 100 MB
    rng = np.random.default_rng(5)
    n = max(10, rows // 10)
    return sp.csr_matrix(
        (rng.random(nnz), (rng.integers(0, n, nnz), rng.integers(0, n, nnz))), shape=(n, n)
    )


def torch_tensor(rows: int) -> Any:
    import torch

    return torch.rand(rows, 25)


def skbio_dna(rows: int) -> Any:
    import skbio

    return skbio.DNA(np.random.default_rng(6).choice(list(b"ACGT"), rows * 100).astype(np.uint8))


def anndata_object(rows: int) -> Any:
    import anndata
    import pandas as pd

    rng = np.random.default_rng(7)
    cells = rows // 10  # 100k cells × 250 genes of float32: 100 MB
    return anndata.AnnData(
        X=rng.random((cells, 250), dtype=np.float32),
        obs=pd.DataFrame(
            {"batch": pd.Categorical.from_codes(np.arange(cells) % 4, list("abcd"))},
            index=[f"cell{i}" for i in range(cells)],
        ),
        var=pd.DataFrame(index=[f"gene{i}" for i in range(250)]),
        obsm={"pca": rng.random((cells, 20))},
    )


CASES: dict[str, tuple[str, str, Callable[[int], Any]]] = {
    # name: (module that must be installed, description, builder)
    "pandas": ("pandas", "pandas DataFrame 1M × 10 mixed columns", pandas_mixed),
    "pandas-multiindex": ("pandas", "pandas DataFrame on a MultiIndex", pandas_multiindex),
    "numpy": ("numpy", "numpy StringDType array of 1M strings", numpy_strings),
    "pyarrow": ("pyarrow", "pyarrow Table 8 columns", pyarrow_table),
    "polars": ("polars", "polars DataFrame 8 columns", polars_frame),
    "xarray": ("xarray", "xarray Dataset", xarray_dataset),
    "scipy": ("scipy", "scipy.sparse csr_matrix", scipy_csr),
    "torch": ("torch", "torch float32 tensor", torch_tensor),
    "skbio": ("skbio", "scikit-bio DNA sequence", skbio_dna),
    "anndata": ("anndata", "AnnData 100k cells × 250 genes", anndata_object),
}


def own_hashing(name: str, value: Any) -> tuple[str, Callable[[], Any] | None]:
    if name.startswith("pandas"):
        import pandas as pd

        return "hash_pandas_object", lambda: pd.util.hash_pandas_object(value, index=True)
    if name == "polars":
        return "hash_rows", value.hash_rows
    return "", None


def size_of(value: Any) -> float:
    return len(pickle.dumps(value, protocol=5)) / 1e6


def measure(chosen: list[str], smoke: bool) -> list[Row | str]:
    """One `Row` per installed case (a string saying why for a skipped one)."""
    rows, repeat = (2_000, 2) if smoke else (1_000_000, 7)
    results: list[Row | str] = []
    for name in chosen:
        module, description, build = CASES[name]
        if importlib.util.find_spec(module) is None:
            results.append(f"{description}: skipped, {module} is not installed")
            continue
        value = build(rows)
        fingerprint(value)  # warm: handler lookup, lazy imports
        own_name, own = own_hashing(name, value)
        funcs: list[Callable[[], Any]] = [
            lambda v=value: fingerprint(v),
            lambda v=value: pickle_xxh3(v),
        ]
        if own is not None:
            funcs.append(own)
        times = alternate(funcs, repeat)
        results.append(
            Row(
                description,
                size_of(value),
                times[0],
                times[1],
                own_name,
                times[2] if own else None,
            )
        )
        del value
    return results


def rows(smoke: bool, row_type: Any) -> list[Any]:
    """The group's rows for ``benchmarks/run.py --only datatypes``: two per type with a peer."""
    out: list[Any] = []
    for row in measure(list(CASES), smoke):
        if isinstance(row, str):
            print(row, file=sys.stderr)
            continue
        case = f"{row.case} ({row.mbytes:.3g} MB)"
        out.append(row_type("datatypes", case, row.ours, "pickle + xxh3_128", row.pickle, "≥ 1×"))
        if row.own is not None:
            out.append(row_type("datatypes", case, row.ours, row.own_name, row.own, "≥ 1.5×"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(CASES))
    args = parser.parse_args(argv)
    chosen = [c for c in args.only.split(",") if c] or list(CASES)
    print(f"# {platform.node()} · Python {platform.python_version()} · {platform.machine()}")
    print(f"{'case':<44} {'MB':>7} {'ours':>9} {'vs pickle+xxh3':>15} {'vs own hashing':>24}")
    for row in measure(chosen, args.smoke):
        if isinstance(row, str):
            print(row)
            continue
        own_text = f"{row.own / row.ours:6.2f}× ({row.own_name})" if row.own is not None else "—"
        print(
            f"{row.case:<44} {row.mbytes:7.1f} {row.ours * 1e3:7.1f}ms "
            f"{row.pickle / row.ours:14.2f}× {own_text:>24}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
