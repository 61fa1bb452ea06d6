"""Leases: judging holders (dead, reused pid, other host, stale heartbeat), takeover, heartbeat."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recyclable.lease import LeaseHolder, Leases, holder_is_dead, process_start_time

KEY = "ab" + "0" * 30


def _me() -> LeaseHolder:
    return LeaseHolder.current()


def _write_lease(leases: Leases, holder: LeaseHolder | None, age: float = 0.0) -> Path:
    path = leases.path(KEY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"{not json" if holder is None else holder.to_json())
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def _reaped_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_own_process_is_alive() -> None:
    """A lease held by this very process is never judged dead, however old its heartbeat."""
    assert not holder_is_dead(_me(), heartbeat=0.0, stale=1.0)


def test_exited_process_is_dead() -> None:
    """A holder whose pid no longer exists on this host is dead, however fresh its heartbeat."""
    holder = dataclasses.replace(_me(), pid=_reaped_pid())
    assert holder_is_dead(holder, heartbeat=time.time(), stale=3600)


def test_reused_pid_is_dead() -> None:
    """A live pid whose start time differs from the recorded one belongs to another process."""
    parent = os.getppid()
    start = process_start_time(parent)
    if start is None:
        pytest.skip("process start times are not readable here (no /proc)")
    same = dataclasses.replace(_me(), pid=parent, start=start)
    reused = dataclasses.replace(_me(), pid=parent, start=start + 1)
    assert not holder_is_dead(same, heartbeat=time.time(), stale=3600)
    assert holder_is_dead(reused, heartbeat=time.time(), stale=3600)


def test_start_time_orders_processes() -> None:
    """A child started after this process has a start time no earlier than ours."""
    mine = process_start_time(os.getpid())
    if mine is None:
        pytest.skip("process start times are not readable here (no /proc)")
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    try:
        theirs = process_start_time(child.pid)
    finally:
        child.communicate(b"")
    assert theirs is not None and theirs >= mine


@pytest.mark.parametrize("field", ["host", "boot"])
def test_other_host_is_judged_by_heartbeat(field: str) -> None:
    """On another host (or after a reboot) only a stale heartbeat makes a holder dead."""
    holder = dataclasses.replace(_me(), **{field: "elsewhere"})
    assert not holder_is_dead(holder, heartbeat=time.time() - 5, stale=60)
    assert holder_is_dead(holder, heartbeat=time.time() - 120, stale=60)


def test_unreadable_lease_is_judged_by_age() -> None:
    """A lease its holder died before filling: alive while young, dead once stale."""
    assert not holder_is_dead(None, heartbeat=time.time(), stale=60)
    assert holder_is_dead(None, heartbeat=time.time() - 120, stale=60)


def test_record_round_trip() -> None:
    """The lease file records host, boot, pid, start time and token; garbage parses to None."""
    holder = _me()
    raw = json.loads(holder.to_json())
    assert raw["pid"] == os.getpid() and raw["host"] == holder.host
    assert LeaseHolder.from_json(holder.to_json()) == holder
    assert LeaseHolder.from_json(b'{"pid": "x"}') is None


def test_stale_foreign_lease_is_taken_over(tmp_path: Path) -> None:
    """A lease of another host with a stale heartbeat is replaced by ours."""
    leases = Leases(tmp_path, timeout=60, stale=30)
    path = _write_lease(leases, dataclasses.replace(_me(), host="elsewhere"), age=120)
    claim = leases.claim(KEY, lambda: None)
    assert (claim.held, claim.reason) == (True, "took-over")
    assert LeaseHolder.from_json(path.read_bytes()).pid == os.getpid()  # type: ignore[union-attr]
    leases.release(KEY)
    assert not path.exists()


def test_live_foreign_lease_times_out_and_is_kept(tmp_path: Path) -> None:
    """A fresh lease of another host is waited for until the timeout, then left in place."""
    leases = Leases(tmp_path, timeout=0.1, stale=3600)
    path = _write_lease(leases, dataclasses.replace(_me(), host="elsewhere"))
    before = path.read_bytes()
    claim = leases.claim(KEY, lambda: None)
    assert (claim.held, claim.reason) == (False, "timed-out")
    assert path.read_bytes() == before


def test_result_published_while_waiting_is_returned(tmp_path: Path) -> None:
    """A waiter returns what the probe finds instead of computing."""
    leases = Leases(tmp_path, timeout=60, stale=3600)
    _write_lease(leases, dataclasses.replace(_me(), host="elsewhere"))
    polls: list[int] = []

    def probe() -> str | None:
        polls.append(1)
        return "published" if len(polls) >= 3 else None

    claim = leases.claim(KEY, probe)
    assert (claim.result, claim.held, claim.reason) == ("published", False, "hit")


def test_removal_spares_a_lease_replaced_since_it_was_judged(tmp_path: Path) -> None:
    """Two waiters judging the same dead lease: the slower one cannot remove the new holder's."""
    leases = Leases(tmp_path, timeout=60, stale=30)
    path = _write_lease(leases, dataclasses.replace(_me(), host="elsewhere"), age=120)
    judged = path.read_bytes()
    path.unlink()  # the faster waiter removed it ...
    claim = leases.claim(KEY, lambda: None)  # ... and took the lease
    assert claim.held
    fresh = path.read_bytes()
    leases._remove_if_same(path, judged)  # the slower waiter acts on its stale judgement
    assert path.read_bytes() == fresh
    leases.release(KEY)


