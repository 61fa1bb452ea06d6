"""joblib's coroutine-function Memory tests (joblib 1.6 ``test/test_memory_async.py``).

Run with ``asyncio.run`` instead of pytest-asyncio; adapted as listed in
``test_memory_joblib_suite``'s docstring (a read-only ndarray view rather
than an np.memmap, a ``RecyclableWarning`` for a damaged entry).  As
joblib's ``AsyncMemorizedFunc``: calling, ``call`` and ``call_and_shelve``
give coroutines to await.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recyclable import Memory, RecyclableWarning
from recyclable.memorized import MemorizedResult, NotMemorizedFunc, NotMemorizedResult


def _stats(memory: Memory) -> tuple[int, int]:
    assert memory.pool is not None
    return memory.pool.stats.computed, memory.pool.stats.loaded


async def check_identity_lazy_async(
    func: Callable[[int], Awaitable[int]], accumulator: list[int], location: Any
) -> None:
    """Cached coroutine function ``func`` is a lazy identity: once per argument."""
    memory = Memory(location=location, verbose=0)
    cached = memory.cache(func)
    for i in range(3):
        for _ in range(2):
            assert await cached(i) == i
            assert len(accumulator) == i + 1
    assert _stats(memory) == (3, 3)


def test_memory_integration_async(tmp_path: Path) -> None:
    """A coroutine function is a lazy identity; clear, rmtree and eval work as for a function."""
    accumulator: list[int] = []

    async def f(n: int) -> int:
        await asyncio.sleep(0)
        accumulator.append(1)
        return n

    async def scenario() -> None:
        await check_identity_lazy_async(f, accumulator, tmp_path)
        for compress in (False, True):
            for mmap_mode in ("r", None):
                memory = Memory(
                    location=tmp_path, verbose=10, mmap_mode=mmap_mode, compress=compress
                )
                shutil.rmtree(tmp_path, ignore_errors=True)
                g = memory.cache(f)
                await g(1)
                g.clear(warn=False)
                current_accumulator = len(accumulator)
                out = await g(1)
            assert len(accumulator) == current_accumulator + 1
            assert await memory.eval(f, 1) == out
            assert len(accumulator) == current_accumulator + 1
        f.__module__ = "__main__"
        memory = Memory(location=tmp_path, verbose=0)
        assert await memory.cache(f)(1) == 1
        assert _stats(memory) == (0, 1)

    asyncio.run(scenario())


def test_no_memory_async() -> None:
    """Memory(None) awaits the coroutine function on every call."""
    accumulator: list[int] = []

    async def ff(x: int) -> int:
        accumulator.append(1)
        return x

    async def scenario() -> None:
        gg = Memory(location=None, verbose=0).cache(ff)
        for _ in range(4):
            current_accumulator = len(accumulator)
            assert await gg(1) == 1
            assert len(accumulator) == current_accumulator + 1

    asyncio.run(scenario())


def test_memory_numpy_check_mmap_mode_async(tmp_path: Path) -> None:
    """mmap_mode='r' holds from the first await; a damaged stored array is a warned recompute."""
    memory = Memory(location=tmp_path, mmap_mode="r", verbose=0)

    @memory.cache()
    async def twice(a: Any) -> Any:
        return a * 2

    a = np.ones(20_000)

    async def scenario() -> None:
        b = await twice(a)
        c = await twice(a)
        for result in (b, c):
            assert not result.flags.writeable and np.array_equal(result, a * 2)
        assert _stats(memory) == (1, 1)
        del b, c
        for blob in (tmp_path / "objects").rglob("*"):
            if blob.is_file():
                blob.chmod(0o600)
                blob.write_bytes(b"garbage")
        with pytest.warns(RecyclableWarning, match="twice"):
            d = await twice(a)
        assert not d.flags.writeable and np.array_equal(d, a * 2)
        assert _stats(memory) == (2, 1)

    asyncio.run(scenario())


def test_call_and_shelve_async(tmp_path: Path) -> None:
    """Awaiting call_and_shelve gives a (Not)MemorizedResult; get, clear, KeyError as sync."""
    runs: list[int] = []

    async def f(x: int, y: int = 1) -> int:
        runs.append(x)
        return x**2 + y

    async def scenario() -> None:
        for func, result_type in (
            (NotMemorizedFunc(f), NotMemorizedResult),
            (Memory(location=tmp_path, verbose=0).cache(f), MemorizedResult),
            (Memory(location=None).cache(f), NotMemorizedResult),
        ):
            for _ in range(2):
                result = await func.call_and_shelve(2)
                assert isinstance(result, result_type)
                assert result.get() == 5
            result.clear()
            with pytest.raises(KeyError):
                result.get()
            result.clear()

    asyncio.run(scenario())
    assert runs == [2, 2, 2, 2, 2], "the memorized function ran once for its two shelvings"
    assert not Memory(location=tmp_path).cache(f).check_call_in_cache(2)


def test_memorized_func_call_async(tmp_path: Path) -> None:
    """Awaiting call() runs the coroutine function whatever is stored, with metadata."""

    async def ff(x: int, counter: dict[int, int]) -> int:
        counter[x] = counter.get(x, 0) + 1
        return counter[x]

    memory = Memory(location=tmp_path, verbose=0)
    gg = memory.cache(ff, ignore=["counter"])
    counter: dict[int, int] = {}

    async def scenario() -> tuple[int, dict[str, Any]]:
        assert await gg(2, counter) == 1
        assert await gg(2, counter) == 1
        return await gg.call(2, counter)

    x, meta = asyncio.run(scenario())
    assert x == 2, "f has not been called properly"
    assert {"duration", "time", "input_args"} <= set(meta)
    assert _stats(memory) == (2, 1), "one load; call() computes"
