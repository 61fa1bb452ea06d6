"""Calls take the no-pool shortcut only while no context anywhere can see a pool.

While no pool is active in any context of a process, a decorated call skips
reading the active pool (decorator.py, `recyclable._context.live`); these
tests pin that entering a pool -- later, in another thread, or nested in a
context copied before -- switches that shortcut off before the pool is
active, that a context copied inside ``with pool:`` (an asyncio task, a
thread) still recycles after the ``with`` has exited, and that the shortcut
is back once no context holds a pool.  Each runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from children import child_env

SCRIPT = textwrap.dedent(
    """
    import contextvars, json, sys, threading
    from recyclable import Cache, recyclable
    from recyclable import decorator

    runs = []

    @recyclable
    def step(x):
        runs.append(x)
        return x * 10

    # Calls with no pool: the second one takes the shortcut.
    assert step(1) == 10 and step(1) == 10
    def shortcut():
        return not decorator._maybe_active
    shortcut_on = shortcut()
    copied = contextvars.copy_context()   # taken while no pool was ever entered
    cache = Cache(sys.argv[1])
    out = {"shortcut_on": shortcut_on}

    if sys.argv[2] == "same-thread":
        with cache.create_pool("p", reuse=True) as pool:
            out["inside"] = shortcut()
            out["results"] = [step(2), step(2)]
        out["stats"] = [pool.stats.computed, pool.stats.loaded]
    elif sys.argv[2] == "task-outlives-with":
        import asyncio
        async def main():
            with cache.create_pool("p", reuse=True) as pool:
                started = asyncio.Event()
                go_on = asyncio.Event()
                async def later():
                    started.set()
                    await go_on.wait()   # resumes after the `with` below has exited
                    return [step(2), step(2)]
                task = asyncio.create_task(later())
                await started.wait()
            out["left"] = shortcut()     # the task's context still holds the pool
            go_on.set()
            results = await task
            return results, [pool.stats.computed, pool.stats.loaded]
        out["results"], out["stats"] = asyncio.run(main())
    elif sys.argv[2] == "thread-outlives-with":
        go_on = threading.Event()
        got = {}
        with cache.create_pool("p", reuse=True) as pool:
            context = contextvars.copy_context()
            def later():
                go_on.wait(60)
                got["results"] = context.run(lambda: [step(2), step(2)])
            worker = threading.Thread(target=later)
            worker.start()
        out["left"] = shortcut()
        go_on.set()
        worker.join()
        del context, later, worker
        out["results"] = got["results"]
        out["stats"] = [pool.stats.computed, pool.stats.loaded]
    else:
        # Another thread keeps calling with no pool while this one enters a pool.
        stop = threading.Event()
        def plain_calls():
            while not stop.is_set():
                step(3)
        worker = threading.Thread(target=plain_calls)
        worker.start()
        def in_pool():
            with cache.create_pool("p", reuse=True) as pool:
                results = [step(2), step(2)]
            return results, [pool.stats.computed, pool.stats.loaded]
        out["results"], out["stats"] = copied.run(in_pool)
        stop.set()
        worker.join()
    import gc
    gc.collect()  # a finished task's context may sit in a reference cycle
    out["shortcut_after"] = shortcut()
    step(4)  # a plain call again
    out["runs_of_2"] = runs.count(2)
    print(json.dumps(out))
    """
)


def _run(tmp_path: Path, mode: str) -> dict[str, object]:
    script = tmp_path / "calls.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "cache"), mode],
        env=child_env(tmp_path / "log"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_first_pool_after_plain_calls_recycles(tmp_path: Path) -> None:
    """Plain calls first, then a pool: the second call in the pool is a load, not a compute."""
    out = _run(tmp_path, "same-thread")
    assert out["shortcut_on"] is True
    assert out["results"] == [20, 20]
    assert out["stats"] == [1, 1]
    assert out["runs_of_2"] == 1
    assert out["inside"] is False
    assert out["shortcut_after"] is True


def test_pool_entered_while_another_thread_calls_plainly(tmp_path: Path) -> None:
    """A pool entered in a context copied earlier, while another thread calls, still recycles."""
    out = _run(tmp_path, "other-thread")
    assert out["shortcut_on"] is True
    assert out["results"] == [20, 20]
    assert out["stats"] == [1, 1]
    assert out["runs_of_2"] == 1
    assert out["shortcut_after"] is True


@pytest.mark.parametrize("mode", ["task-outlives-with", "thread-outlives-with"])
def test_context_copied_in_the_pool_recycles_after_the_with(tmp_path: Path, mode: str) -> None:
    """A task created, or a thread running a context copied, inside `with pool:` still loads.

    Both call after the block exited in the context that entered it.
    """
    out = _run(tmp_path, mode)
    assert out["shortcut_on"] is True
    assert out["left"] is False
    assert out["results"] == [20, 20]
    assert out["stats"] == [1, 1]
    assert out["runs_of_2"] == 1
    assert out["shortcut_after"] is True
