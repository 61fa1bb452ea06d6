"""Single flight: concurrent calls of one step compute it once; dead holders never block anyone."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pipeline_actions as actions
import pytest
from children import LogWatch, call_args, child_env, spawn, wait_for_file

from recyclable import Cache, recyclable


def _leases(cache: Path) -> list[Path]:
    return [p for p in (cache / "leases").rglob("*") if p.is_file()]


def test_threads_of_one_process_compute_once(tmp_path: Path, waiting: LogWatch) -> None:
    """Five threads calling the same step at once: one computes, four get its result."""
    cache = Cache(tmp_path / "cache")
    pool = cache.create_pool("p")
    runs: list[int] = []

    @recyclable
    def slow(x: int) -> np.ndarray:
        runs.append(x)
        # Hold the computation open until the four other threads are waiting for it.
        assert waiting.wait_for(4)
        return np.arange(100_000) * x

    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            with pool:
                results.append(slow(3))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert runs == [3]
    assert len(results) == 5
    for result in results:
        np.testing.assert_array_equal(result, np.arange(100_000) * 3)
    assert _leases(cache.path) == []


def test_waiter_in_another_process_gets_the_holders_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, waiting: LogWatch
) -> None:
    """A call that finds another process computing it waits and loads that result."""
    cache_dir = tmp_path / "cache"
    log = tmp_path / "log"
    Cache(cache_dir)
    with spawn(
        call_args(cache_dir, "p", "square", 3),
        child_env(log, RECYCLABLE_TEST_GATE_AT="square:3"),
    ) as holder:
        wait_for_file(Path(f"{log}.started"), holder)
        monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
        cache = Cache(cache_dir)
        got: list[dict[str, object]] = []

        def waiter() -> None:
            with cache.create_pool("p", reuse=True):
                got.append(actions.square(3))

        thread = threading.Thread(target=waiter)
        thread.start()
        assert waiting.wait_for(1)
        Path(f"{log}.gate").write_text("open")
        thread.join(timeout=120)
        assert holder.wait(timeout=120) == 0
    assert actions.executions(log) == ["square:3"]
    assert got[0]["square"] == 9
    np.testing.assert_array_equal(got[0]["pad"], actions.expected_square(3)["pad"])  # type: ignore[arg-type]
    assert _leases(cache_dir) == []


def test_killed_holder_is_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A holder killed mid-computation (not yet reaped: a zombie) is taken over, not waited for."""
    cache_dir = tmp_path / "cache"
    log = tmp_path / "log"
    Cache(cache_dir)
    with spawn(
        call_args(cache_dir, "p", "square", 4),
        child_env(log, RECYCLABLE_TEST_HANG_AT="square:4"),
    ) as holder:
        wait_for_file(Path(f"{log}.hang"), holder)
        assert len(_leases(cache_dir)) == 1
        os.kill(holder.pid, signal.SIGKILL)
        monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
        # A timeout far beyond the test's own: only a takeover lets this return.
        cache = Cache(cache_dir, lease_timeout=3600)
        with (
            caplog.at_level(logging.WARNING, logger="recyclable"),
            cache.create_pool("p", reuse=True),
        ):
            result = actions.square(4)
    assert result["square"] == 16
    assert actions.executions(log) == ["square:4", "square:4"]
    assert any("taking over the lease" in r.getMessage() for r in caplog.records)
    assert _leases(cache_dir) == []


def test_live_holder_is_waited_for_only_until_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A live holder that never finishes: the waiter gives up after lease_timeout and computes."""
    cache_dir = tmp_path / "cache"
    log = tmp_path / "log"
    Cache(cache_dir)
    with spawn(
        call_args(cache_dir, "p", "square", 5),
        child_env(log, RECYCLABLE_TEST_HANG_AT="square:5"),
    ) as holder:
        wait_for_file(Path(f"{log}.hang"), holder)
        monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
        cache = Cache(cache_dir, lease_timeout=0.2)
        with (
            caplog.at_level(logging.WARNING, logger="recyclable"),
            cache.create_pool("p", reuse=True),
        ):
            result = actions.square(5)
        assert result["square"] == 25
        assert actions.executions(log) == ["square:5", "square:5"]
        assert any("gave up waiting" in r.getMessage() for r in caplog.records)
        assert len(_leases(cache_dir)) == 1  # still the live holder's
    assert Cache(cache_dir).garbage_collect().leases == 1
    assert _leases(cache_dir) == []


def test_failing_holder_releases_its_lease(cache: Cache) -> None:
    """A call that raises gives up the lease it held; the next call computes at once and stores."""
    runs: list[int] = []
    held: list[list[Path]] = []

    @recyclable
    def flaky(x: int) -> int:
        runs.append(x)
        held.append(_leases(cache.path))  # the lease this call computes under
        if len(runs) == 1:
            raise RuntimeError("first attempt fails")
        return x + 1

    with cache.create_pool("p") as pool:
        with pytest.raises(RuntimeError, match="first attempt"):
            flaky(1)
        assert _leases(cache.path) == []
        assert flaky(1) == 2
        assert flaky(1) == 2
    assert runs == [1, 1]
    assert [len(leases) for leases in held] == [1, 1]
    assert _leases(cache.path) == []
    assert (pool.stats.computed, pool.stats.loaded) == (1, 1)


def test_async_callers_wait_off_the_event_loop(tmp_path: Path, waiting: LogWatch) -> None:
    """Two tasks calling one async step: the second waits in a thread, the first completes."""
    import asyncio

    cache = Cache(tmp_path / "cache")
    runs: list[int] = []

    @recyclable
    async def fetch(x: int) -> list[int]:
        runs.append(x)
        # Finish only once the other task is waiting; a waiter blocking the
        # event loop would never let this line run again.
        for _ in range(6000):
            if waiting.count >= 1:
                break
            await asyncio.sleep(0.01)
        return [x] * 3

    async def main() -> list[list[int]]:
        with cache.create_pool("p"):
            return list(await asyncio.gather(fetch(2), fetch(2)))

    assert asyncio.run(main()) == [[2, 2, 2], [2, 2, 2]]
    assert runs == [2]
    assert waiting.count >= 1
