"""joblib's Memory tests of shelving, pickling, clearing and reduce_size, against recyclable.Memory.

From joblib 1.6 ``test/test_memory.py``, keeping joblib's test names; the
adaptations (no ``store_backend``, reduce_size ranked by when the pool took
an entry, logging instead of printing) are listed in
``test_memory_joblib_suite``'s docstring.  Each test asserts a load.
"""

from __future__ import annotations

import datetime
import logging
import os
import pickle
import time
from pathlib import Path
from typing import Any

import joblib
import pytest
from joblib.memory import expires_after

from recyclable import Memory, RecyclableWarning
from recyclable.memorized import (
    MemorizedFunc,
    MemorizedResult,
    NotMemorizedFunc,
    NotMemorizedResult,
)

unpickled: list[int] = []


def f(x: int, y: int = 1) -> int:
    """A module-level function for testing purposes."""
    return x**2 + y


def _revive(value: int) -> Counted:
    unpickled.append(value)
    return Counted(value)


class Counted:
    """A result that records each time it is unpickled, i.e. loaded from the store."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:
        return (_revive, (self.value,))


def counted(x: int) -> Counted:
    """A function whose result counts its loads."""
    return Counted(x)


def _stats(memory: Memory) -> tuple[int, int]:
    assert memory.pool is not None
    return memory.pool.stats.computed, memory.pool.stats.loaded


@pytest.mark.parametrize("consider_cache_valid", [True, False])
def test_check_call_in_cache(tmp_path: Path, consider_cache_valid: bool) -> None:
    """check_call_in_cache is a bool: False before, then the callback's verdict; then clear.

    For a MemorizedFunc built directly, as joblib's, and one from Memory.cache.
    """
    for func in (
        MemorizedFunc(f, tmp_path, cache_validation_callback=lambda _: consider_cache_valid),
        Memory(location=tmp_path, verbose=0).cache(
            f, cache_validation_callback=lambda _: consider_cache_valid
        ),
    ):
        result = func.check_call_in_cache(2)
        assert isinstance(result, bool) and not result
        assert func(2) == 5
        result = func.check_call_in_cache(2)
        assert isinstance(result, bool)
        assert result == consider_cache_valid
        assert func(2) == 5
        stats = func._opened.get().stats
        assert (stats.computed, stats.loaded) == ((1, 1) if consider_cache_valid else (2, 0))
        func.clear()
        assert not MemorizedFunc(f, tmp_path).check_call_in_cache(2)
    assert not NotMemorizedFunc(f).check_call_in_cache(2)


def test_call_and_shelve(tmp_path: Path) -> None:
    """call_and_shelve returns a MemorizedResult (NotMemorizedResult without a location).

    get() gives the value; after clear(), get() raises KeyError, and clear() again does nothing.
    """
    for func, result_type in (
        (MemorizedFunc(f, tmp_path), MemorizedResult),
        (NotMemorizedFunc(f), NotMemorizedResult),
        (Memory(location=tmp_path, verbose=0).cache(f), MemorizedResult),
        (Memory(location=None).cache(f), NotMemorizedResult),
    ):
        assert func(2) == 5
        result = func.call_and_shelve(2)
        assert isinstance(result, result_type)
        assert result.get() == 5
        result.clear()
        with pytest.raises(KeyError):
            result.get()
        result.clear()
    assert not Memory(location=tmp_path).cache(f).check_call_in_cache(2)


def test_call_and_shelve_lazily_load_stored_result(tmp_path: Path) -> None:
    """call_and_shelve of a stored call neither runs nor loads it; get() loads it.

    Adapted: joblib watches the file's access time; here the result counts
    its own unpickling.
    """
    unpickled.clear()
    memory = Memory(location=tmp_path, verbose=0)
    func = memory.cache(counted)
    assert func(2).value == 2
    loads = len(unpickled)  # the miss may hand back what a hit would load
    result = func.call_and_shelve(2)
    assert isinstance(result, MemorizedResult)
    assert len(unpickled) == loads, "shelving a stored result must not load it"
    assert result.get().value == 2
    assert len(unpickled) == loads + 1


def test_memorized_pickling(tmp_path: Path) -> None:
    """A shelved result written to a file and read back gives the same value."""
    for func in (MemorizedFunc(f, tmp_path), NotMemorizedFunc(f)):
        filename = tmp_path / "pickling_test.dat"
        result = func.call_and_shelve(2)
        filename.write_bytes(pickle.dumps(result))
        result2 = pickle.loads(filename.read_bytes())
        assert result2.get() == result.get() == 5
        filename.unlink()
    assert Memory(location=tmp_path).cache(f).check_call_in_cache(2)


def test_memorized_repr(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two MemorizedFuncs of one function repr alike and share results; any verbose works."""
    func = MemorizedFunc(f, tmp_path)
    result = func.call_and_shelve(2)
    func2 = MemorizedFunc(f, tmp_path)
    result2 = func2.call_and_shelve(2)
    assert result.get() == result2.get() == 5
    assert result.args_id == result2.args_id
    assert repr(func) == repr(func2)
    assert "NotMemorizedFunc" in repr(NotMemorizedFunc(f))
    memory = Memory(location=tmp_path)
    caplog.set_level(logging.INFO, logger="recyclable")
    for verbose in (11, 5, 0):
        assert memory.cache(f, verbose=verbose).call_and_shelve(11).get() == 122
        built = MemorizedFunc(f, tmp_path, verbose=verbose, timestamp=time.time())
        assert built.call_and_shelve(11).get() == 122
    assert _stats(memory) == (1, 0), "one computed; the shelved references did not load it"
    assert caplog.text.count("computing") == 1


