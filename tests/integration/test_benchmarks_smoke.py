"""The benchmark suite still runs (tiny sizes; timings are not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_benchmark_suite_runs_in_smoke_mode() -> None:
    """Every benchmark group produces its rows side by side with its peer."""
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--smoke"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    for case in [
        "raw xxh3_128",
        "dict of 10k str→int",
        "key of a call with 3 scalars",
        "no active pool",
        "hit, trivial f(int)",
        "miss end to end, files kept, mutation check on",
        "miss end to end, files kept, mutation check off",
        "miss end to end, pages reused",
        "miss end to end, files kept, fed by the previous step's stored result",
        "miss of f(int) end to end",
        "hit, trivial f(int) vs the floor",
        "2 processes hitting one pool",
        "2 processes reading a small file",
        "21-step resume",
        "reading the final result once",
        "page cache",
        "hit with 300 entries",
        "cache info, 300 entries",
        "cache gc, 300 entries",
        "2 processes storing",
        "first code key, 20 user functions",
        "revalidate 64 dependencies",
        "fresh-process resume of 20 steps",
        "nested dict, depth 5",
        "round-trip check",
    ]:
        assert case in out, f"benchmark row {case!r} missing from:\n{out}"
