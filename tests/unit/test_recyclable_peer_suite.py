"""@recyclable put through the checks cachetools' and cachier's suites make of a memoizer.

cachetools (``tests/test_cached.py``, ``test_cachedmethod.py``): the same call
computes once, another call computes; exceptions are not cached; a
recursive function; methods keyed by their instance.  cachier
(``tests/test_core_lookup.py``, ``test_general.py``): unhashable arguments,
``None`` results, concurrent identical calls computing once.

Where recyclable differs on purpose: keys are always typed (cachetools'
``typed=False`` shares ``1`` and ``1.0``; a step may well tell them apart,
so here they are never one call), ``None`` is cached (cachier's default
``allow_none=False`` recomputes it), and the order of ``**kwargs`` counts
(a step can observe it), while named parameters bind to the signature in
any order.  Each test asserts loads through ``pool.stats``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from recyclable import Cache, Pool, recyclable

calls: list[Any] = []


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


@pytest.fixture
def pool(cache: Cache) -> Iterator[Pool]:
    """An active pool on a fresh cache."""
    opened = cache.create_pool("peer", reuse=True)
    with opened:
        yield opened


@recyclable
def identity(x: Any) -> Any:
    """Record the call and return its argument's type and value."""
    calls.append(x)
    return (type(x).__name__, x)


@recyclable
def named(a: int, b: int = 2, *, c: int = 3) -> tuple[int, int, int]:
    """Parameters with defaults and a keyword-only one."""
    calls.append((a, b, c))
    return a, b, c


@recyclable
def options(**kwargs: Any) -> list[str]:
    """The keywords in the order the call gave them (what a step can observe)."""
    calls.append(kwargs)
    return list(kwargs)


@recyclable
def measure(value: Any) -> int:
    """The length of an unhashable argument."""
    calls.append("measure")
    return len(value)


@recyclable
def nothing(x: int) -> None:
    """A step whose result is None."""
    calls.append(x)


@recyclable
def fib(n: int) -> int:
    """Recursive: each n is its own call."""
    calls.append(n)
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_same_call_computes_once_another_call_computes(pool: Pool) -> None:
    """As cachetools' test_decorator: a repeated call loads, a new argument computes."""
    assert identity(0) == ("int", 0)
    assert identity(1) == ("int", 1)
    assert identity(1) == ("int", 1)
    assert identity(0) == ("int", 0)
    assert calls == [0, 1]
    assert (pool.stats.computed, pool.stats.loaded) == (2, 2)


def test_one_float_and_true_are_three_calls(pool: Pool) -> None:
    """1, 1.0, True and "1" give different results, so they are four keys; each then loads."""
    values = [1, 1.0, True, "1"]
    first = [identity(v) for v in values]
    assert first == [("int", 1), ("float", 1.0), ("bool", True), ("str", "1")]
    assert [identity(v) for v in values] == first
    assert [type(v) for _, v in (identity(v) for v in values)] == [int, float, bool, str]
    assert (pool.stats.computed, pool.stats.loaded) == (4, 8)


def test_every_spelling_of_a_named_call_is_one_key(pool: Pool) -> None:
    """Positional, keyword, any keyword order and defaults written out are one call."""
    spellings = [
        named(1),
        named(1, 2),
        named(a=1),
        named(b=2, a=1),
        named(1, c=3, b=2),
        named(c=3, a=1),
    ]
    assert spellings == [(1, 2, 3)] * 6
    assert calls == [(1, 2, 3)]
    assert named(1, c=4) == (1, 2, 4)
    assert pool.stats.loaded == 5 and pool.stats.computed == 2


def test_kwargs_order_counts(pool: Pool) -> None:
    """**kwargs in another order is another call (the step sees the order); the same order loads."""
    assert options(a=1, b=2) == ["a", "b"]
    assert options(b=2, a=1) == ["b", "a"]
    assert options(a=1, b=2) == ["a", "b"]
    assert len(calls) == 2
    assert pool.stats.loaded == 1


def test_unhashable_arguments_key_by_content(pool: Pool) -> None:
    """Lists, dicts, sets and arrays are keyed by content: equal loads, changed computes."""
    assert measure([1, 2, 3]) == 3
    assert measure([1, 2, 3]) == 3
    assert measure([1, 2, 4]) == 3
    assert measure({"a": [1], "b": {2}}) == 2
    assert measure({"a": [1], "b": {2}}) == 2
    assert measure({3, 1, 2}) == measure({1, 2, 3}) == 3
    assert measure(np.arange(5)) == measure(np.arange(5)) == 5
    assert measure(np.arange(5.0)) == 5, "another dtype is another argument"
    assert calls == ["measure"] * 6
    assert pool.stats.loaded == 4


