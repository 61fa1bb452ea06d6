"""The data-type benchmark still runs (tiny sizes; timings are not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_datatype_benchmark_runs_in_smoke_mode() -> None:
    """Each installed library gets a row with both ratios, pandas and polars their own hashing."""
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "datatypes.py"), "--smoke"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    assert "pandas DataFrame 1M × 10 mixed columns" in out
    assert "(hash_pandas_object)" in out
    for case in ["numpy StringDType array", "pyarrow Table", "polars DataFrame", "torch float32"]:
        assert case in out, f"benchmark row {case!r} missing from:\n{out}"
    assert "(hash_rows)" in out or "polars is not installed" in out