def test_memory_clear(tmp_path: Path) -> None:
    """memory.clear() drops every stored result: the cache keeps no entry and no data."""
    memory = Memory(location=tmp_path, verbose=0)
    g = memory.cache(f)
    for i in range(5):
        g(i)
    assert g(0) == 1 and _stats(memory) == (5, 1)
    memory.clear()
    left = [p for p in (tmp_path / "entries").rglob("*") if p.is_file()]
    left += [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]
    assert left == []
    assert not g.check_call_in_cache(0)


def _setup_toy_cache(tmp_path: Path, num_inputs: int = 10) -> tuple[Memory, Any]:
    memory = Memory(location=tmp_path, verbose=0)

    @memory.cache()
    def get_1000_bytes(arg: int) -> str:
        return "a" * 1000

    for arg in range(num_inputs):
        get_1000_bytes(arg)
    return memory, get_1000_bytes


def _items(memory: Memory, func: Any, inputs: range) -> set[int]:
    """The inputs whose result the pool still holds (checked without loading)."""
    assert memory.pool is not None
    return {i for i in inputs if func.check_call_in_cache(i)}


def test_memory_reduce_size_bytes_limit(tmp_path: Path) -> None:
    """reduce_size(bytes_limit=) keeps the newest results that fit; a noop without limits.

    Adapted: each result is its 1,000 bytes and a few of pickle framing, with
    no metadata file, so joblib's "3K" keeps three here: 2,500 keeps two.
    """
    memory, get = _setup_toy_cache(tmp_path)
    everything = set(range(10))
    assert memory.reduce_size() is None
    assert _items(memory, get, range(10)) == everything
    memory.reduce_size(bytes_limit="1M")
    assert _items(memory, get, range(10)) == everything
    memory.reduce_size(bytes_limit=2500)
    kept = _items(memory, get, range(10))
    assert len(kept) == 2
    assert get(min(kept)) == "a" * 1000
    assert _stats(memory) == (10, 1), "a kept result loads"
    memory.reduce_size(bytes_limit=500)
    assert _items(memory, get, range(10)) == set()