def test_none_results_are_cached(pool: Pool) -> None:
    """A None result is stored and loaded like any other (cachier recomputes it by default)."""
    assert nothing(1) is None
    assert nothing(1) is None
    assert calls == [1]
    assert pool.stats.loaded == 1


def test_exceptions_are_not_cached(pool: Pool) -> None:
    """A call that raised runs again next time; once it succeeds, its result is kept."""
    attempts: list[int] = []

    @recyclable
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 3:
            raise RuntimeError(f"attempt {len(attempts)}")
        return x * 2

    for attempt in (1, 2):
        with pytest.raises(RuntimeError, match=f"attempt {attempt}"):
            flaky(5)
    assert flaky(5) == 10
    assert flaky(5) == 10
    assert attempts == [5, 5, 5]
    assert pool.stats.loaded == 1


def test_recursive_function(pool: Pool) -> None:
    """A recursive step computes each n once (cachetools needs an RLock); a re-run loads."""
    assert fib(10) == 55
    assert sorted(calls) == list(range(11)), "each n once: the second fib(n - 2) loads"
    calls.clear()
    assert fib(10) == 55
    assert fib(12) == 144
    assert calls == [12, 11], "only the new calls run; fib(10) and fib(9) load"


class Counter:
    """An object whose state decides its methods' results (cachetools' cachedmethod)."""

    def __init__(self, step: int) -> None:
        self.step = step

    @recyclable
    def get(self, value: int) -> int:
        """The value plus this instance's step."""
        calls.append((self.step, value))
        return value + self.step


def test_methods_are_keyed_by_their_instance(pool: Pool) -> None:
    """Instances in another state compute; an equal instance (in any object) loads."""
    one, two = Counter(1), Counter(2)
    assert one.get(10) == 11
    assert two.get(10) == 12
    assert Counter(1).get(10) == 11
    assert one.get(10) == 11
    one.step = 2
    assert one.get(10) == 12, "the instance changed: it is now the state two's result came from"
    assert calls == [(1, 10), (2, 10)]
    assert pool.stats.loaded == 3


def test_a_returned_result_changed_by_the_caller_leaves_the_stored_one(pool: Pool) -> None:
    """Changing what a call returned never changes what the next call gets."""

    @recyclable
    def build(n: int) -> list[int]:
        calls.append(n)
        return list(range(n))

    first = build(3)
    first.append(99)
    second = build(3)
    assert second == [0, 1, 2]
    second.append(98)
    assert build(3) == [0, 1, 2]
    assert calls == [3]


def test_concurrent_identical_calls_compute_once(cache: Cache) -> None:
    """Threads making the same call together: one computes, the rest wait and load its result."""
    pool = cache.create_pool("threads", reuse=True)
    started, release = threading.Event(), threading.Event()

    @recyclable
    def slow(x: int) -> int:
        calls.append(x)
        started.set()
        release.wait(10)
        return x * 2

    results: list[int] = []

    def call() -> None:
        with pool:
            results.append(slow(21))

    first = threading.Thread(target=call)
    first.start()
    assert started.wait(10)
    others = [threading.Thread(target=call) for _ in range(3)]
    for thread in others:
        thread.start()
    release.set()
    for thread in (first, *others):
        thread.join(30)
    assert results == [42] * 4
    assert calls == [21]
    assert (pool.stats.computed, pool.stats.loaded) == (1, 3)


def _offset(x: int, by: int = 1, *, scale: int = 1) -> int:
    calls.append((x, by, scale))
    return (x + by) * scale


def test_assigned_defaults_are_the_ones_keyed(pool: Pool) -> None:
    """Assigning __defaults__ or __kwdefaults__ after decoration keys the new defaults.

    A call relying on a default then computes with it (the plain call's
    answer), never loads the result of the old default; unchanged defaults
    still load, and putting the old defaults back loads the first result.
    """
    step = recyclable(_offset)
    original = _offset.__defaults__, _offset.__kwdefaults__
    try:
        assert step(1) == 2
        assert step(1) == 2
        _offset.__defaults__ = (5,)
        assert step(1) == 6
        assert step(1) == 6
        _offset.__kwdefaults__ = {"scale": 10}
        assert step(1) == 60
        assert step(x=1) == 60
        _offset.__defaults__, _offset.__kwdefaults__ = original
        assert step(1) == 2
    finally:
        _offset.__defaults__, _offset.__kwdefaults__ = original
    assert calls == [(1, 1, 1), (1, 5, 1), (1, 5, 10)]
    assert pool.stats.loaded == 4
