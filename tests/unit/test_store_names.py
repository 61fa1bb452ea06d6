"""Staging names record their writer (host and pid) so gc can tell a dead writer's debris."""

from __future__ import annotations

import os
import subprocess
import sys

from recyclable.store.local import temp_name, temp_writer, writer_state


def test_temp_name_records_host_and_pid() -> None:
    """A name made here parses back to this host and pid, whatever dots the label holds."""
    name = temp_name("pool-my.pool.v2")
    host, pid = temp_writer(name)  # type: ignore[misc]
    assert pid == os.getpid() and host
    assert writer_state(name) == "live"


def test_writer_of_an_exited_process_is_dead() -> None:
    """A staging name of a pid that has exited on this host is judged dead."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    name = temp_name("blob").replace(f".{os.getpid()}.", f".{proc.pid}.")
    assert temp_writer(name) == (temp_writer(temp_name("x"))[0], proc.pid)  # type: ignore[index]
    assert writer_state(name) == "dead"


def test_other_hosts_and_foreign_names_are_unknown() -> None:
    """Names of another host, or not made by temp_name, cannot be judged."""
    assert writer_state("blob.some-other-host.1.abcdef012345.tmp") == "unknown"
    assert temp_writer("notes.txt") is None
    assert writer_state("notes.txt") == "unknown"
