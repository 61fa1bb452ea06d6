"""A process that called steps with no pool still recycles once a pool is entered.

With no pool ever entered in a process, a decorated call skips reading the
active pool (decorator.py); these tests pin that the first pool entered --
later, in another thread, or nested in a context copied before -- switches
that shortcut off, so no call runs past an active pool.  Each runs in a fresh
interpreter, where the shortcut really is on before the pool is entered.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

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
    shortcut_on = decorator._never_pooled
    copied = contextvars.copy_context()   # taken while no pool was ever entered
    cache = Cache(sys.argv[1])
    out = {"shortcut_on": shortcut_on}

    if sys.argv[2] == "same-thread":
        with cache.create_pool("p", reuse=True) as pool:
            out["results"] = [step(2), step(2)]
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
    out["shortcut_after"] = decorator._never_pooled
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
    assert out["shortcut_after"] is False


def test_pool_entered_while_another_thread_calls_plainly(tmp_path: Path) -> None:
    """A pool entered in a context copied earlier, while another thread calls, still recycles."""
    out = _run(tmp_path, "other-thread")
    assert out["shortcut_on"] is True
    assert out["results"] == [20, 20]
    assert out["stats"] == [1, 1]
    assert out["runs_of_2"] == 1
    assert out["shortcut_after"] is False