def test_memory_reduce_size_items_limit(tmp_path: Path) -> None:
    """reduce_size(items_limit=) keeps that many results (the newest), 0 keeps none."""
    memory, get = _setup_toy_cache(tmp_path)
    memory.reduce_size()
    assert len(_items(memory, get, range(10))) == 10
    memory.reduce_size(items_limit=10)
    assert len(_items(memory, get, range(10))) == 10
    memory.reduce_size(items_limit=2)
    kept = _items(memory, get, range(10))
    assert len(kept) == 2
    for i in kept:
        get(i)
    assert _stats(memory) == (10, 2)
    memory.reduce_size(items_limit=0)
    assert _items(memory, get, range(10)) == set()


def _age(memory: Memory, func: Any, args: range, seconds: float) -> None:
    """Date the pool's markers of ``func(i)`` ``seconds`` ago (when the pool took them)."""
    pool = memory.pool
    assert pool is not None
    store = pool.cache.local_store
    for i in args:
        key = func._callkey((i,), {}).key
        marker = store.pool_dir(pool.name) / key[:2] / key
        stamp = time.time() - seconds
        os.utime(marker, (stamp, stamp))


def test_memory_reduce_size_age_limit(tmp_path: Path) -> None:
    """reduce_size(age_limit=) drops results older than the limit; negative is refused.

    Adapted: the ten results are dated an hour back instead of sleeping.
    """
    memory, put_cache = _setup_toy_cache(tmp_path)
    memory.reduce_size()
    memory.reduce_size(age_limit=datetime.timedelta(days=1))
    assert len(_items(memory, put_cache, range(10))) == 10
    _age(memory, put_cache, range(10), 3600)
    put_cache(-1)
    put_cache(-2)
    memory.reduce_size(age_limit=datetime.timedelta(minutes=10))
    assert _items(memory, put_cache, range(-2, 10)) == {-1, -2}
    assert put_cache(-1) == "a" * 1000
    assert _stats(memory) == (12, 1)
    with pytest.raises(ValueError, match="has to be a positive"):
        memory.reduce_size(age_limit=datetime.timedelta(seconds=-1))
    time.sleep(0.01)  # a stored result is a little older than "now" on a coarse clock
    memory.reduce_size(age_limit=datetime.timedelta(seconds=0))
    assert _items(memory, put_cache, range(-2, 10)) == set()


def fast_func_with_complex_output() -> list[str]:
    """A result big enough to take a while to write."""
    return ["a" * 1000] * 1000


def test_cached_function_race_condition_when_persisting_output(tmp_path: Path) -> None:
    """Two worker processes writing the same result: no error, one result, loaded after.

    joblib #490; here a torn or doubly written entry cannot be published.
    """
    from joblib import Parallel, delayed

    memory = Memory(location=tmp_path)
    func_cached = memory.cache(fast_func_with_complex_output)
    results = Parallel(n_jobs=2)(delayed(func_cached)() for _ in range(3))
    assert results == [fast_func_with_complex_output()] * 3
    assert func_cached() == fast_func_with_complex_output()
    assert _stats(memory) == (0, 1)


def test_memory_recomputes_after_an_error_while_loading_results(tmp_path: Path) -> None:
    """A damaged stored result is a warned recompute; a shelved reference to one raises KeyError.

    Adapted: call_and_shelve checks the stored entry, so a damaged one is
    computed again there (joblib hands back a reference that fails on get).
    """
    memory = Memory(location=tmp_path)

    def func(arg: str) -> tuple[str, float]:
        time.sleep(0.01)  # two calls' timestamps differ on a coarse clock
        return arg, time.time()

    cached_func = memory.cache(func)
    arg, timestamp = cached_func("arg")
    assert cached_func("arg") == (arg, timestamp)

    def corrupt() -> None:
        for manifest in (tmp_path / "entries").rglob("*.json"):
            manifest.write_text("garbage")

    corrupt()
    with pytest.warns(RecyclableWarning, match="damaged"):
        recomputed_arg, recomputed_timestamp = cached_func(arg)
    assert recomputed_arg == arg
    assert recomputed_timestamp > timestamp
    corrupt()
    with pytest.warns(RecyclableWarning, match="damaged"):
        reference = cached_func.call_and_shelve(arg)  # adapted: shelving stores a good one
    assert reference.get()[0] == arg
    corrupt()
    with pytest.warns(RecyclableWarning, match="damaged"), pytest.raises(KeyError, match="damaged"):
        reference.get()


