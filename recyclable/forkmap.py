"""A read-only pass over many files, its second half done by a forked child.

``cache show`` at 100,000 entries spends about twice as long in Python
(checking, locating and formatting each manifest's fields) as in the system
calls that read the manifests; no single-threaded rewrite measured closer
than 1.5× the reading alone.  Threads do not help: the parsing holds the
GIL, and a reader thread coming back from each ``open`` waits for it.  A
forked child does help, on a machine with two cores or more: it starts in
about a millisecond with everything already imported and the list of keys
in memory, does its half while this process does the other, and sends back
what it made (`marshal`: the fastest serialization of plain values in the
standard library, and safe here since the bytes come from our own child)
through a memory file.

The child only reads: whatever it made is used only once it has exited
cleanly and every byte it sent has been decoded.  Otherwise (killed, out of
memory, an exception, a result marshal cannot encode) this process does the
child's half itself, so a failure there costs time, never a wrong or
missing row, and an error in the work is raised here as it would be without
the child.  Forking is left out where it is not safe or does not pay: in a
process with more than one thread (a forked child of a threaded process
may deadlock on a lock another thread held), off Linux, on one core, and
for small inputs.
"""

from __future__ import annotations

import contextlib
import marshal
import mmap
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from recyclable.scan import ProgressHook

__all__ = ["FORK_MIN", "can_fork", "fork_map"]

T = TypeVar("T")
R = TypeVar("R")

#: Fewer items than this are done in one process: a child costs about a
#: millisecond to start and the transfer of its results, where an item of
#: ``cache show`` costs about 20 µs.
FORK_MIN = 2048

# Raised on the child's side of a transfer that did not complete.
_Broken = (EOFError, ValueError, TypeError, OSError)


def can_fork() -> bool:
    """Whether this process may fork a helper: Linux, two cores or more, one thread."""
    if not sys.platform.startswith("linux") or not hasattr(os, "memfd_create"):
        return False
    try:
        if len(os.sched_getaffinity(0)) < 2:
            return False
        # Threads the `threading` module does not know (a C library's own) count too.
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def fork_map(
    work: Callable[[Sequence[T], ProgressHook | None], R],
    items: Sequence[T],
    *,
    progress: ProgressHook | None = None,
    min_items: int | None = None,
) -> list[R]:
    """``work`` applied to the halves of ``items``, the second half in a forked child.

    Args:
        work: called as ``work(part, progress)``; it must only read (its
            side effects in the child are lost) and return values `marshal`
            encodes (tuples, lists, dicts, str, bytes, numbers, None).
        items: split in two in order; the results are in the same order.
        progress: passed to this process's half, its counts scaled by the
            share of ``items`` the half has (see `_scaled`); the child
            reports nothing.
        min_items: do everything here below this many items (`FORK_MIN`).

    Returns:
        One result per part: ``[work(items)]`` when nothing was forked, else
        ``[work(first half), work(second half)]``.
    """
    limit = FORK_MIN if min_items is None else min_items
    if len(items) < max(limit, 2) or not can_fork():
        return [work(items, progress)]
    half = len(items) // 2
    mine, theirs = items[:half], items[half:]
    try:
        child = _Child(work, theirs)
    except OSError:
        # No memory file or no child (EAGAIN at a process limit, ENOMEM):
        # the helper is an optimisation, so the whole pass is done here.
        return [work(items, progress)]
    try:
        first = work(mine, _scaled(progress, len(items), half))
        second = child.result()
    finally:
        child.reap()
    if second is _MISSING:
        # The child failed: its half is done here, where an error is raised as usual.
        second = work(theirs, None)
    return [first, second]


_MISSING: Any = object()
Work = Callable[[Sequence[Any], ProgressHook | None], Any]


class _Child:
    """A forked child doing ``work(part, None)``, its marshalled result left in a memory file.

    A memory file (``memfd_create``) rather than a pipe: the child writes
    its whole result and exits without waiting for this process to read,
    which it does only after its own half, by mapping the file.
    """

    def __init__(self, work: Work, part: Any) -> None:
        self._file: int | None = os.memfd_create("recyclable-forkmap", os.MFD_CLOEXEC)
        try:
            self.pid = os.fork()
        except OSError:
            os.close(self._file)
            self._file = None
            raise
        if self.pid == 0:  # pragma: no cover - runs in the child, which never returns
            _run_child(work, part, self._file)

    def result(self) -> Any:
        """The child's result, or `_MISSING` when it did not finish cleanly."""
        status = self._wait()
        fd, self._file = self._file, None
        assert fd is not None
        try:
            size = os.fstat(fd).st_size
            if status != 0 or size == 0:
                return _MISSING
            with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as data:
                return marshal.loads(data)
        except _Broken:
            return _MISSING
        finally:
            os.close(fd)

    def _wait(self) -> int:
        """Wait for the child; its exit code (a negative signal number when killed)."""
        pid, self.pid = self.pid, 0
        if not pid:
            return -1
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def reap(self) -> None:
        """Stop and reap a child still running (this process is leaving early)."""
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._wait()
        if self._file is not None:
            os.close(self._file)
            self._file = None


def _run_child(work: Work, part: Any, file: int) -> None:  # pragma: no cover - in the child
    """The child's whole life: do the work, write it, leave without running any clean-up."""
    code = 1
    try:
        # Version 2: no back-references, which halves the time to encode
        # 50,000 rows (each row's strings are its own anyway).
        view = memoryview(marshal.dumps(work(part, None), 2))
        while view:
            view = view[os.write(file, view) :]
        code = 0
    except BaseException:  # noqa: BLE001 - any failure only means the parent does this half
        code = 1
    finally:
        # No atexit handlers, buffered output or finalizers of the parent's objects.
        os._exit(code)


def _scaled(progress: ProgressHook | None, whole: int, part: int) -> ProgressHook | None:
    """``progress`` with one half's counts (done and total) scaled to the whole.

    The halves go at one pace, so ``done`` of ``total`` in a half of ``part``
    items stands for ``done * whole / part`` of ``total * whole / part``: the
    whole, where the counts are of the items themselves.
    """
    if progress is None:
        return None
    report = progress
    share = max(part, 1)

    def scaled(what: str, done: int, total: int | None) -> None:
        if total is None:
            report(what, done * whole // share, None)
            return
        overall = total * whole // share
        report(what, min(overall, done * whole // share), overall)

    return scaled
