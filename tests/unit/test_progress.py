"""Progress of a long step: a line in a log, an updating line on a terminal, "last time"."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recyclable import Cache, ConfigurationError, recyclable
from recyclable.progress import Progress

REPO = Path(__file__).resolve().parents[2]
SEEN: list[str | None] = []


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _wait_running(pool_steps: object, seconds: float) -> None:
    """Wait until the innermost running step has run ``seconds`` (a condition, not a guess)."""
    while pool_steps.running()[-1].elapsed() < seconds:  # type: ignore[attr-defined]
        time.sleep(0.01)


@recyclable
def slow(n: int, hold: float = 0.0) -> int:
    """A step that asks the progress display for its line while it runs."""
    progress = PROGRESS["now"]
    if progress is not None:
        _wait_running(progress.pool.steps, hold)
        SEEN.append(progress.show_once())
    return n


PROGRESS: dict[str, Progress | None] = {"now": None}


def test_log_line_names_the_step_its_time_and_last_time(cache: Cache) -> None:
    """In a log, a running step gets a line once it passes the interval, with the last time."""
    pool = cache.create_pool("p")
    with pool:
        slow(1)  # stored: compute time known for "last time"
    log = io.StringIO()
    PROGRESS["now"] = Progress(pool, log, after=0.01, every=0.05)
    SEEN.clear()
    try:
        with pool:
            slow(2, hold=0.06)
    finally:
        PROGRESS["now"] = None
    line = SEEN[0]
    assert line is not None and line.startswith("recyclable: slow running for 0.0")
    assert "last time)" in line and "took 0.00 s" in line
    assert log.getvalue() == line + "\n"


def test_terminal_line_is_rewritten_and_cleared(cache: Cache) -> None:
    """On a terminal the line is drawn with a carriage return and cleared when the step ends."""
    pool = cache.create_pool("p")
    term = Terminal()
    progress = Progress(pool, term, after=0.02, every=60)
    PROGRESS["now"] = progress
    pool.steps.on_end = progress._ended
    SEEN.clear()
    try:
        with pool:
            slow(3, hold=0.03)
    finally:
        PROGRESS["now"] = None
    assert SEEN[0] is not None and "took" not in SEEN[0]  # no stored call of slow yet
    assert term.getvalue() == "\r\x1b[K" + SEEN[0] + "\r\x1b[K"


def test_nothing_is_shown_before_the_threshold(cache: Cache) -> None:
    """A step shorter than the threshold (terminal) or the interval (log) prints nothing."""
    pool = cache.create_pool("p")
    for n, stream in enumerate((Terminal(), io.StringIO())):
        PROGRESS["now"] = Progress(pool, stream, after=30, every=30)
        SEEN.clear()
        try:
            with pool:
                slow(10 + n)
        finally:
            PROGRESS["now"] = None
        assert SEEN == [None] and stream.getvalue() == ""


def test_bad_interval_is_a_clear_error(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    """RECYCLABLE_PROGRESS_EVERY that is not a positive number names itself and the fix."""
    monkeypatch.setenv("RECYCLABLE_PROGRESS_EVERY", "soon")
    with pytest.raises(ConfigurationError, match="RECYCLABLE_PROGRESS_EVERY='soon'"):
        Progress(cache.create_pool("p"), io.StringIO())


def test_pool_progress_thread_prints_in_a_real_process(tmp_path: Path) -> None:
    """pool.progress = True prints progress lines from the timer thread; off, nothing.

    The second run changes ``n``, so ``combine`` runs again and its line says
    how long the stored call of ``combine`` took last time.
    """
    script = REPO / "tests" / "lineage_actions.py"
    env = {
        **os.environ,
        "RECYCLABLE_TEST_PROGRESS": "1",
        "RECYCLABLE_PROGRESS_EVERY": "0.3",
        "RECYCLABLE_TEST_SLOW": "1.0",
    }

    def run(n: int, progress: str) -> str:
        proc = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "c"), "p", str(n), str(tmp_path / "s")],
            env={**env, "RECYCLABLE_TEST_PROGRESS": progress},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return proc.stderr

    first = run(5, "1")
    lines = [line for line in first.splitlines() if "running for" in line]
    assert lines and all(line.startswith("recyclable: combine running for") for line in lines)
    assert "· pipeline" in lines[0] and "last time" not in lines[0]
    second = run(6, "1")
    assert any("(took 1.0" in line and "last time)" in line for line in second.splitlines())
    quiet = run(7, "0")
    assert "running for" not in quiet


def test_progress_thread_lives_exactly_as_long_as_the_outer_with(cache: Cache) -> None:
    """pool.progress starts one thread at the outer `with`; re-entering does not stop it early."""
    pool = cache.create_pool("p")
    pool.progress = io.StringIO()
    with pool:
        started = pool._progress
        assert started is not None and started._thread.is_alive()
        with pool:
            assert pool._progress is started
        assert pool._progress is started and started._thread.is_alive()
    assert pool._progress is None and not started._thread.is_alive()


def test_bad_setting_leaves_no_pool_active(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad RECYCLABLE_PROGRESS_AFTER fails at the `with` line and activates nothing."""
    from recyclable import current_pool

    monkeypatch.setenv("RECYCLABLE_PROGRESS_AFTER", "-1")
    pool = cache.create_pool("p")
    pool.progress = True
    with pytest.raises(ConfigurationError, match="RECYCLABLE_PROGRESS_AFTER"), pool:
        pass
    assert current_pool() is None
