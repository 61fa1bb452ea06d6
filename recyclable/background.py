"""Long-lived worker threads for the hashing a miss overlaps with its write.

A miss hashes its result (to name the blob) and re-hashes its large arguments
(the mutation check) while the result's bytes are written: xxhash releases
the GIL, so on a machine with a free core that work costs no wall time.  A
thread started for each such job costs it back on a busy machine: Linux
queues a new task behind the ones already running on a core, so its first
time slice can come milliseconds later (on a loaded 2-core VM, 40 µs at the
median but 4 ms at the 90th percentile), longer than hashing 64 MiB.  A
thread that already exists and waits on a lock is woken like any sleeping
task, in about 10 µs.  So the jobs go to a few daemon threads started on
first use and kept for the life of the process.

A job's worker is reserved when it is submitted: an idle worker if there is
one, else a new one (up to `MAX_WORKERS`), else the job waits for the first
worker to finish.  A forked child starts with no workers (threads do not
survive ``fork``) and makes its own.
"""

from __future__ import annotations

import _thread
import os
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

__all__ = ["MAX_WORKERS", "Job", "submit"]

T = TypeVar("T")

#: At most this many workers: a miss runs two jobs at once (its result's hash
#: and its arguments' check); more only when several threads miss together.
MAX_WORKERS = 4


class Job(Generic[T]):
    """A function run by a worker; `wait` gives its result or raises what it raised."""

    __slots__ = ("_done", "_error", "_func", "_result")

    def __init__(self, func: Callable[[], T]) -> None:
        self._func: Callable[[], T] | None = func
        self._done = threading.Event()
        self._result: T | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        """Run the function once, keeping its result or its exception."""
        func, self._func = self._func, None  # what it holds is not kept past the run
        try:
            if func is not None:
                self._result = func()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
            self._error = exc
        finally:
            self._done.set()

    def wait(self) -> T:
        """Block until the job ran; its result, or its exception raised here."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]  # set when no error


class _Workers:
    """The process's workers: a queue, and counts of idle workers and of queued jobs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: queue.SimpleQueue[Job[object]] = queue.SimpleQueue()
        self.count = 0
        self.idle = 0  # workers waiting on the queue, not yet reserved
        self.backlog = 0  # jobs queued with no worker reserved for them


_workers = _Workers()


def _reset_after_fork() -> None:
    global _workers  # noqa: PLW0603 - the parent's threads do not exist in a forked child
    _workers = _Workers()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def submit(func: Callable[[], T]) -> Job[T]:
    """Run ``func`` in a worker thread; `Job.wait` gives its result.

    Where no thread can be started, ``func`` runs here, before this returns.
    """
    job: Job[T] = Job(func)
    workers = _workers
    with workers.lock:
        if workers.idle:
            workers.idle -= 1
            start = False
        elif workers.count < MAX_WORKERS:
            workers.count += 1
            start = True
        else:
            workers.backlog += 1
            start = False
    queued = cast("Job[object]", job)  # the queue holds jobs of any result type
    if not start:
        workers.jobs.put(queued)
        return job
    try:
        # A bare thread: threading.Thread.start() waits until the new thread runs.
        _thread.start_new_thread(_work, (workers, queued))
    except RuntimeError:  # no thread to be had (interpreter shutting down, limits)
        with workers.lock:
            workers.count -= 1
        job.run()
    return job


def _work(workers: _Workers, job: Job[object]) -> None:
    while True:
        job.run()
        del job  # drop the finished job's result before waiting for the next
        with workers.lock:
            if workers.backlog:
                workers.backlog -= 1  # take a queued job instead of becoming idle
            else:
                workers.idle += 1
        job = workers.jobs.get()
