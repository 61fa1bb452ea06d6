"""Arm the store's crash points in a test child process (the library never arms them itself).

A child started by a crash test calls `install_from_environment` before it
stores anything.  ``RECYCLABLE_TEST_CRASH_AT=<point>[#n]`` — a variable of the
test suite, which the library does not read — then kills the child with
SIGKILL the n-th time the store reaches ``<point>``.
"""

from __future__ import annotations

import os
import signal

from recyclable import _crashpoints

VARIABLE = "RECYCLABLE_TEST_CRASH_AT"


def install(point: str, nth: int = 1) -> None:
    """SIGKILL this process the ``nth`` time the store reaches ``point``."""
    seen = [0]

    def crash(name: str) -> None:
        if name == point:
            seen[0] += 1
            if seen[0] >= nth:
                os.kill(os.getpid(), signal.SIGKILL)

    _crashpoints.hook = crash


def install_from_environment() -> None:
    """Install the crash point ``RECYCLABLE_TEST_CRASH_AT`` names, if it names one."""
    raw = os.environ.get(VARIABLE)
    if raw:
        point, _, nth = raw.partition("#")
        install(point, int(nth or 1))
