"""Arm the store's crash points in a test child process (the library never arms them itself).

A child started by a crash test calls `install_from_environment` before it
stores anything.  ``RECYCLABLE_TEST_CRASH_AT=<point>[#n]`` — a variable of the
test suite, which the library does not read — then kills the child with
SIGKILL the n-th time the store reaches ``<point>``.
``RECYCLABLE_TEST_PAUSE_AT=<point>#<n>=<file>`` instead holds the child there,
the n-th time, until ``<file>`` exists (at most a minute): a test can then
make another process act at exactly that point of the write.
"""

from __future__ import annotations

import os
import signal
import time

from recyclable import _crashpoints

VARIABLE = "RECYCLABLE_TEST_CRASH_AT"
PAUSE_VARIABLE = "RECYCLABLE_TEST_PAUSE_AT"


def install(point: str, nth: int = 1) -> None:
    """SIGKILL this process the ``nth`` time the store reaches ``point``."""
    seen = [0]

    def crash(name: str) -> None:
        if name == point:
            seen[0] += 1
            if seen[0] >= nth:
                os.kill(os.getpid(), signal.SIGKILL)

    _crashpoints.hook = crash


def install_pause(point: str, nth: int, go: str) -> None:
    """Hold this process the ``nth`` time the store reaches ``point`` until ``go`` exists."""
    seen = [0]

    def pause(name: str) -> None:
        if name == point:
            seen[0] += 1
            if seen[0] == nth:
                deadline = time.monotonic() + 60
                while not os.path.exists(go) and time.monotonic() < deadline:
                    time.sleep(0.005)

    _crashpoints.hook = pause


def install_from_environment() -> None:
    """Install the crash or pause point the environment names, if it names one."""
    raw = os.environ.get(VARIABLE)
    if raw:
        point, _, nth = raw.partition("#")
        install(point, int(nth or 1))
    raw = os.environ.get(PAUSE_VARIABLE)
    if raw:
        where, _, go = raw.partition("=")
        point, _, nth = where.partition("#")
        install_pause(point, int(nth or 1), go)
