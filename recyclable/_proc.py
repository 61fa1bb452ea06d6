"""Who runs on this host: a pid's state and start time, read from ``/proc`` (Linux).

A pid alone does not name a process: pids are reused, and in a container
every entrypoint is pid 1.  The start time (clock ticks since boot, field 22
of ``/proc/<pid>/stat``) together with the pid names one process for the life
of the machine, so records written by a process carry both.
"""

from __future__ import annotations

import os

__all__ = ["own_identity", "pid_alive", "process_start_time", "same_process"]


def _proc_stat(pid: int) -> list[bytes] | None:
    """Fields 3 onwards of /proc/<pid>/stat, or None when unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return data[data.rfind(b")") + 2 :].split()


def process_start_time(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (Linux), or None when unknown.

    Together with the pid it names one process for the life of the machine,
    which tells a live holder from a new process that reused its pid.
    """
    fields = _proc_stat(pid)
    try:
        return int(fields[19]) if fields is not None else None
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True when ``pid`` names a running process of this host (a zombie is dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # exists, owned by someone else
    fields = _proc_stat(pid)
    # A killed child its parent has not reaped yet is a zombie: dead for us.
    return not fields or fields[0] not in (b"Z", b"X")


# (pid, start time) of the calling process, looked up again after a fork.
_own: list[tuple[int, int | None]] = [(-1, None)]


def own_identity() -> tuple[int, int | None]:
    """The calling process's pid and start time."""
    pid = os.getpid()
    if _own[0][0] != pid:
        _own[0] = (pid, process_start_time(pid))
    return _own[0]


def same_process(pid: int, start: int | None) -> bool | None:
    """Whether the process recorded as (``pid``, ``start``) still runs here.

    Returns True or False when it can be told, None when the record has no
    start time and the pid runs (it may or may not be the recorded process).
    The calling process's own pid is judged like any other: a record of a
    former holder of our pid (a re-run container entrypoint) is dead.
    """
    if pid == os.getpid():
        own_start = own_identity()[1]
        if start is None or own_start is None:
            return None
        return start == own_start
    if not pid_alive(pid):
        return False
    if start is None:
        return None
    current = process_start_time(pid)
    return None if current is None else current == start
