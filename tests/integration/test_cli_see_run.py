"""`recyclable run` shows a run: progress lines, the step table, --json, --report; `report`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET = f"{REPO / 'tests' / 'lineage_actions.py'}:pipeline"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recyclable", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def test_progress_table_json_and_report_of_a_failed_then_resumed_run(tmp_path: Path) -> None:
    """The failed run prints progress, its table, elapsed time and kept steps; --json agrees.

    The resume's table marks the three finished steps loaded and its JSON
    document carries the same steps; --report writes a page naming each one.
    """
    cache = str(tmp_path / "cache")
    slow = {"RECYCLABLE_TEST_SLOW": "1.0", "RECYCLABLE_PROGRESS_EVERY": "0.3"}
    failed = _run("run", TARGET, "--n", "9", "--use-cache", cache,
                  RECYCLABLE_TEST_FAIL_AT="combine", **slow)  # fmt: skip
    assert failed.returncode == 1
    rows = [line.split() for line in failed.stderr.splitlines() if line.startswith("  ")]
    assert [r[:2] for r in rows if r[0] in ("source", "left", "right", "combine")] == [
        ["source", "computed"],
        ["left", "computed"],
        ["right", "computed"],
        ["combine", "failed"],
    ]
    assert "run failed after " in failed.stderr and "3 finished step(s) kept" in failed.stderr

    page = tmp_path / "run.html"
    resumed = _run("run", TARGET, "--n", "9", "--use-cache", cache, "--json",
                   "--report", str(page), **slow)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    progress = [line for line in resumed.stderr.splitlines() if "running for" in line]
    assert progress and progress[0].startswith("recyclable: combine running for")
    data = json.loads(resumed.stdout)
    assert data["ok"] is True and data["result"] == 3 * sum(range(9)) + sum(range(9)) + 9
    steps = {s["action"]: s for s in data["run"]["steps"]}
    assert [steps[a]["state"] for a in ("source", "left", "right")] == ["loaded"] * 3
    assert steps["combine"]["state"] == "computed" and steps["combine"]["seconds"] >= 1.0
    assert data["run"]["loaded"] == 3  # the recycling happened
    assert data["run"]["totals"] == {
        **data["run"]["totals"],
        "steps": 4,
        "loaded": 3,
        "computed": 1,
        "enclosing": ["pipeline"],
    }
    text = page.read_text()
    assert all(f'"key":"{s["key"]}"' in text for s in data["run"]["steps"])

    quiet = _run("run", TARGET, "--n", "10", "--use-cache", cache, "-q", **slow)
    assert quiet.returncode == 0
    assert "running for" not in quiet.stderr and "STEP" not in quiet.stderr


def test_report_command_writes_a_pools_page(tmp_path: Path) -> None:
    """`recyclable report POOL -o PATH` writes the stored entries with their lineage edges."""
    cache = str(tmp_path / "cache")
    done = _run("run", TARGET, "--n", "4", "--use-cache", cache, "--recycle-pool", "kept")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "pool.html"
    made = _run("report", "kept", "--use-cache", cache, "-o", str(out))
    assert made.returncode == 0, made.stderr
    assert "5 entries" in made.stdout
    text = out.read_text()
    assert text.count('"state":"stored"') == 5
    missing = _run("report", "nope", "--use-cache", cache, "-o", str(out))
    assert missing.returncode == 2 and "no pool 'nope'" in missing.stderr
