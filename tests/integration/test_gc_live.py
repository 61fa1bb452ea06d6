"""Garbage collection in a loop while writers publish: no published entry of a live pool is lost."""

from __future__ import annotations

from pathlib import Path

from stress.stress_gc_writers import run


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
