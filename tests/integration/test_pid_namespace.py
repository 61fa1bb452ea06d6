"""A re-run that gets the pid of a killed earlier run (pid 1 in a new pid namespace) takes over.

Container entrypoints all run as pid 1: the lease and the staging files a
killed entrypoint left carry the pid the next one has.  Its start time tells
them apart.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from children import ACTIONS, child_env, wait_for_file


def _unshare_works() -> str | None:
    """Why a pid namespace cannot be made here, or None when it can."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return "needs Linux and unshare(1)"
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", "echo $$"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or probe.stdout.strip() != "1":
        return f"unshare --pid --fork --mount-proc is not permitted here ({probe.stderr.strip()})"
    return None


_WHY_NOT = _unshare_works()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=str(_WHY_NOT))

_AS_PID_1 = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable]


def _namespace_init(unshare_pid: int, timeout: float = 30) -> int:
    """The host pid of the process unshare forked (pid 1 inside its namespace)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise AssertionError("unshare did not start its child")


def test_rerun_as_the_same_pid_takes_over_the_killed_runs_lease(tmp_path: Path) -> None:
    """Run 1 (pid 1) is killed holding a lease; run 2 (pid 1 again) takes it over at once.

    Before, run 2 took the lease for its own and waited for it until
    lease_timeout (an hour by default) ran out.
    """
    cache = tmp_path / "cache"
    log = tmp_path / "log"
    call = [str(ACTIONS), "call", str(cache), "p", "square", "3", "lease_timeout=30"]
    first = subprocess.Popen(
        [*_AS_PID_1, *call],
        env=child_env(log, RECYCLABLE_TEST_HANG_AT="square:3"),
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_file(Path(f"{log}.hang"), first)
        os.kill(_namespace_init(first.pid), signal.SIGKILL)
    finally:
        first.wait(timeout=60)
        assert first.stderr is not None
        first.stderr.close()
    leases = list((cache / "leases").rglob("*"))
    lease_files = [p for p in leases if p.is_file()]
    assert len(lease_files) == 1 and '"pid": 1,' in lease_files[0].read_text()

    second = subprocess.run(
        [*_AS_PID_1, *call],
        env=child_env(log),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    assert "taking over the lease" in second.stderr and "pid 1 on" in second.stderr
    assert "gave up waiting" not in second.stderr
    assert log.read_text().split() == ["square:3", "square:3"]
    assert not [p for p in (cache / "leases").rglob("*") if p.is_file()]


def test_staging_file_of_an_earlier_pid_1_is_debris(tmp_path: Path) -> None:
    """A staging file left by a killed pid 1 is dead to the next pid 1, and gc removes it."""
    cache = tmp_path / "cache"
    make = (
        "import sys; from recyclable import Cache; from recyclable.store.local import temp_name; "
        "c = Cache(sys.argv[1]); p = c.path / 'tmp' / temp_name('blob'); p.write_bytes(b'x'); "
        "print(p.name)"
    )
    judge = (
        "import sys; from recyclable import Cache; from recyclable.store.local import "
        "writer_state; c = Cache(sys.argv[1]); print(writer_state(sys.argv[2]), "
        "c.garbage_collect().temporary)"
    )
    env = child_env(tmp_path / "log")
    made = subprocess.run(
        [*_AS_PID_1, "-c", make, str(cache)], env=env, capture_output=True, text=True, check=True
    )
    name = made.stdout.strip()
    assert ".1." in name
    judged = subprocess.run(
        [*_AS_PID_1, "-c", judge, str(cache), name],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert judged.stdout.split() == ["dead", "1"]
    assert not (cache / "tmp" / name).exists()
