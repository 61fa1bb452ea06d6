"""recyclable.Memory: joblib.Memory's surface, keyed and stored like @recyclable."""

from __future__ import annotations

import asyncio
import datetime
import os
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from joblib.memory import expires_after
from sklearn.utils.validation import check_memory

import recyclable
from recyclable import Cache, ConfigurationError, Memory, current_pool, fingerprint
from recyclable.memory import MemorizedFunc, NotMemorizedFunc

calls: list[str] = []


def scale(values: list[float], factor: float = 2.0, verbose: bool = False) -> list[float]:
    calls.append("scale")
    return [v * factor for v in values]


def offset(values: list[float], by: float) -> list[float]:
    calls.append("offset")
    return [v + by for v in values]


def big(n: int) -> Any:
    calls.append("big")
    return np.arange(n, dtype=np.float64)


@recyclable.recyclable
def inner_step(x: int) -> int:
    calls.append("inner")
    return x + 1


def outer(x: int) -> int:
    calls.append("outer")
    return inner_step(x) * 10


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    """A Memory on a fresh cache."""
    return Memory(tmp_path / "cache")


def test_cache_bare_and_as_a_decorator_factory(memory: Memory) -> None:
    """cache(func) and cache(ignore=...)(func) both store and load; ignored arguments do not key."""
    cached = memory.cache(scale)
    assert cached([1.0, 2.0]) == [2.0, 4.0] == cached([1.0, 2.0])
    assert calls == ["scale"]
    quiet = memory.cache(ignore=["verbose"])(scale)
    assert isinstance(quiet, MemorizedFunc) and quiet.func is scale
    assert quiet([3.0], verbose=False) == quiet([3.0], verbose=True) == [6.0]
    assert calls == ["scale", "scale"]
    assert quiet([3.0], factor=3.0) == [9.0]
    assert calls == ["scale", "scale", "scale"], "a keyed argument that changed must recompute"
    assert memory.pool is not None and memory.pool.stats.loaded == 2


def test_every_spelling_of_a_call_is_one_entry(memory: Memory) -> None:
    """Positional, keyword and defaulted spellings of the same call share a key, as @recyclable."""
    cached = memory.cache(scale)
    cached([1.0], 2.0)
    cached([1.0], factor=2.0)
    cached(values=[1.0])
    assert calls == ["scale"]


def test_no_pool_block_is_needed_and_none_leaks(memory: Memory) -> None:
    """The memory activates its pool for the call only; afterwards no pool is active."""
    cached = memory.cache(offset)
    assert current_pool() is None
    cached([1.0], 1.0)
    cached([1.0], 1.0)
    assert current_pool() is None
    assert calls == ["offset"]


def test_recyclable_steps_inside_a_cached_function_recycle_in_its_pool(memory: Memory) -> None:
    """While a cached function runs its pool is active, so @recyclable steps it calls are kept."""
    assert memory.eval(outer, 1) == 20
    assert memory.cache(outer)(1) == 20
    assert memory.cache(outer)(2) == 30
    assert calls == ["outer", "inner", "outer", "inner"]
    assert memory.cache(inner_step)(2) == 3  # stored by the nested call: loaded
    assert calls == ["outer", "inner", "outer", "inner"]


def test_location_none_caches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory(None): the function runs every time and nothing is written anywhere."""
    monkeypatch.chdir(tmp_path)
    memory = Memory(None)
    assert memory.location is None and memory.pool is None
    cached = memory.cache(scale)
    assert isinstance(cached, NotMemorizedFunc)
    cached([1.0])
    cached([1.0])
    assert cached.call([1.0]) == ([2.0], {})
    assert cached.check_call_in_cache([1.0]) is False
    assert memory.eval(scale, [1.0]) == [2.0]
    assert memory.reduce_size(items_limit=0) is None
    memory.clear()
    assert calls == ["scale"] * 4
    assert list(tmp_path.iterdir()) == []
    assert pickle.loads(pickle.dumps(cached))([1.0]) == [2.0]


def test_scikit_learn_accepts_it_as_a_memory(memory: Memory) -> None:
    """sklearn's check_memory takes it as is (it has ``cache``); location None stays None."""
    assert check_memory(memory) is memory
    assert check_memory(Memory(None)).location is None


