"""The long-lived workers a miss hashes in while it writes (`recyclable.background`)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from recyclable import background

# Generous bounds for a busy machine: they end a hung test, they time nothing.
WAIT = 30.0


def test_a_job_gives_its_result_and_runs_in_another_thread() -> None:
    """`Job.wait` returns what the function returned, computed off the caller's thread."""
    job = background.submit(lambda: (threading.get_ident(), 6 * 7))
    ident, value = job.wait()
    assert value == 42
    assert ident != threading.get_ident()


def test_a_job_raises_what_its_function_raised() -> None:
    """An exception in the worker reaches the caller of `wait`, and the worker keeps serving."""

    def fails() -> int:
        raise ValueError("bad buffer")

    with pytest.raises(ValueError, match="bad buffer"):
        background.submit(fails).wait()
    assert background.submit(lambda: 1).wait() == 1


def test_workers_are_reused_across_jobs() -> None:
    """Jobs submitted one after another run on the few long-lived threads, not a new one each.

    Kernel thread ids (unlike ``threading.get_ident``) are not reused at once,
    so a thread started per job would show 20 of them.
    """
    seen = {background.submit(threading.get_native_id).wait() for _ in range(20)}
    assert len(seen) <= background.MAX_WORKERS
    assert threading.get_native_id() not in seen


def test_two_jobs_run_at_the_same_time() -> None:
    """A second job does not wait for the first: each finds a worker of its own."""
    both_started = threading.Barrier(2, timeout=WAIT)
    jobs = [background.submit(both_started.wait) for _ in range(2)]
    # Each job returns only once the other has started too (else BrokenBarrierError).
    assert sorted(job.wait() for job in jobs) == [0, 1]


def test_jobs_beyond_the_worker_limit_wait_for_a_free_worker() -> None:
    """With every worker busy, one more job is queued and runs as soon as one is free."""
    release = threading.Event()
    started = threading.Semaphore(0)

    def blocker() -> None:
        started.release()
        assert release.wait(WAIT)

    busy = [background.submit(blocker) for _ in range(background.MAX_WORKERS)]
    for _ in busy:
        assert started.acquire(timeout=WAIT)
    ran = threading.Event()
    extra = background.submit(ran.set)
    assert not ran.wait(0.2)  # queued: every worker is blocked
    release.set()
    extra.wait()
    assert ran.is_set()
    for job in busy:
        job.wait()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_starts_its_own_workers() -> None:
    """After fork (the parent's workers do not exist in the child) a job still runs."""
    background.submit(lambda: None).wait()  # the parent has a worker now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            result = background.submit(lambda: 6 * 7)
            # A job handed to a parent's worker would never run: wait with a bound.
            done = threading.Event()
            threading.Thread(target=lambda: (result.wait(), done.set()), daemon=True).start()
            os.write(write, b"ok" if done.wait(WAIT) and result.wait() == 42 else b"hung")
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    assert answer == b"ok", sys.platform
