"""Start test child processes that import this worktree's recyclable and tests/pipeline_actions."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ACTIONS = REPO / "tests" / "pipeline_actions.py"


def child_env(log: Path, **extra: str) -> dict[str, str]:
    """The environment of a child: this source tree importable, the execution log named."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECYCLABLE_TEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    env["RECYCLABLE_TEST_LOG"] = str(log)
    env.update(extra)
    return env


def call_args(cache: Path, pool: str, func: str, *args: object) -> list[str]:
    """The command line of a child that runs ``func(*args)`` in ``pool``."""
    return [sys.executable, str(ACTIONS), "call", str(cache), pool, func, *map(str, args)]


def wait_for_file(
    path: Path, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60
) -> None:
    """Wait until ``path`` exists; fail early if ``proc`` exits first, or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            out = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"child exited with {proc.returncode} before {path}: {out}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.01)


@contextlib.contextmanager
def spawn(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Start a child; on exit kill it if it still runs, reap it and close its pipe."""
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


class LogWatch(logging.Handler):
    """Counts log records containing a phrase, and lets a test wait for the n-th one."""

    def __init__(self, phrase: str) -> None:
        super().__init__(logging.DEBUG)
        self.phrase = phrase
        self.count = 0
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if self.phrase in record.getMessage():
            with self.changed:
                self.count += 1
                self.changed.notify_all()

    def wait_for(self, n: int, timeout: float = 60) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.count >= n, timeout)
