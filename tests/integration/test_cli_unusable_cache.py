"""The command line on a read-only or full cache: it runs, loads, and says what it cannot do.

Every error is one line without a traceback, with the documented exit code
(docs/cli.md: an unusable cache is exit 2).  Real processes on real mounts:
a read-only bind mount and small tmpfs filesystems.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import Outcome, executions, finish, process_env, start
from filesystems import fill, read_only_view, small_tmpfs

pytestmark = pytest.mark.slow

POOL = "recycle_pipes_analyze_" + hashlib.sha1(b"pipes_analyze").hexdigest()
RUN = ["run", "pipes", "analyze", "--n", "300"]


def _cli(plugin_path: Path, cwd: Path, *args: str, **env: str) -> Outcome:
    return finish(start(list(args), process_env(plugin_path, **env), cwd))


def _no_traceback(outcome: Outcome) -> None:
    assert "Traceback" not in outcome.err, outcome.err
    assert "Error:" not in outcome.err.replace("recyclable: error:", ""), outcome.err


@pytest.fixture
def read_only_cache(plugin_path: Path, tmp_path: Path) -> Path:
    """A cache holding a failed run's kept steps, seen through a read-only mount."""
    source = tmp_path / "source"
    failed = _cli(
        plugin_path,
        tmp_path,
        *RUN,
        "--use-cache",
        str(source),
        RECYCLABLE_TEST_FAIL_AT="diversity",
        RECYCLABLE_TEST_LOG=str(tmp_path / "setup.log"),
    )
    assert failed.code == 1 and "failed on purpose" in failed.err
    with read_only_view(source, tmp_path / "ro") as view:
        yield view


def test_run_on_a_read_only_cache_loads_and_keeps_nothing(
    plugin_path: Path, tmp_path: Path, read_only_cache: Path
) -> None:
    """`recyclable run` loads the kept steps from a read-only cache and warns once per thing."""
    log = tmp_path / "run.log"
    done = _cli(
        plugin_path,
        tmp_path,
        *RUN,
        "--use-cache",
        str(read_only_cache),
        RECYCLABLE_TEST_LOG=str(log),
    )
    assert done.code == 0, done.err
    _no_traceback(done)
    assert executions(log) == ["diversity"]  # the four kept steps were loaded
    assert "4 step(s) loaded, 1 computed" in done.err  # diversity (analyze ran them)
    assert "read-only" in done.err
    plain = _cli(plugin_path, tmp_path, *RUN, "--no-recycle")
    assert done.out == plain.out


def test_new_pool_on_a_read_only_cache_is_not_said_to_be_created(
    plugin_path: Path, tmp_path: Path, read_only_cache: Path
) -> None:
    """`--recycle-pool NEW` on a read-only cache warns that it cannot create it, and runs."""
    done = _cli(
        plugin_path,
        tmp_path,
        *RUN,
        "--use-cache",
        str(read_only_cache),
        "--recycle-pool",
        "fresh",
        RECYCLABLE_TEST_LOG=str(tmp_path / "run.log"),
    )
    assert done.code == 0, done.err
    _no_traceback(done)
    assert "cannot create pool 'fresh'" in done.err
    assert "created it" not in done.err
    assert executions(tmp_path / "run.log") == ["diversity"]


def test_cache_tools_on_a_read_only_cache(
    plugin_path: Path, tmp_path: Path, read_only_cache: Path
) -> None:
    """gc --dry-run reports; gc and remove refuse with exit 2 and one line saying why."""
    where = ["--use-cache", str(read_only_cache)]
    dry = _cli(plugin_path, tmp_path, "cache", "gc", "--dry-run", *where)
    assert dry.code == 0, dry.err
    assert dry.out.startswith("would remove ")
    for args in (["gc"], ["remove", POOL]):
        refused = _cli(plugin_path, tmp_path, "cache", *args, *where)
        assert refused.code == 2, refused.err
        _no_traceback(refused)
        lines = refused.err.strip().splitlines()
        assert len(lines) == 1 and "read-only" in lines[0], refused.err
    assert (read_only_cache / "pools" / POOL).is_dir()


def test_run_with_a_new_cache_on_a_full_disk(plugin_path: Path, tmp_path: Path) -> None:
    """A cache that cannot be created (disk full): exit 2, one line naming what to free."""
    with small_tmpfs(tmp_path / "fs", "1m") as fs:
        fill(fs)
        done = _cli(plugin_path, tmp_path, *RUN, "--use-cache", str(fs / "cache"))
        assert done.code == 2, done.err
        _no_traceback(done)
        lines = done.err.strip().splitlines()
        assert len(lines) == 1 and "No space left" in lines[0] and "free space" in lines[0]
        assert not list((fs / "cache" / "tmp").glob("VERSION*"))


def test_run_with_a_new_pool_on_a_full_disk(plugin_path: Path, tmp_path: Path) -> None:
    """No inode left for the pool's directory: the run computes everything and warns."""
    with small_tmpfs(tmp_path / "fs", "8m,nr_inodes=64") as fs:
        cache = fs / "cache"
        made = _cli(
            plugin_path,
            tmp_path,
            "run",
            "pipes",
            "prepare",
            "--seed",
            "1",
            "--use-cache",
            str(cache),
        )
        assert made.code == 0, made.err
        index = 0
        while True:  # exhaust the inodes
            try:
                (fs / f"f{index}").touch()
            except OSError:
                break
            index += 1
        log = tmp_path / "run.log"
        done = _cli(
            plugin_path, tmp_path, *RUN, "--use-cache", str(cache), RECYCLABLE_TEST_LOG=str(log)
        )
        assert done.code == 0, done.err
        _no_traceback(done)
        assert "cannot create pool" in done.err and "No space left" in done.err
        assert len(executions(log)) == 5
        plain = _cli(plugin_path, tmp_path, *RUN, "--no-recycle")
        assert done.out == plain.out
