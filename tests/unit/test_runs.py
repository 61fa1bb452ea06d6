"""Run records: keys noted before use, liveness, release that spares other runs, GC protection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recyclable import Cache, recyclable
from recyclable.runs import RunRecord, call_identity, list_runs

CALLS: list[int] = []


@recyclable
def step(x: int) -> int:
    CALLS.append(x)
    return x * 10


def _markers(cache: Cache, pool: str) -> set[str]:
    return set(cache.store.iter_markers(pool))


def _entries(cache: Cache) -> set[str]:
    return set(cache.store.iter_manifest_keys())


def test_record_lists_each_key_and_is_not_a_marker(cache: Cache) -> None:
    """Every key a run uses is in its record file; the .runs directory is never read as markers."""
    pool = cache.create_pool("p")
    with RunRecord(pool) as run, pool:
        step(1)
        step(1)
        step(2)
        path = run.path
        assert path is not None
        lines = path.read_text().splitlines()
        header = json.loads(lines[0])
        assert header["pid"] == os.getpid()
        # The record sits in the pool directory but is not listed as a marker.
        assert path.parent == cache.store.pool_dir("p") / ".runs"
        assert sorted(lines[1:]) == sorted(_markers(cache, "p"))
        assert len(lines[1:]) == 2
    assert not path.exists()  # a normal exit removes the record, keeps the markers
    assert len(_markers(cache, "p")) == 2


def test_ended_and_live_records(cache: Cache) -> None:
    """A running record is live; an abandoned one (run failed, process alive) is not."""
    pool = cache.create_pool("p")
    run = RunRecord(pool, identity="abc")
    run.start()
    (info,) = list_runs(pool)
    assert info.live and info.identity == "abc"
    run.abandon()
    (info,) = list_runs(pool)
    assert not info.live
    assert info.path.exists()


def test_record_of_a_dead_process_is_not_live(cache: Cache, tmp_path: Path) -> None:
    """A record whose process exited without cleaning up (os._exit) is unfinished, not live."""
    pool = cache.create_pool("p")
    script = textwrap.dedent(
        f"""
        import os
        from recyclable import Cache, RunRecord
        cache = Cache({str(cache.path)!r})
        run = RunRecord(cache.pool("p"), identity="dead")
        run.start()
        run.note("0" * 32)
        os._exit(0)
        """
    )
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    (info,) = list_runs(pool)
    assert info.identity == "dead"
    assert info.keys == frozenset({"0" * 32})
    assert not info.live


def test_release_spares_keys_of_a_live_run(cache: Cache) -> None:
    """A run that succeeds keeps the markers another live run also used, and their entries."""
    pool = cache.create_pool("p")
    other_cache = Cache(cache.path)
    other_pool = other_cache.pool("p")
    with RunRecord(other_pool) as other, other_pool:
        step(1)
        with RunRecord(pool) as run, pool:
            step(1)
            step(2)
            report = run.finish(release=True)
        assert report.kept == 1
        assert report.released == 1
        assert not report.pool_removed
        assert _markers(cache, "p") == set(other.keys)
        assert _entries(cache) == set(other.keys)
        final = other.finish(release=True)
    assert final.pool_removed
    assert cache.pools() == []
    assert _entries(cache) == set()


def test_release_retires_unfinished_runs_of_the_same_call(cache: Cache) -> None:
    """The successful re-run of a failed call drops the failed run's record and markers too."""
    pool = cache.create_pool("p")
    CALLS.clear()
    with pytest.raises(ZeroDivisionError), RunRecord(pool, identity="same"), pool:
        step(5)
        step(6)
        raise ZeroDivisionError  # the failure
    assert len(_entries(cache)) == 2  # the failed run's steps were kept
    with RunRecord(pool, identity="same") as run, pool:
        step(5)
        assert CALLS == [5, 6]  # the re-run loaded step(5)
        report = run.finish(release=True)
    assert report.superseded == 1
    assert report.released == 2
    assert report.pool_removed
    assert _entries(cache) == set()


