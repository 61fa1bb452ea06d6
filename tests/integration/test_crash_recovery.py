"""kill -9 at each step of the write protocol: no partial entry is ever loaded, the rerun
recomputes only the interrupted step, and garbage collection removes the debris."""

from __future__ import annotations

import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pipeline_actions as actions
import pytest
from children import call_args, child_env

from recyclable import Cache, RecyclableWarning

# (crash point, occurrence): prepare's store has no blob, so "mid-blob" is first
# reached in big_step; every other point is reached once by prepare first.
CRASHES = {
    "mid-blob": 1,
    "after-blob": 2,
    "after-marker": 2,
    "before-publish": 2,
    "after-publish": 2,
}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("point", sorted(CRASHES))
def test_kill_at_each_write_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """After SIGKILL at ``point``: no torn entry loads, only big_step reruns, gc cleans up."""
    cache_dir = tmp_path / "cache"
    log = tmp_path / "log"
    Cache(cache_dir)
    proc = subprocess.run(
        call_args(cache_dir, "p", "two_steps", 5),
        env=child_env(log, RECYCLABLE_TEST_CRASH_AT=f"{point}#{CRASHES[point]}"),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert actions.executions(log) == ["prepare", "big_step"]

    cache = Cache(cache_dir)
    # The dead writer's staging files and lease go at once, whatever their age.
    report = cache.garbage_collect()
    assert _files(cache_dir / "tmp") == []
    assert _files(cache_dir / "leases") == []
    if point in ("mid-blob", "before-publish"):
        assert report.temporary >= 1
    assert report.leases == 1
    # With no writer running, grace 0 reclaims the blob the dead writer never published.
    cache.garbage_collect(grace=0)
    manifests = _files(cache_dir / "entries")
    blobs = {p.name for p in _files(cache_dir / "objects")}
    published = point == "after-publish"
    assert len(manifests) == (2 if published else 1)
    assert (len(blobs) == 1) is published

    monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with cache.create_pool("p", reuse=True):
            result = actions.two_steps(5)
    np.testing.assert_array_equal(result, np.random.default_rng(35).random(1_000_000))
    expected_runs = ["prepare", "big_step"] + ([] if published else ["big_step"])
    assert actions.executions(log) == expected_runs
    # A pool that had marked the entry says the interrupted store happened.
    messages = [str(w.message) for w in caught if issubclass(w.category, RecyclableWarning)]
    if point in ("after-marker", "before-publish"):
        assert len(messages) == 1 and "manifest is missing" in messages[0]
    else:
        assert messages == []
    assert Cache(cache_dir).verify().ok


@pytest.mark.parametrize("point", ["mid-blob", "after-publish#1"])
def test_crash_variable_does_nothing_in_a_normal_process(tmp_path: Path, point: str) -> None:
    """RECYCLABLE_TEST_CRASH_AT set in a process the suite did not arm: it stores, exits 0."""
    cache_dir = tmp_path / "cache"
    log = tmp_path / "log"
    script = (
        "import sys, pipeline_actions\n"
        "pipeline_actions.call(sys.argv[1], 'p', 'two_steps', 5)\n"
        "pipeline_actions.call(sys.argv[1], 'p', 'two_steps', 5)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(cache_dir)],
        env=child_env(log, RECYCLABLE_TEST_CRASH_AT=point),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    # Both steps were stored (each passes every crash point) and the second call loaded them.
    assert actions.executions(log) == ["prepare", "big_step"]
    assert len(_files(cache_dir / "entries")) == 2
