"""Probes run by test_hermetic.py in a pytest child whose caller exported RECYCLABLE_* variables.

Not collected by the normal run (its name does not start with ``test_``): only
a child pytest given this file by name, with a hostile environment, runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recyclable import Cache, recyclable

HOSTILE = json.loads(os.environ.get("HERMETIC_PROBE_HOSTILE", "{}"))

RUNS: list[int] = []


@recyclable
def double(x: int) -> int:
    RUNS.append(x)
    return 2 * x


@pytest.fixture(scope="module")
def child_view() -> Iterator[dict[str, str]]:
    """What a process started by a module-scoped fixture (a Dask cluster's worker) sees."""
    code = (
        "import json, os; "
        "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('RECYCLABLE_')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    yield json.loads(out.stdout)


def _caller_values_absent(env: dict[str, str]) -> None:
    for name, value in HOSTILE.items():
        assert env.get(name) != value, name


def test_module_fixture_child_sees_none_of_the_callers_variables(
    child_view: dict[str, str],
) -> None:
    """A child started before any function fixture sees none of the caller's RECYCLABLE_*."""
    assert HOSTILE  # the parent test did export them
    _caller_values_absent(child_view)


def test_undo_falls_back_to_a_clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """After monkeypatch.undo() recycling still works and the caller's cache is not the default."""
    monkeypatch.setenv("UNRELATED_PROBE_VARIABLE", "1")
    monkeypatch.undo()
    _caller_values_absent(dict(os.environ))
    assert Cache().path != Path(HOSTILE["RECYCLABLE_CACHE"])
    with Cache(tmp_path / "c").create_pool("p") as pool:
        double(3)
        double(3)
    assert pool.stats.loaded == 1
    assert RUNS == [3]
