"""recyclable.Memory with every kind of callable, code changes, shelving and threads."""

from __future__ import annotations

import functools
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from recyclable import Memory, current_pool, recyclable

calls: list[str] = []


def scale(values: list[float], factor: float = 2.0, verbose: bool = False) -> list[float]:
    calls.append("scale")
    return [v * factor for v in values]


def offset(values: list[float], by: float) -> list[float]:
    calls.append("offset")
    return [v + by for v in values]


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    """A Memory on a fresh cache."""
    return Memory(tmp_path / "cache")


class Multiplier:
    """A callable object whose state decides its result."""

    def __init__(self, k: int) -> None:
        self.k = k

    def __call__(self, x: int) -> int:
        calls.append(f"call{self.k}")
        return self.k * x

    def times(self, x: int) -> int:
        calls.append(f"times{self.k}")
        return self.k * x


def test_bound_methods_partials_and_callable_objects_key_their_state(memory: Memory) -> None:
    """obj.method, partial(f, a) and a callable object key the instance or partial's arguments.

    Two instances in different states never share a result; the same state does.
    """
    double, triple = Multiplier(2), Multiplier(3)
    assert memory.cache(double.times)(5) == 10 == memory.cache(double.times)(5)
    assert memory.cache(triple.times)(5) == 15
    assert memory.cache(Multiplier(2).times)(5) == 10  # an equal instance: loaded
    assert memory.cache(double)(5) == 10 == memory.cache(double)(5)
    assert memory.cache(triple)(5) == 15
    assert calls == ["times2", "times3", "call2", "call3"]
    by_one, by_two = (memory.cache(functools.partial(offset, by=b)) for b in (1.0, 2.0))
    assert by_one([1.0]) == [2.0] == by_one([1.0])
    assert by_two([1.0]) == [3.0]
    assert by_one([1.0], by=5.0) == [6.0], "the caller's keyword overrides the partial's"
    assert calls[4:] == ["offset", "offset", "offset"]
    assert pickle.loads(pickle.dumps(by_two))([1.0]) == [3.0]
    assert len(calls) == 7


def test_exceptions_propagate_and_store_nothing(memory: Memory) -> None:
    """A call that raises is not cached: the next call runs (and raises) again."""

    def fail(x: int) -> int:
        calls.append("fail")
        raise ArithmeticError(f"no {x}")

    cached = memory.cache(fail)
    for _ in range(2):
        with pytest.raises(ArithmeticError, match="no 1"):
            cached(1)
    assert calls == ["fail", "fail"]
    assert not cached.check_call_in_cache(1)
    # Control: the same function's successful call is cached, so "not cached"
    # above is about the exception, not about caching being off.
    ok = memory.cache(scale)
    ok([1.0])
    assert ok.check_call_in_cache([1.0])


def test_call_and_shelve_returns_a_reference(memory: Memory) -> None:
    """call_and_shelve stores the result and returns a picklable reference whose get() loads it."""
    cached = memory.cache(scale)
    reference = cached.call_and_shelve([4.0])
    again = cached.call_and_shelve([4.0])
    assert calls == ["scale"], "a stored result is not computed again"
    assert again.args_id == reference.args_id
    assert pickle.loads(pickle.dumps(reference)).get() == [8.0]
    reference.clear()
    assert not cached.check_call_in_cache([4.0])
    with pytest.raises(KeyError, match="gone"):
        reference.get()
    plain = Memory(None).cache(scale).call_and_shelve([4.0])
    assert plain.get() == [8.0]
    plain.clear()
    with pytest.raises(KeyError):
        plain.get()


def test_a_cleared_call_is_no_longer_in_cache(memory: Memory) -> None:
    """After func.clear(), check_call_in_cache is False and the call recomputes."""
    cached = memory.cache(scale)
    cached([7.0])
    assert cached.check_call_in_cache([7.0])
    cached.clear()
    assert not cached.check_call_in_cache([7.0])
    cached([7.0])
    assert calls == ["scale", "scale"]


