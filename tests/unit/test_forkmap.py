"""`recyclable.forkmap`: a pass split with a forked child gives what one process gives.

Each case runs in a new interpreter, one thread, as ``recyclable cache show``
does: the test process has threads of its own (numpy's, the lease
heartbeat's), and a process with threads never forks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from forked_tool import needs_two_cores

PRELUDE = """
import json, os, signal, sys, threading
from recyclable.forkmap import can_fork, fork_map
PARENT = os.getpid()

def tagged(part, progress):
    return [[os.getpid() == PARENT, item] for item in part]

def show(value):
    print(json.dumps(value))
"""


def _fresh(code: str) -> Any:
    """Run ``code`` after PRELUDE in a new interpreter; the JSON value it printed."""
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_second_half_is_done_by_another_process() -> None:
    needs_two_cores()
    parts = _fresh("show([can_fork(), fork_map(tagged, list(range(11)), min_items=2)])")
    assert parts[0] is True
    mine, theirs = parts[1]
    assert mine == [[True, i] for i in range(5)]
    assert theirs == [[False, i] for i in range(5, 11)]


def test_small_inputs_stay_in_this_process() -> None:
    parts = _fresh("show(fork_map(tagged, list(range(10)), min_items=11))")
    assert parts == [[[True, i] for i in range(10)]]


@pytest.mark.parametrize(
    "failure",
    [
        "os.kill(os.getpid(), signal.SIGKILL)",
        "return [object()]  # not marshallable: the child exits with an error",
    ],
    ids=["killed", "unmarshallable"],
)
def test_a_failed_child_means_this_process_does_its_half(failure: str) -> None:
    needs_two_cores()
    parts = _fresh(
        f"""
        def work(part, progress):
            if os.getpid() != PARENT:
                {failure}
            return tagged(part, progress)
        show(fork_map(work, list(range(8)), min_items=2))
        """
    )
    assert parts == [[[True, i] for i in range(4)], [[True, i] for i in range(4, 8)]]


def test_a_process_that_cannot_fork_does_the_whole_pass() -> None:
    """At the process limit ``fork`` fails (EAGAIN): the pass is done here, no fd left open."""
    needs_two_cores()
    found = _fresh(
        """
        import resource
        if os.geteuid() == 0:
            os.setuid(65534)  # root is exempt from the process limit
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        before = sorted(os.listdir("/proc/self/fd"))
        parts = fork_map(tagged, list(range(8)), min_items=2)
        show([can_fork(), parts, sorted(os.listdir("/proc/self/fd")) == before])
        """
    )
    assert found == [True, [[[True, i] for i in range(8)]], True]


def test_an_error_in_the_work_is_raised_here() -> None:
    needs_two_cores()
    raised = _fresh(
        """
        def work(part, progress):
            if 5 in part:
                raise ValueError(f"item 5 is unreadable in {os.getpid() == PARENT}")
            return list(part)
        try:
            fork_map(work, list(range(8)), min_items=2)
        except ValueError as exc:
            show(str(exc))
        """
    )
    assert raised == "item 5 is unreadable in True"


def test_a_process_with_threads_does_not_fork() -> None:
    parts = _fresh(
        """
        release = threading.Event()
        thread = threading.Thread(target=release.wait)
        thread.start()
        found = [can_fork(), fork_map(tagged, list(range(10)), min_items=2)]
        release.set()
        thread.join()
        show(found)
        """
    )
    assert parts == [False, [[[True, i] for i in range(10)]]]


def test_leaving_early_stops_and_reaps_the_child() -> None:
    """An interrupt in this process's half kills the child still working on its own."""
    needs_two_cores()
    found = _fresh(
        """
        told_r, told_w = os.pipe()  # the child says its pid here
        hold_r, hold_w = os.pipe()  # ... then blocks on this, which never gets data
        children = []

        def work(part, progress):
            if os.getpid() != PARENT:
                os.write(told_w, str(os.getpid()).encode())
                os.read(hold_r, 1)
                return list(part)
            children.append(int(os.read(told_r, 32)))  # the child is at work
            raise KeyboardInterrupt

        try:
            fork_map(work, list(range(8)), min_items=2)
        except KeyboardInterrupt:
            pass
        try:
            os.waitpid(children[0], os.WNOHANG)
            show("the child was not reaped")
        except ChildProcessError:
            show([len(children), os.path.exists(f"/proc/{children[0]}")])
        """
    )
    assert found == [1, False]


def test_progress_counts_the_whole_input() -> None:
    needs_two_cores()
    seen = _fresh(
        """
        seen = []

        def work(part, progress):
            if progress is not None:
                for done in range(1, len(part) + 1):
                    progress("reading", done, len(part))
            return list(part)

        parts = fork_map(work, list(range(100)), min_items=2, progress=lambda *a: seen.append(a))
        show([len(parts), seen])
        """
    )
    parts, reports = seen
    assert parts == 2
    assert reports[-1] == ["reading", 100, 100]
    assert [done for _, done, _ in reports] == sorted(done for _, done, _ in reports)
    assert all(total == 100 for _, _, total in reports)


def test_fork_min_is_the_default_threshold() -> None:
    needs_two_cores()
    counts = _fresh(
        """
        import recyclable.forkmap
        recyclable.forkmap.FORK_MIN = 50
        show([len(fork_map(tagged, list(range(n)))) for n in (49, 50)])
        """
    )
    assert counts == [1, 2]