def test_check_call_in_cache_reads_without_running(memory: Memory) -> None:
    """check_call_in_cache is False before, True after, and never runs the function."""
    cached = memory.cache(scale)
    assert not cached.check_call_in_cache([5.0])
    cached([5.0])
    assert cached.check_call_in_cache([5.0])
    assert cached.check_call_in_cache(values=[5.0], factor=2.0)
    assert not cached.check_call_in_cache([5.0], factor=3.0)
    assert calls == ["scale"]


def test_call_forces_execution_and_stores(memory: Memory) -> None:
    """call() runs the function even when stored, returns (output, metadata), and stores."""
    cached = memory.cache(offset)
    output, metadata = cached.call([1.0], 2.0)
    assert output == [3.0]
    assert set(metadata) == {"duration", "time", "input_args"}
    assert set(metadata["input_args"]) == {"values", "by"}
    assert cached([1.0], 2.0) == [3.0]
    assert calls == ["offset"], "the call after call() must load what it stored"
    cached.call([1.0], 2.0)
    assert calls == ["offset", "offset"]


def test_func_clear_drops_only_that_function(memory: Memory) -> None:
    """MemorizedFunc.clear recomputes that function's calls; another function's stay stored."""
    cached_scale, cached_offset = memory.cache(scale), memory.cache(offset)
    cached_scale([1.0])
    cached_offset([1.0], 1.0)
    cached_scale.clear()
    cached_scale([1.0])
    cached_offset([1.0], 1.0)
    assert calls == ["scale", "offset", "scale"]


def test_memory_clear_empties_its_pool_but_not_others(tmp_path: Path) -> None:
    """Memory.clear drops what its pool holds; a result another pool keeps survives it."""
    cache = Cache(tmp_path / "cache")
    mine, theirs = Memory(cache, pool="mine"), Memory(cache, pool="theirs")
    mine.cache(offset)([1.0], 1.0)
    theirs.cache(offset)([2.0], 1.0)
    mine.clear()
    assert mine.pool is not None and len(mine.pool) == 0
    mine.cache(offset)([1.0], 1.0)
    assert calls == ["offset", "offset", "offset"]
    theirs.cache(offset)([2.0], 1.0)
    assert calls == ["offset", "offset", "offset"], "the other pool's entry must survive"


def _age_markers(memory: Memory, seconds_by_n: dict[int, float]) -> None:
    """Date each stored big(n)'s marker ``seconds`` ago (when the pool took it)."""
    pool = memory.pool
    assert pool is not None
    store = pool.cache.local_store
    for n, seconds in seconds_by_n.items():
        key = memory.cache(big).spec.key_for({"n": n}).key
        marker = store.pool_dir(pool.name) / key[:2] / key
        stamp = time.time() - seconds
        os.utime(marker, (stamp, stamp))


def test_reduce_size_keeps_the_newest(memory: Memory) -> None:
    """reduce_size keeps the pool's newest results within items, bytes and age limits."""
    cached = memory.cache(big)
    for n in (30, 20, 10):
        cached(n)
    _age_markers(memory, {30: 300, 20: 200, 10: 100})  # 10 is the newest and the smallest
    memory.reduce_size(items_limit=2)
    pool = memory.pool
    assert pool is not None and len(pool) == 2
    cached(10)
    cached(20)
    assert calls == ["big"] * 3
    cached(30)
    assert calls == ["big"] * 4, "the oldest result must have been dropped"
    _age_markers(memory, {30: 3 * 86400, 20: 200, 10: 100})
    memory.reduce_size(age_limit=datetime.timedelta(days=1))
    assert len(pool) == 2
    cached(30)
    assert calls == ["big"] * 5, "the result older than a day must have been dropped"
    memory.reduce_size(bytes_limit="0K")
    assert len(pool) == 0
    with pytest.raises(ValueError, match="bytes_limit"):
        memory.reduce_size(bytes_limit="lots")
    with pytest.raises(ValueError, match="age_limit"):
        memory.reduce_size(age_limit=datetime.timedelta(seconds=-1))


def test_memory_and_cached_functions_pickle_and_keep_working(memory: Memory) -> None:
    """A pickled Memory or MemorizedFunc names the same pool: the copy loads what was stored."""
    cached = memory.cache(scale)
    cached([1.0])
    copy = pickle.loads(pickle.dumps(memory))
    assert copy.location == memory.location
    assert copy.cache(scale)([1.0]) == [2.0]
    assert pickle.loads(pickle.dumps(cached))([1.0]) == [2.0]
    assert calls == ["scale"]


