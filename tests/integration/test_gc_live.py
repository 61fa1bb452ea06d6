"""Garbage collection in a loop while writers publish: no published entry of a live pool is lost."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from children import call_args, child_env
from remote_support import S3Location
from stress.stress_gc_writers import run

from recyclable import Cache


def test_gc_loop_never_loses_a_live_entry(tmp_path: Path) -> None:
    """Writers, a pool churning shared blobs, a collector with no grace: every entry survives."""
    result = run(tmp_path / "cache", writers=3, keys=30, rounds=3)
    assert result.errors == []
    assert result.returncodes == [0, 0, 0, 0]
    assert result.collections > 1
    assert result.recomputed_after == []
    assert result.wrong == []
    assert result.warnings == []
    assert result.verified


def test_gc_loop_on_s3_never_loses_a_live_entry(s3: S3Location, tmp_path: Path) -> None:
    """The same on a moto S3 server: a collector with no grace never takes a live entry's blob.

    The object-store collector used to build its live set from one listing,
    so blobs of entries published meanwhile were deleted under their writers.
    """
    result = run(
        s3.url(), writers=2, keys=12, rounds=2, log=tmp_path / "log", s3_endpoint=s3.endpoint
    )
    assert result.errors == []
    assert result.returncodes == [0, 0, 0]
    assert result.collections > 1
    assert result.recomputed_after == []
    assert result.wrong == []
    assert result.warnings == []
    assert result.verified


def test_no_garbage_collection_at_process_exit(tmp_path: Path) -> None:
    """A process that used the cache and exited leaves debris for an explicit gc to take."""
    cache = Cache(tmp_path / "cache")
    # Debris of a writer that no longer runs: any gc would remove it at once.
    dead = subprocess.Popen(["true"])
    dead.wait()
    debris = cache.path / "tmp" / f"blob.{socket.gethostname()}.{dead.pid}.0123456789ab.tmp"
    debris.write_bytes(b"partial")
    proc = subprocess.run(
        call_args(cache.path, "p", "square", 1),
        env=child_env(tmp_path / "log"),
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    # The child did use the store: it computed and published square(1).
    assert (tmp_path / "log").read_text().split() == ["square:1"]
    assert len(list((cache.path / "entries").rglob("*.json"))) == 1
    assert debris.exists()
    assert cache.garbage_collect().temporary == 1
    assert not debris.exists()
