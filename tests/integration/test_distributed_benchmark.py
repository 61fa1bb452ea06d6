"""The distributed benchmark script still runs (smoke sizes) and reports every row."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_distributed_benchmark_smoke_mode_prints_the_table() -> None:
    """`python benchmarks/distributed.py --smoke` exits 0 and prints each case with a ratio."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "distributed.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "(smoke sizes)" in lines[0]
    rows = [line for line in lines if line.startswith(("parallel ", "s3 "))]
    assert len(rows) == 9, done.stdout
    assert sum(row.startswith("parallel ") for row in rows) == 5
    assert sum("hit," in row for row in rows) == 2
    assert all(row.rstrip().endswith("×") for row in rows)