def test_a_signed_cache_never_travels_with_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pickles of a Memory on a signed cache hold no secret; a copy reads it from the env."""
    monkeypatch.setenv("RECYCLABLE_SECRET", "a-long-shared-secret")
    memory = Memory(tmp_path / "cache", secret="a-long-shared-secret")
    cached = memory.cache(scale)
    cached([1.0])
    for blob in (pickle.dumps(memory), pickle.dumps(cached)):
        assert b"a-long-shared-secret" not in blob
    assert pickle.loads(pickle.dumps(cached)).check_call_in_cache([1.0])


def test_where_results_are_cached_does_not_enter_a_key(tmp_path: Path) -> None:
    """A Memory passed as an argument (a nested Pipeline's) keys the same wherever it caches."""
    a, b = Memory(tmp_path / "a"), Memory(tmp_path / "b", pool="other")
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(Memory(None))
    assert fingerprint(a.cache(scale)) == fingerprint(b.cache(scale))
    assert fingerprint(a.cache(scale)) != fingerprint(a.cache(offset))


def test_pool_memory_counts_in_the_pool(cache: Cache) -> None:
    """pool.memory() stores in that pool; its loads show in pool.stats."""
    pool = cache.create_pool("mine", reuse=True)
    cached = pool.memory().cache(scale)
    cached([1.0])
    cached([1.0])
    assert (pool.stats.computed, pool.stats.loaded) == (1, 1)
    assert len(pool) == 1


def test_recycling_switched_off_means_plain_calls(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RECYCLABLE_DISABLE=1: every call runs, nothing is stored, nothing reported as cached."""
    monkeypatch.setenv("RECYCLABLE_DISABLE", "1")
    cached = memory.cache(scale)
    cached([1.0])
    cached([1.0])
    cached.call([1.0])
    assert calls == ["scale"] * 3
    assert not cached.check_call_in_cache([1.0])
    monkeypatch.delenv("RECYCLABLE_DISABLE")
    assert memory.pool is not None and len(memory.pool) == 0


def test_mmap_modes(tmp_path: Path) -> None:
    """None (joblib's default) loads writable arrays; 'r' maps them read-only; per function too.

    A Cache or Pool given as the location keeps its own mode unless told otherwise.
    """
    writable = Memory(tmp_path / "cache")
    writable.cache(big)(100_000)
    loaded = writable.cache(big)(100_000)
    assert loaded.flags.writeable
    mapped = writable.cache(big, mmap_mode="r")(100_000)
    assert not mapped.flags.writeable
    assert Memory(tmp_path / "cache", mmap_mode="c").cache(big)(100_000).flags.writeable
    assert calls == ["big"]
    cache = Cache(tmp_path / "cache")  # mmap="r" by default
    pool = cache.create_pool("memory", reuse=True)
    assert writable.mmap_mode is None
    assert Memory(cache).mmap_mode == "r" == pool.memory().mmap_mode
    assert pool.memory().pool is pool, "a pool's own loading mode keeps the pool itself"
    assert not pool.memory().cache(big)(100_000).flags.writeable
    assert pool.memory(mmap_mode=None).cache(big)(100_000).flags.writeable
    assert calls == ["big"]


def test_validation_callback_can_reject_a_stored_result(memory: Memory) -> None:
    """A callback returning False drops the entry and recomputes; joblib's expires_after works."""
    seen: list[dict[str, Any]] = []

    def reject(metadata: dict[str, Any]) -> bool:
        seen.append(metadata)
        return False

    memory.cache(scale)([1.0])
    fresh = memory.cache(scale, cache_validation_callback=expires_after(days=1))
    fresh([1.0])
    assert calls == ["scale"]
    assert fresh.check_call_in_cache([1.0])
    stale = memory.cache(scale, cache_validation_callback=reject)
    assert not stale.check_call_in_cache([1.0])
    stale([1.0])
    assert calls == ["scale", "scale"]
    assert {"duration", "time", "input_args"} <= set(seen[0])
    memory.cache(scale)([1.0])
    assert calls == ["scale", "scale"], "the recomputed result must be stored"


def test_async_functions_are_cached(memory: Memory) -> None:
    """A coroutine function's result is stored and loaded like a plain one's."""

    async def fetch(x: int) -> int:
        calls.append("fetch")
        return x * 3

    cached = memory.cache(fetch)
    assert asyncio.run(cached(2)) == 6
    assert asyncio.run(cached(2)) == 6
    assert calls == ["fetch"]


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"compress": 10}, ConfigurationError, "compress"),
        ({"compress": [1]}, ConfigurationError, "compress"),
        ({"backend_options": {"compress": "lots"}}, ConfigurationError, "compress"),
        ({"backend": "s3"}, ConfigurationError, "s3://"),
        ({"backend_options": {"x": 1}}, ConfigurationError, "storage_options"),
        ({"mmap_mode": "r+"}, ConfigurationError, "'c'"),
        ({"mmap_mode": "w+"}, ConfigurationError, "'c'"),
        ({"mmap": "r"}, TypeError, "mmap_mode"),
        ({"colour": "red"}, TypeError, "colour"),
    ],
)
def test_options_not_honoured_are_refused_with_the_alternative(
    tmp_path: Path, options: dict[str, Any], error: type[Exception], names: str
) -> None:
    """joblib options recyclable does not honour are refused, naming what to use instead."""
    with pytest.raises(error, match=names):
        Memory(tmp_path / "cache", **options)


