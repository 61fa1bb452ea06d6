"""A cache on a filesystem that makes no hard links (FUSE, as some network mounts are).

The store publishes by link-then-unlink and claims by linking a lease file;
where ``os.link`` fails with EPERM it must fall back to check-then-replace
and to leases made in place, and still store, load, single-flight and leave
nothing behind.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pipeline_actions as actions
import pytest
from children import LogWatch, call_args, child_env, spawn, wait_for_file
from filesystems import no_hard_links

from recyclable import Cache


def _files(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


def test_the_filesystem_refuses_hard_links(tmp_path: Path) -> None:
    """The premise of this module: os.link fails there (else the fallbacks go untested)."""
    with no_hard_links(tmp_path / "fs") as fs:
        (fs / "a").write_bytes(b"x")
        with pytest.raises(PermissionError):
            os.link(fs / "a", fs / "b")


def test_store_load_and_single_flight_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, waiting: LogWatch
) -> None:
    """Another process holds the call: this one waits, loads its result; a rerun loads it too."""
    log = tmp_path / "log"
    with no_hard_links(tmp_path / "fs") as fs:
        cache_dir = fs / "cache"
        Cache(cache_dir)
        with spawn(
            call_args(cache_dir, "p", "square", 3),
            child_env(log, RECYCLABLE_TEST_GATE_AT="square:3"),
        ) as holder:
            wait_for_file(Path(f"{log}.started"), holder)
            # The holder's lease: a file of its own at the lease's path, not a link.
            (lease,) = _files(cache_dir / "leases")
            assert os.stat(lease).st_nlink == 1
            assert f'"pid": {holder.pid},' in lease.read_text()
            monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
            cache = Cache(cache_dir)
            got: list[dict[str, object]] = []

            def waiter() -> None:
                with cache.create_pool("p", reuse=True) as pool:
                    got.append(actions.square(3))
                got.append({"loaded": pool.stats.loaded})

            thread = threading.Thread(target=waiter)
            thread.start()
            assert waiting.wait_for(1)
            Path(f"{log}.gate").write_text("open")
            thread.join(timeout=120)
            assert holder.wait(timeout=120) == 0
        assert actions.executions(log) == ["square:3"]
        assert got[1] == {"loaded": 1}
        expected = actions.expected_square(3)
        assert got[0]["square"] == expected["square"]
        np.testing.assert_array_equal(got[0]["pad"], expected["pad"])  # type: ignore[arg-type]
        assert _files(cache_dir / "leases") == [] and _files(cache_dir / "tmp") == []

        # A rerun in a new process loads, and a second step is stored beside it.
        with spawn(call_args(cache_dir, "p", "square", 3), child_env(log)) as rerun:
            assert rerun.wait(timeout=120) == 0
        with spawn(call_args(cache_dir, "p", "square", 4), child_env(log)) as other:
            assert other.wait(timeout=120) == 0
        assert actions.executions(log) == ["square:3", "square:4"]
        assert Cache(cache_dir).verify().ok
        assert _files(cache_dir / "leases") == [] and _files(cache_dir / "tmp") == []
