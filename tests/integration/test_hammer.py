"""Eight processes hammer one pool with overlapping keys (bounded version of the stress script)."""

from __future__ import annotations

from pathlib import Path

from stress.stress_hammer import run


def test_eight_processes_overlapping_keys_compute_each_once(tmp_path: Path) -> None:
    """Every call returns the right value, each key is computed once, nothing is left behind."""
    keys = 12
    result = run(tmp_path / "cache", processes=8, keys=keys, rounds=2, work_seconds=0.02)
    assert result.errors == []
    assert result.returncodes == [0] * 8
    assert result.calls == 8 * 2 * keys
    assert result.computed == dict.fromkeys(range(keys), 1)
    assert result.leftover_leases == []
    assert result.leftover_temp == []


def test_hammer_with_a_collector_running(tmp_path: Path) -> None:
    """The same with garbage collection (grace 0) looping meanwhile: no result is lost."""
    keys = 8
    result = run(
        tmp_path / "cache", processes=4, keys=keys, rounds=2, work_seconds=0.01, with_gc=True
    )
    assert result.errors == []
    assert result.returncodes == [0] * 5
    assert result.calls == 4 * 2 * keys
    assert result.computed == dict.fromkeys(range(keys), 1)
    assert result.leftover_leases == []
