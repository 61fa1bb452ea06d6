"""The active pool: `with pool:`, nesting, threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from recyclable import Cache, current_pool, recyclable


def test_with_activates_and_restores(cache: Cache) -> None:
    """`with pool:` makes the pool current and restores None afterwards, even on error."""
    pool = cache.create_pool("p")
    assert current_pool() is None
    with pool as entered:
        assert entered is pool
        assert current_pool() is pool
    assert current_pool() is None
    with pytest.raises(KeyError), pool:
        raise KeyError("x")
    assert current_pool() is None


def test_nesting_restores_the_outer_pool(cache: Cache) -> None:
    """An inner pool wins inside its block; the outer one is active again after it."""
    outer, inner = cache.create_pool("outer"), cache.create_pool("inner")
    with outer:
        with inner:
            assert current_pool() is inner
            with outer:
                assert current_pool() is outer
            assert current_pool() is inner
        assert current_pool() is outer
    assert current_pool() is None


def test_nested_pools_store_in_the_inner_pool(cache: Cache) -> None:
    """A call made inside a nested pool is recorded in that pool only."""

    @recyclable
    def step(x: int) -> int:
        return x

    outer, inner = cache.create_pool("outer"), cache.create_pool("inner")
    with outer:
        step(1)
        with inner:
            step(2)
    assert len(outer) == 1
    assert len(inner) == 1


def test_threads_start_without_a_pool(cache: Cache) -> None:
    """A new thread sees no pool; one run in a copied context sees the caller's."""
    pool = cache.create_pool("p")
    seen: dict[str, object] = {}
    with pool:
        plain = threading.Thread(target=lambda: seen.update(plain=current_pool()))
        context = contextvars.copy_context()
        copied = threading.Thread(target=lambda: seen.update(copied=context.run(current_pool)))
        plain.start()
        copied.start()
        plain.join()
        copied.join()
    assert seen == {"plain": None, "copied": pool}


def test_threads_entering_the_same_pool_do_not_interfere(cache: Cache) -> None:
    """Threads entering and leaving one Pool object concurrently each restore their own state."""
    pool = cache.create_pool("p")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for i in range(50):
                with pool:
                    if i == 0:
                        barrier.wait(timeout=10)  # all four threads inside at once
                    assert current_pool() is pool
                assert current_pool() is None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_asyncio_tasks_are_isolated(cache: Cache) -> None:
    """Two concurrent tasks entering different pools each see their own."""
    first, second = cache.create_pool("a"), cache.create_pool("b")

    async def task(pool: object, gate: asyncio.Event, other: asyncio.Event) -> object:
        with pool:  # type: ignore[attr-defined]
            gate.set()
            await other.wait()  # both tasks are inside their `with` now
            return current_pool()

    async def main() -> list[object]:
        a_in, b_in = asyncio.Event(), asyncio.Event()
        return list(await asyncio.gather(task(first, a_in, b_in), task(second, b_in, a_in)))

    assert asyncio.run(main()) == [first, second]
    assert current_pool() is None