def test_instanciate_store_backend_with_pathlib_path(tmp_path: Path) -> None:
    """Memory(location=pathlib.Path) caches there; location stays the Path given."""
    path = tmp_path / "some_folder"
    memory = Memory(path)
    assert memory.location == path
    assert memory.cache(f)(3) == memory.cache(f)(3) == 10
    assert (path / "VERSION").is_file()
    assert _stats(memory) == (1, 1)


def test_memory_objects_repr(tmp_path: Path) -> None:
    """The reprs of Memory, MemorizedFunc and MemorizedResult name the function and location."""

    def my_func(a: int, b: int) -> int:
        return a + b

    memory = Memory(location=tmp_path, verbose=0)
    memorized_func = memory.cache(my_func)
    assert repr(my_func) in repr(memorized_func)
    assert str(tmp_path) in repr(memorized_func)
    memorized_result = memorized_func.call_and_shelve(42, 42)
    assert memorized_result.args_id in repr(memorized_result)
    assert memorized_result.func in repr(memorized_result)
    assert str(tmp_path) in repr(memorized_result)
    assert str(memory) == f"Memory(location={tmp_path!r}, pool='memory')"
    assert memorized_result.get() == 84 and _stats(memory) == (1, 1)


def test_memorized_result_pickle(tmp_path: Path) -> None:
    """A MemorizedResult pickles (joblib #747): same func, args_id and str; it loads."""
    memory = Memory(location=tmp_path)

    @memory.cache
    def g(x: int) -> int:
        return x**2

    memorized_result = g.call_and_shelve(4)
    loaded = pickle.loads(pickle.dumps(memorized_result))
    assert memorized_result.func == loaded.func
    assert memorized_result.args_id == loaded.args_id
    assert str(memorized_result) == str(loaded)
    assert loaded.get() == 16


@pytest.mark.parametrize(
    "memory_kwargs",
    [
        {"compress": 3, "verbose": 2},
        {"mmap_mode": "r", "verbose": 5, "backend_options": {"mmap_mode": "r"}},
    ],
)
def test_memory_pickle_dump_load(tmp_path: Path, memory_kwargs: dict[str, Any]) -> None:
    """Memory, MemorizedFunc and MemorizedResult survive pickling with equal state and hash.

    Adapted: joblib's ``backend_options={"parameter": "unused"}`` is refused
    here (an unknown option is not silently dropped).
    """
    memory = Memory(location=tmp_path, **memory_kwargs)
    memory_reloaded = pickle.loads(pickle.dumps(memory))
    assert vars(memory).keys() == vars(memory_reloaded).keys()
    assert (memory.location, memory.mmap_mode, memory.verbose, memory.handle) == (
        memory_reloaded.location,
        memory_reloaded.mmap_mode,
        memory_reloaded.verbose,
        memory_reloaded.handle,
    )
    assert joblib.hash(memory) == joblib.hash(memory_reloaded)
    func_cached = memory.cache(f)
    func_cached_reloaded = pickle.loads(pickle.dumps(func_cached))
    assert (func_cached.func, func_cached.ignore, func_cached.handle) == (
        func_cached_reloaded.func,
        func_cached_reloaded.ignore,
        func_cached_reloaded.handle,
    )
    assert joblib.hash(func_cached) == joblib.hash(func_cached_reloaded)
    memorized_result = func_cached.call_and_shelve(1)
    memorized_result_reloaded = pickle.loads(pickle.dumps(memorized_result))
    assert vars(memorized_result) == vars(memorized_result_reloaded)
    assert joblib.hash(memorized_result) == joblib.hash(memorized_result_reloaded)
    assert func_cached_reloaded(1) == 2
    assert memory_reloaded.cache(f)(1) == 2
    assert func_cached.check_call_in_cache(1)