def test_release_keeps_unfinished_runs_of_other_calls(cache: Cache) -> None:
    """A failed run of other parameters keeps its steps when another call succeeds."""
    pool = cache.create_pool("p")
    with pytest.raises(ZeroDivisionError), RunRecord(pool, identity="first"), pool:
        step(7)
        step(8)
        raise ZeroDivisionError
    with RunRecord(pool, identity="second") as run, pool:
        step(7)
        step(9)
        report = run.finish(release=True)
    assert report.superseded == 0
    assert report.kept == 1
    assert report.remaining == 2
    assert len(_entries(cache)) == 2


def test_gc_keeps_entries_a_live_run_noted_even_without_a_marker(cache: Cache) -> None:
    """Garbage collection treats a live run's keys as referenced."""
    pool = cache.create_pool("p")
    with RunRecord(pool) as run, pool:
        step(3)
        (key,) = run.keys
        cache.store.remove_marker("p", key)
        assert cache.garbage_collect().entries == 0
        assert _entries(cache) == {key}
        report = run.finish(release=True)  # the record goes: nothing protects the entry now
    assert report.garbage is not None and report.garbage.entries == 1
    assert _entries(cache) == set()


def test_empty_pool_with_a_record_is_not_removed(cache: Cache) -> None:
    """remove_pool_if_empty never removes a pool a run is registered in."""
    pool = cache.create_pool("p")
    with RunRecord(pool):
        assert not cache.store.remove_pool_if_empty("p")
        assert cache.pools() == ["p"]
    assert cache.store.remove_pool_if_empty("p")
    assert cache.pools() == []


def test_one_record_per_pool_object(cache: Cache) -> None:
    """Attaching two records to one pool object is refused with a clear error."""
    pool = cache.create_pool("p")
    with RunRecord(pool), pytest.raises(ValueError, match="already has a run record"):
        RunRecord(pool).start()


def test_call_identity() -> None:
    """Identity depends on action and arguments; an unhashable argument gives None."""
    a = call_identity("plug", "act", {"n": 1, "m": [1, 2]})
    assert a == call_identity("plug", "act", {"m": [1, 2], "n": 1})
    assert a != call_identity("plug", "act", {"n": 2, "m": [1, 2]})
    assert a != call_identity("plug", "other", {"n": 1, "m": [1, 2]})
    assert call_identity("plug", "act", {"lock": __import__("threading").Lock()}) is None


def test_add_marker_survives_a_release_removing_empty_directories(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A marker write racing a finishing run's rmdir of the empty pool recreates and succeeds.

    Fault injection: just before each of the first two opens of the marker,
    the pool's empty directories are removed as a concurrent release would.
    """
    from recyclable.store import local

    store = cache.store
    cache.create_pool("p")
    key = "ab" * 16
    real_open = os.open
    races: list[str] = []

    def racing_open(path: object, flags: int, mode: int = 0o777) -> int:
        if str(path).endswith(key) and len(races) < 2:
            races.append(str(path))
            store.remove_pool_if_empty("p")
        return real_open(path, flags, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(local.os, "open", racing_open)
    store.add_marker("p", key)
    monkeypatch.undo()
    assert len(races) == 2
    assert store.has_marker("p", key)


@pytest.mark.parametrize("ending", ["failure", "kept"])
def test_run_ending_without_release_re_adds_markers(cache: Cache, ending: str) -> None:
    """A run that fails, or finishes without releasing, re-marks every stored key it used.

    Another run's release can drop a marker a run noted just too late to be
    protected; the run puts it back before its record stops protecting it.
    """
    pool = cache.create_pool("p")
    run = RunRecord(pool)
    with pytest.raises(ZeroDivisionError) if ending == "failure" else _nothing(), run, pool:
        step(11)
        (key,) = run.keys
        cache.store.remove_marker("p", key)  # as a concurrent release would
        if ending == "failure":
            raise ZeroDivisionError
        run.finish(release=False)
    assert _markers(cache, "p") == {key}


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
