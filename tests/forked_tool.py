"""Run ``recyclable cache ...`` in a new process with a chosen `recyclable.forkmap.FORK_MIN`.

A new process has one thread, as the command has, so it may fork its helper
(the test process has numpy's and the lease heartbeat's threads, and never
does).  `run_tool` says how many times it forked.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

__all__ = ["ONE_PROCESS", "SPLIT", "needs_two_cores", "run_tool"]

#: `FORK_MIN` values: split anything of two items or more; never split.
SPLIT, ONE_PROCESS = 2, 10**9

_DRIVER = """
import os, sys
import recyclable.forkmap
from recyclable.cli import main
recyclable.forkmap.FORK_MIN = int(sys.argv[1])
forks = []
fork = os.fork
os.fork = lambda: (forks.append(1), fork())[1]
code = main(sys.argv[2:])
sys.stderr.write(f"forks={len(forks)}")
sys.exit(code)
"""


def needs_two_cores() -> None:
    """Skip the calling test where the helper is never forked (off Linux, one core)."""
    if not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("a forked helper is used on Linux with two cores or more only")


def run_tool(fork_min: int, *argv: str, codes: tuple[int, ...] = (0,)) -> tuple[str, int]:
    """``recyclable ARGV``'s stdout and how many times it forked; its exit code one of ``codes``."""
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(fork_min), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in codes, done.stderr
    return done.stdout, int(done.stderr.rsplit("forks=", 1)[-1])