def test_info_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Each miss and each hit is logged (adapted: through logging, whatever verbose says)."""
    caplog.set_level(logging.INFO, logger="recyclable")
    for verbose in (20, 0):
        memory = Memory(location=tmp_path, verbose=verbose)

        @memory.cache
        def f(x: int) -> int:
            return x**2

        assert f(3) == 9
    assert "computing" in caplog.text and "new call" in caplog.text
    assert "loaded" in caplog.text
    assert _stats(memory) == (0, 1)


class TestCacheValidationCallback:
    """joblib's tests of ``cache_validation_callback``."""

    def foo(self, x: int, d: dict[str, bool], delay: float | None = None) -> int:
        """Double x, noting in d that it ran."""
        d["run"] = True
        if delay is not None:
            time.sleep(delay)
        return x * 2

    def test_invalid_cache_validation_callback(self, tmp_path: Path) -> None:
        """A callback that is not callable is refused in joblib's words."""
        memory = Memory(location=tmp_path, verbose=0)
        match = "cache_validation_callback needs to be callable. Got True"
        with pytest.raises(ValueError, match=match):
            memory.cache(cache_validation_callback=True)  # type: ignore[arg-type]

    @pytest.mark.parametrize("consider_cache_valid", [True, False])
    def test_constant_cache_validation_callback(
        self, tmp_path: Path, consider_cache_valid: bool
    ) -> None:
        """A callback always True loads; always False recomputes and stores the new result."""
        memory = Memory(location=tmp_path, verbose=0)
        func = memory.cache(
            self.foo, cache_validation_callback=lambda _: consider_cache_valid, ignore=["d"]
        )
        d1, d2 = {"run": False}, {"run": False}
        assert func(2, d1) == 4
        assert func(2, d2) == 4
        assert d1["run"]
        assert d2["run"] != consider_cache_valid
        # Either way the call's result is stored (a rejected one is stored again).
        assert memory.cache(self.foo, ignore=["d"]).check_call_in_cache(2, {})

    def test_memory_only_cache_long_run(self, tmp_path: Path) -> None:
        """A callback on the stored duration keeps only long runs."""

        def cache_validation_callback(metadata: dict[str, Any]) -> bool | None:
            if metadata["duration"] > 0.1:
                return True
            return None

        memory = Memory(location=tmp_path, verbose=0)
        func = memory.cache(
            self.foo, cache_validation_callback=cache_validation_callback, ignore=["d"]
        )
        d1, d2 = {"run": False}, {"run": False}
        assert func(2, d1, delay=0) == 4
        assert func(2, d2, delay=0) == 4
        assert d1["run"] and d2["run"]
        d1, d2 = {"run": False}, {"run": False}
        assert func(2, d1, delay=0.2) == 4
        assert func(2, d2, delay=0.2) == 4
        assert d1["run"]
        assert not d2["run"]

    def test_memory_expires_after(self, tmp_path: Path) -> None:
        """A result older than the callback's limit is recomputed; a fresh one loads.

        Adapted: the clock is the callback's own (an hour on) instead of a sleep;
        joblib's expires_after itself keeps a fresh result.
        """
        now = [time.time()]

        def expires_after_a_minute(metadata: dict[str, Any]) -> bool:
            return now[0] - metadata["time"] < 60

        memory = Memory(location=tmp_path, verbose=0)
        func = memory.cache(
            self.foo, cache_validation_callback=expires_after_a_minute, ignore=["d"]
        )
        d1, d2, d3 = {"run": False}, {"run": False}, {"run": False}
        assert func(2, d1) == 4
        assert func(2, d2) == 4
        now[0] += 3600
        assert func(2, d3) == 4
        assert d1["run"]
        assert not d2["run"]
        assert d3["run"]
        fresh = memory.cache(
            self.foo, cache_validation_callback=expires_after(days=1), ignore=["d"]
        )
        d4 = {"run": False}
        assert fresh(2, d4) == 4
        assert not d4["run"]
