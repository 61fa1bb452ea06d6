"""Real ``recyclable`` processes: the console script, kill -9 and resume, concurrent runs."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, executions, finish, process_env, start, wait_for

pytestmark = pytest.mark.slow

POOL = "recycle_pipes_analyze_" + hashlib.sha1(b"pipes_analyze").hexdigest()


def _markers(cache: Path, pool: str) -> set[str]:
    root = cache / "pools" / pool
    if not root.exists():
        return set()
    return {p.name for p in root.glob("[0-9a-f][0-9a-f]/*")}


def _has_entry(cache: Path, key: str) -> bool:
    return (cache / "entries" / key[:2] / f"{key}.json").exists()


def test_console_script_fails_then_resumes(plugin_path: Path, tmp_path: Path) -> None:
    """The `recyclable` console script (recyclable.cli:main): fail, keep the pool, resume."""
    # The launcher pip writes for [project.scripts] `recyclable = "recyclable.cli:main"`.
    scripts = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^recyclable = "recyclable\.cli:main"$', scripts, re.MULTILINE)
    launcher = tmp_path / "recyclable"
    launcher.write_text(
        f"#!{sys.executable}\nimport sys\nfrom recyclable.cli import main\nsys.exit(main())\n"
    )
    launcher.chmod(0o755)
    cache, log = tmp_path / "cache", tmp_path / "run.log"
    env = process_env(
        plugin_path, RECYCLABLE_TEST_LOG=str(log), RECYCLABLE_TEST_FAIL_AT="feature_table"
    )
    args = [str(launcher), "run", "pipes", "analyze", "--n", "400", "--use-cache", str(cache)]
    failed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert failed.returncode == 1
    assert "2 finished step(s) kept" in failed.stderr
    assert (cache / "pools" / POOL).is_dir()
    del env["RECYCLABLE_TEST_FAIL_AT"]
    resumed = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    assert executions(log) == [
        "load_reads",
        "denoise",
        "feature_table",
        "feature_table",
        "load_metadata",
        "diversity",
    ]
    assert not (cache / "pools" / POOL).exists()


def test_kill_9_then_resume(plugin_path: Path, tmp_path: Path) -> None:
    """A run killed with SIGKILL keeps its finished steps; the re-run resumes, removes the pool."""
    cache, log = tmp_path / "cache", tmp_path / "run.log"
    args = ["run", "pipes", "analyze", "--n", "400", "--use-cache", str(cache)]
    env = process_env(plugin_path, RECYCLABLE_TEST_LOG=str(log))
    victim = start(args, {**env, "RECYCLABLE_TEST_HANG_AT": "feature_table"}, tmp_path)
    wait_for(Path(f"{log}.hang"), victim)
    os.kill(victim.pid, signal.SIGKILL)
    assert finish(victim).code == -signal.SIGKILL
    records = list((cache / "pools" / POOL / ".runs").iterdir())
    assert len(records) == 1  # the killed run's record stays, and is recognised as dead
    resumed = finish(start(args, env, tmp_path))
    assert resumed.code == 0, resumed.err
    assert executions(log) == [
        "load_reads",
        "denoise",
        "feature_table",
        "feature_table",
        "load_metadata",
        "diversity",
    ]
    assert "2 step(s) loaded" in resumed.err
    assert not (cache / "pools" / POOL).exists()


def test_two_concurrent_runs_of_one_action_keep_each_others_progress(
    plugin_path: Path, tmp_path: Path
) -> None:
    """Run B finishing while run A is half-way through does not remove what A stored.

    A (4 samples) stores load_reads, denoise and feature_table, then waits.  B
    (5 samples) shares those three steps, loads them, computes its own, and
    succeeds.  A's entries must still be in the pool and the cache; when A
    goes on, it succeeds too, and only then is the default pool removed.
    """
    cache = tmp_path / "cache"
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    base = ["run", "pipes", "analyze", "--n", "400", "--use-cache", str(cache), "-v"]
    env_a = process_env(
        plugin_path, RECYCLABLE_TEST_LOG=str(log_a), RECYCLABLE_TEST_WAIT_AT="load_metadata"
    )
    run_a = start([*base, "--samples", "4"], env_a, tmp_path)
    wait_for(Path(f"{log_a}.waiting"), run_a)
    held_by_a = _markers(cache, POOL)
    assert len(held_by_a) == 3

    run_b = finish(start([*base, "--samples", "5"], process_env(plugin_path,
                         RECYCLABLE_TEST_LOG=str(log_b)), tmp_path))  # fmt: skip
    assert run_b.code == 0, run_b.err
    assert executions(log_b) == ["load_metadata", "diversity"]  # shared steps loaded from A
    assert "3 step(s) loaded" in run_b.err
    assert "still needed by other runs" in run_b.err
    # Neither A's markers nor its entries went with B's success.
    assert held_by_a <= _markers(cache, POOL)
    assert all(_has_entry(cache, key) for key in held_by_a)

    Path(f"{log_a}.go").write_text("go")
    result_a = finish(run_a)
    assert result_a.code == 0, result_a.err
    assert executions(log_a) == STEPS_A
    assert "3 step(s) loaded" not in result_a.err  # A computed its own steps once
    assert not (cache / "pools" / POOL).exists()


STEPS_A = ["load_reads", "denoise", "feature_table", "load_metadata", "diversity"]


def test_python_dash_m_reports_usage_errors_with_exit_2(plugin_path: Path, tmp_path: Path) -> None:
    """A real process exits 2 on a usage error and names the unknown action and the valid ones."""
    result = finish(start(["run", "pipes", "analyse"], process_env(plugin_path), tmp_path))
    assert result.code == 2
    assert "no action 'analyse'" in result.err and "analyze" in result.err
