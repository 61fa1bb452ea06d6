"""The joblib.Memory / recyclable.Memory benchmark still runs (smoke sizes) and reports its rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_memory_benchmark_smoke_mode_prints_every_row() -> None:
    """`python benchmarks/memory.py --smoke` exits 0 and prints each case with a ratio.

    The script itself stops with an error when a second fit did not load
    every transformer, so a zero exit also says both memories were reused.
    """
    env = {k: v for k, v in os.environ.items() if k != "RECYCLABLE_DISABLE"}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "memory.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "(smoke sizes)" in lines[0]
    for case in (
        "second fit, fresh process (transformers loaded)",
        "first fit, fresh process (computed and stored)",
        "second fit, mmap_mode='r'",
        "cache size after both fits",
    ):
        row = next((line for line in lines if line.startswith(case)), None)
        assert row is not None, f"row {case!r} missing from:\n{done.stdout}"
        assert row.rstrip().endswith("×")
    assert any(line.startswith("second fit / floor") for line in lines)
