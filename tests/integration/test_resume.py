"""Fail, kill and resume real pipeline processes; change inputs and see only dependents re-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from recyclable import Cache

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent


def _run(
    cache: Path, log: Path, *params: str, fail_at: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)]),
        "RECYCLABLE_TEST_LOG": str(log),
    }
    env.pop("RECYCLABLE_TEST_FAIL_AT", None)
    if fail_at:
        env["RECYCLABLE_TEST_FAIL_AT"] = fail_at
    return subprocess.run(
        [sys.executable, "-m", "pipeline_actions", str(cache), "pool", *params],
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def _ran(log: Path) -> list[str]:
    lines = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


ALL = ["load_reads", "denoise", "feature_table", "load_metadata", "diversity"]


def test_fail_then_resume_across_processes(tmp_path: Path) -> None:
    """After a failure at step k, a new process loads the steps before k and runs the rest."""
    cache, log = tmp_path / "cache", tmp_path / "log"
    failed = _run(cache, log, fail_at="feature_table", check=False)
    assert failed.returncode != 0
    assert "feature_table failed on purpose" in failed.stderr
    assert _ran(log) == ["load_reads", "denoise", "feature_table"]

    resumed = _run(cache, log)
    assert _ran(log) == ["feature_table", "load_metadata", "diversity"]

    again = _run(cache, log)
    assert _ran(log) == []
    assert again.stdout == resumed.stdout


def test_changed_input_reruns_only_its_dependents(tmp_path: Path) -> None:
    """Changing one pipeline input re-runs the steps that depend on it; the other branch loads."""
    cache, log = tmp_path / "cache", tmp_path / "log"
    _run(cache, log)
    assert _ran(log) == ALL

    _run(cache, log, "samples=6")  # only the metadata branch depends on it
    assert _ran(log) == ["load_metadata", "diversity"]

    _run(cache, log, "min_quality=30")  # the reads branch from denoise on
    assert _ran(log) == ["denoise", "feature_table", "diversity"]

    _run(cache, log, "seed=2")  # everything downstream of the reads
    assert _ran(log) == ["load_reads", "denoise", "feature_table", "diversity"]

    _run(cache, log)  # the original inputs: all stored
    assert _ran(log) == []


def test_default_arguments_match_explicit_ones(tmp_path: Path) -> None:
    """A run with defaults spelled out reuses the run that left them implicit."""
    cache, log = tmp_path / "cache", tmp_path / "log"
    _run(cache, log)
    _ran(log)
    _run(cache, log, "n=5000", "seed=1", "min_quality=20", "samples=4")
    assert _ran(log) == []


def test_kill_9_mid_pipeline_then_resume(tmp_path: Path) -> None:
    """A pipeline killed with SIGKILL in a step resumes from the steps that had finished."""
    cache, log = tmp_path / "cache", tmp_path / "log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)]),
        "RECYCLABLE_TEST_LOG": str(log),
        "RECYCLABLE_TEST_HANG_AT": "feature_table",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline_actions", str(cache), "pool"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    hang = Path(str(log) + ".hang")
    deadline = time.monotonic() + 60
    while not hang.exists():
        assert proc.poll() is None, "pipeline exited before reaching the hanging step"
        assert time.monotonic() < deadline, "pipeline never reached the hanging step"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert _ran(log) == ["load_reads", "denoise", "feature_table"]

    _run(cache, log)
    assert _ran(log) == ["feature_table", "load_metadata", "diversity"]


def _in_worker(cache_dir: str, n: int) -> tuple[int, int]:
    import pipeline_actions

    pool = Cache(cache_dir).create_pool("workers", reuse=True)
    with pool:
        pipeline_actions.load_reads(n, 3)
    return pool.stats.loaded, pool.stats.computed


def test_decorated_function_through_a_spawn_process_pool(tmp_path: Path) -> None:
    """A decorated function pickles by reference and recycles inside spawned workers."""
    import pipeline_actions

    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as executor:
        assert executor.submit(pipeline_actions.load_metadata, 3).result() == {
            "sample": [0, 1, 2],
            "group": [0, 1, 0],
        }
        first = executor.submit(_in_worker, str(tmp_path / "c"), 100).result()
        second = executor.submit(_in_worker, str(tmp_path / "c"), 100).result()
    assert first == (0, 1)
    assert second == (1, 0)


@pytest.mark.slow
def test_example_pipeline_fails_then_resumes(tmp_path: Path) -> None:
    """The README's example: a failed run keeps finished steps, the re-run loads them.

    Both runs end with the step table on stderr and write the report page,
    whose nodes are the run's steps with their states.
    """
    script = REPO / "examples" / "pipeline.py"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    small = ["--samples", "4", "--reads", "5000"]
    failed = subprocess.run(
        [sys.executable, str(script), *small, "--fail-at", "beta_diversity"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert failed.returncode == 1
    assert "6 finished step(s) kept in pool amplicon-example" in failed.stderr
    assert "run failed after " in failed.stderr
    failed_rows = [line.split() for line in failed.stderr.splitlines() if line.startswith("  ")]
    assert failed_rows[-1][:2] == ["beta_diversity", "failed"]
    page = (tmp_path / "amplicon-report.html").read_text()
    assert page.count('"state":"failed"') == 2  # beta_diversity and analyze, which ran it
    resumed = subprocess.run(
        [sys.executable, str(script), *small],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "6 loaded" in resumed.stderr and "2 computed" in resumed.stderr
    assert "not counted: analyze, which ran them" in resumed.stderr
    rows = {line.split()[0]: line.split()[1] for line in resumed.stderr.splitlines()
            if line.startswith("  ")}  # fmt: skip
    assert rows["dereplicate"] == "loaded" and rows["ordinate"] == "computed"
    assert "loaded dereplicate" in resumed.stdout
    page = (tmp_path / "amplicon-report.html").read_text()
    assert page.count('"state":"loaded"') == 6
    assert "computing beta_diversity" in resumed.stdout