def test_bad_arguments_name_the_problem(memory: Memory) -> None:
    """Unknown ignore= names, a non-callable callback, a bad location and bad mmap are errors."""
    with pytest.raises(ValueError, match="nosuch"):
        memory.cache(scale, ignore=["nosuch"])
    with pytest.raises(ValueError, match="cache_validation_callback"):
        memory.cache(scale, cache_validation_callback=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="mmap_mode"):
        memory.cache(scale, mmap_mode="w+")
    with pytest.raises(TypeError, match="location"):
        Memory(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="do not fit"):
        memory.cache(scale).check_call_in_cache(nosuch=1)
    a_file = Path(memory.location).parent / "a-file"
    a_file.write_text("not a cache")
    with pytest.raises(recyclable.CacheLocationError, match="a-file"):
        Memory(a_file)
    with pytest.raises(recyclable.PoolNameError):
        Memory(memory.location, pool="../elsewhere")
    with pytest.raises(ConfigurationError, match="Cache"):
        Memory(Cache(memory.location), durable=True)


def test_a_directory_holding_other_files_gets_a_folder_inside(tmp_path: Path) -> None:
    """As joblib.Memory keeps a joblib/ folder, a busy directory gets recyclable/; its files stay.

    The memory's location is still the directory given, and a second Memory
    on it finds the same cache.
    """
    project = tmp_path / "project"
    (project / "joblib").mkdir(parents=True)  # a joblib.Memory cache beside ours
    (project / "notes.txt").write_text("mine")
    first = Memory(project)
    first.cache(scale)([1.0])
    assert first.location == project
    assert (project / "recyclable" / "VERSION").is_file()
    assert sorted(p.name for p in project.iterdir()) == ["joblib", "notes.txt", "recyclable"]
    assert (project / "notes.txt").read_text() == "mine"
    again = Memory(project)
    assert again.cache(scale)([1.0]) == [2.0]
    assert calls == ["scale"]
    assert again.pool is not None and again.pool.stats.loaded == 1


def test_compress_is_accepted_and_results_stay_uncompressed(tmp_path: Path) -> None:
    """compress= (joblib code passes it) is accepted in every joblib spelling, and ignored.

    Results are stored as without it: a large array still loads memory-mapped.
    """
    for compress in (True, 3, "zlib", ("lz4", 3)):
        memory = Memory(tmp_path / "cache", compress=compress, mmap_mode="r")
        assert not memory.cache(big)(100_000).flags.writeable
    backend = Memory(tmp_path / "cache", backend_options={"compress": 9, "mmap_mode": "r"})
    assert backend.mmap_mode == "r"
    assert calls == ["big"]


def test_accepted_joblib_options(tmp_path: Path) -> None:
    """verbose, compress=False, backend='local' and empty backend_options are accepted."""
    memory = Memory(
        str(tmp_path / "cache"), verbose=10, compress=False, backend="local", backend_options={}
    )
    cached = memory.cache(scale, verbose=5)
    cached([1.0])
    cached([1.0])
    assert calls == ["scale"]
    assert memory.location == str(tmp_path / "cache")
    assert "cache" in repr(memory)