def test_one_function_cached_with_different_ignores_keeps_each_key(memory: Memory) -> None:
    """Caching a function twice with different ignore= lists keeps both keyings apart.

    Each MemorizedFunc checks, explains and calls with its own key.
    """
    plain = memory.cache(scale)
    quiet = memory.cache(scale, ignore=["verbose"])
    plain([1.0], verbose=True)
    assert plain.check_call_in_cache([1.0], verbose=True)
    assert not plain.check_call_in_cache([1.0], verbose=False)
    assert "verbose" in plain.explain([1.0], verbose=False)
    quiet([1.0], verbose=False)
    assert quiet.check_call_in_cache([1.0], verbose=True)
    assert quiet.explain([1.0], verbose=True) == "stored: the call would be loaded"
    assert calls == ["scale", "scale"]


def _replaceable(a: int, b: int) -> int:
    return a + b


def _product(a: int, b: int) -> int:
    return a * b


def test_replacing_a_function_code_recomputes(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Assigning func.__code__ after caching it changes the key: the new code runs.

    Putting the old code back loads the first result again.
    """
    cached = memory.cache(_replaceable)
    assert cached(2, 5) == 7
    original = _replaceable.__code__
    monkeypatch.setattr(_replaceable, "__code__", _product.__code__)
    assert cached(2, 5) == 10
    assert memory.cache(_replaceable)(2, 5) == 10
    monkeypatch.setattr(_replaceable, "__code__", original)
    assert cached(2, 5) == 7
    assert memory.pool is not None
    assert (memory.pool.stats.computed, memory.pool.stats.loaded) == (2, 2)


def test_threads_share_the_memory_and_compute_once(memory: Memory) -> None:
    """Threads calling the same cached call together: one computes, the others load its result.

    The threads need no pool of their own, and none is left active in them.
    """
    started = threading.Event()
    release = threading.Event()

    def slow(x: int) -> int:
        calls.append("slow")
        started.set()
        release.wait(10)
        return x * 2

    cached = memory.cache(slow)

    def call_then_report(x: int) -> tuple[int, bool]:
        return cached(x), current_pool() is None

    with ThreadPoolExecutor(3) as executor:
        first = executor.submit(call_then_report, 4)
        assert started.wait(10)
        others = [executor.submit(call_then_report, 4) for _ in range(2)]
        release.set()
        results = [first.result(), *(f.result() for f in others)]
    assert results == [(8, True)] * 3
    assert calls == ["slow"]


class Recyclable:
    """A class whose methods are @recyclable steps."""

    def __init__(self, k: int) -> None:
        self.k = k

    @recyclable
    def times(self, x: int) -> int:
        calls.append(f"times{self.k}")
        return self.k * x

    @recyclable
    @classmethod
    def tripled(cls, x: int) -> int:
        calls.append("tripled")
        return 3 * x

    @recyclable
    @staticmethod
    def quadrupled(x: int) -> int:
        calls.append("quadrupled")
        return 4 * x


@pytest.mark.timeout(60)  # a regression here is a caller waiting on its own claim
def test_recyclable_methods_through_a_memory(memory: Memory) -> None:
    """memory.cache of an @recyclable method, through an instance or its class, of a class or
    static method: right results keyed by the instance's state, loaded the second time.

    The instance's own step is the action (the instance keyed by value); a
    class or static method is cached as its plain function.
    """
    two = Recyclable(2)
    assert memory.cache(two.times)(5) == 10 == memory.cache(two.times)(5)
    assert memory.cache(Recyclable(3).times)(5) == 15
    assert memory.cache(Recyclable.times)(Recyclable(2), 5) == 10
    for step in (Recyclable.tripled, Recyclable(1).tripled):
        assert memory.cache(step)(2) == 6
    for step in (Recyclable.quadrupled, Recyclable(1).quadrupled):
        assert memory.cache(step)(2) == 8
    assert calls == ["times2", "times3", "tripled", "quadrupled"]
    assert memory.cache(two.times).check_call_in_cache(5)
    assert memory.cache(two.times).call(5)[0] == 10
    assert calls[-1] == "times2", "call() runs the step"
