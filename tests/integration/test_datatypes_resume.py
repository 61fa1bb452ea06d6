"""Library data types between steps, in fresh processes: re-runs hit, edited inputs miss."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PIPELINE = Path(__file__).with_name("datatype_pipeline.py")

LIBRARIES = {
    "pandas": "pandas",
    "pandas-arrow": "pyarrow",
    "pyarrow": "pyarrow",
    "polars": "polars",
    "torch": "torch",
    "xarray": "xarray",
    "scipy": "scipy",
}


def _run(libs: list[str], data: Path, cache: Path, seed: int) -> dict[str, object]:
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    done = subprocess.run(
        [sys.executable, str(PIPELINE), ",".join(libs), str(data), str(cache)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_rerun_hits_and_an_edit_misses(tmp_path: Path) -> None:
    """A re-run in a new process loads every step; editing 2**53 to 2**53 + 1 recomputes.

    For each library's type (every one installed, all in one process per
    run): the value passed on is the one loaded from the store
    (memory-mapped), and a step has read it in between: both must leave its
    key unchanged.  The edit changes a value float64 cannot tell apart; the
    re-run's answer must be the one the plain pipeline gives for the edited
    input.
    """
    libs = sorted(lib for lib, module in LIBRARIES.items() if importlib.util.find_spec(module))
    if not libs:
        pytest.skip("none of the libraries is installed")
    data = tmp_path / "numbers.txt"
    data.write_text(f"1 2 {2**53}\n")
    cache = tmp_path / "cache"

    def each(loaded: int, computed: int, out: int) -> dict[str, object]:
        return {lib: {"loaded": loaded, "computed": computed, "out": str(out)} for lib in libs}

    assert _run(libs, data, cache, seed=1) == each(0, 3, 2**53)
    assert _run(libs, data, cache, seed=2) == each(3, 0, 2**53)
    data.write_text(f"1 2 {2**53 + 1}\n")
    # make (new text) and every step downstream of it compute again.
    assert _run(libs, data, cache, seed=3) == each(0, 3, 2**53 + 1)
