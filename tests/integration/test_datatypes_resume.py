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


def _run(lib: str, data: Path, cache: Path, seed: int) -> dict[str, object]:
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    done = subprocess.run(
        [sys.executable, str(PIPELINE), lib, str(data), str(cache)],
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
@pytest.mark.parametrize("lib", sorted(LIBRARIES))
def test_rerun_hits_and_an_edit_misses(lib: str, tmp_path: Path) -> None:
    """A re-run in a new process loads every step; editing 2**53 to 2**53 + 1 recomputes.

    The value passed on is the one loaded from the store (memory-mapped), and
    a step has read it in between: both must leave its key unchanged.  The
    edit changes a value float64 cannot tell apart; the re-run's answer must
    be the one the plain pipeline gives for the edited input.
    """
    if importlib.util.find_spec(LIBRARIES[lib]) is None:
        pytest.skip(f"{LIBRARIES[lib]} is not installed")
    data = tmp_path / "numbers.txt"
    data.write_text(f"1 2 {2**53}\n")
    cache = tmp_path / "cache"
    first = _run(lib, data, cache, seed=1)
    assert first == {"loaded": 0, "computed": 3, "out": str(2**53)}
    again = _run(lib, data, cache, seed=2)
    assert again == {"loaded": 3, "computed": 0, "out": str(2**53)}
    data.write_text(f"1 2 {2**53 + 1}\n")
    edited = _run(lib, data, cache, seed=3)
    assert edited["out"] == str(2**53 + 1)
    assert edited["computed"] == 3  # make (new text) and every step downstream of it
