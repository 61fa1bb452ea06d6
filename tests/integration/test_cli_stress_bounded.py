"""A bounded run of tests/stress/stress_concurrent_runs.py, collected by pytest."""

from __future__ import annotations

from pathlib import Path

import pytest
from stress.stress_concurrent_runs import run_stress

pytestmark = pytest.mark.slow


def test_concurrent_runs_with_failures_and_resumes_leave_nothing_behind(tmp_path: Path) -> None:
    """Six concurrent runs (three failing, then resumed), twice: all succeed, steps are loaded,
    nothing is left."""
    assert run_stress(tmp_path, processes=6, rounds=2) == []