def test_heartbeat_renews_the_lease(tmp_path: Path) -> None:
    """While held, the lease's mtime is refreshed, so other hosts never see it stale."""
    leases = Leases(tmp_path, timeout=60, stale=0.2)
    claim = leases.claim(KEY, lambda: None)
    assert claim.held
    path = leases.path(KEY)
    os.utime(path, (0, 0))
    deadline = time.monotonic() + 30
    while os.stat(path).st_mtime == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.stat(path).st_mtime > time.time() - 60
    leases.release(KEY)
    assert not path.exists()


def test_gc_removes_only_dead_leases(tmp_path: Path) -> None:
    """remove_dead takes out a dead holder's lease and keeps a live one."""
    leases = Leases(tmp_path, timeout=60, stale=30)
    dead = _write_lease(leases, dataclasses.replace(_me(), pid=_reaped_pid()))
    live_key = "cd" + "1" * 30
    assert leases.claim(live_key, lambda: None).held
    assert leases.remove_dead() == 1
    assert not dead.exists()
    assert leases.path(live_key).exists()
    leases.release(live_key)


def test_forked_child_starts_with_no_leases(tmp_path: Path) -> None:
    """A child forked while the parent holds a lease neither holds nor releases it."""
    import warnings

    leases = Leases(tmp_path, timeout=60, stale=30)
    assert leases.claim(KEY, lambda: None).held
    other = "ef" + "2" * 30
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads (our heartbeat).
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        ok = not leases._held
        claim = leases.claim(other, lambda: None)
        leases.release(KEY)  # not the child's to release: must do nothing
        leases.release(other)
        os._exit(0 if ok and claim.held else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert leases.path(KEY).exists()
    assert not leases.path(other).exists()
    leases.release(KEY)


def test_release_spares_a_lease_a_waiter_took_over(tmp_path: Path) -> None:
    """A holder judged dead by mistake leaves the new holder's lease alone when it releases."""
    leases = Leases(tmp_path, timeout=60, stale=30)
    assert leases.claim(KEY, lambda: None).held
    path = leases.path(KEY)
    os.rename(path, tmp_path / "taken-aside")  # a waiter breaks the lease...
    newer = dataclasses.replace(_me(), pid=_reaped_pid()).to_json()
    path.write_bytes(newer)  # ...and claims the key itself
    leases.release(KEY)
    assert path.read_bytes() == newer
