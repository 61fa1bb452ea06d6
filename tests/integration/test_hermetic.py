"""The suite does not depend on the caller's environment: RECYCLABLE_* exported by the caller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_suite_ignores_exported_recyclable_variables(tmp_path: Path) -> None:
    """With RECYCLABLE_DISABLE/CACHE/SECRET exported, probes of fixtures and undo() pass."""
    hostile = {
        "RECYCLABLE_DISABLE": "1",
        "RECYCLABLE_CACHE": str(tmp_path / "callers-cache"),
        "RECYCLABLE_SECRET": "callers-secret",
        "RECYCLABLE_TEST_FAIL_AT": "double",
    }
    env = {**os.environ, **hostile, "HERMETIC_PROBE_HOSTILE": json.dumps(hostile)}
    probe = REPO / "tests" / "unit" / "hermetic_probe.py"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert not (tmp_path / "callers-cache").exists()
