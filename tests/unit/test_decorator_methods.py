"""@recyclable on methods, nested and async functions: binding and keys per kind."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from recyclable import Cache, recyclable

CALLS: list[str] = []


class Sampler:
    """A class whose state takes part in the key of its instance methods."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    @recyclable
    def rarefy(self, counts: list[int]) -> list[int]:
        """Cap each count at the sampler's depth."""
        CALLS.append(f"rarefy@{self.depth}")
        return [min(c, self.depth) for c in counts]

    @recyclable
    @classmethod
    def build(cls, depth: int) -> Sampler:
        CALLS.append("build")
        return cls(depth)

    @classmethod
    @recyclable
    def describe(cls, text: str) -> str:
        CALLS.append("describe")
        return f"{cls.__name__}: {text}"

    @recyclable
    @staticmethod
    def total(counts: list[int]) -> int:
        CALLS.append("total")
        return sum(counts)


def setup_function() -> None:
    CALLS.clear()


def test_instance_method_keys_on_instance_state(cache: Cache) -> None:
    """Equal instances share results; an instance with other state misses."""
    with cache.create_pool("p"):
        assert Sampler(5).rarefy([3, 9]) == [3, 5]
        assert Sampler(5).rarefy([3, 9]) == [3, 5]
        assert Sampler(7).rarefy([3, 9]) == [3, 7]
        # Called through the class with the instance passed explicitly: same call.
        assert Sampler.rarefy(Sampler(7), [3, 9]) == [3, 7]
    assert CALLS == ["rarefy@5", "rarefy@7"]


def test_method_keeps_signature_and_doc() -> None:
    """Binding through the descriptor protocol still shows the method's own metadata."""
    assert Sampler(1).rarefy.__doc__ == "Cap each count at the sampler's depth."
    assert list(inspect.signature(Sampler(1).rarefy).parameters) == ["counts"]
    assert list(inspect.signature(Sampler.rarefy).parameters) == ["self", "counts"]


def test_classmethod_both_orders(cache: Cache) -> None:
    """@recyclable above or below @classmethod binds the class and recycles."""
    with cache.create_pool("p"):
        assert Sampler.build(4).depth == 4
        assert Sampler.build(4).depth == 4
        assert Sampler.describe("x") == "Sampler: x"
        assert Sampler(1).describe("x") == "Sampler: x"
    assert CALLS == ["build", "describe"]


def test_staticmethod(cache: Cache) -> None:
    """A static method is keyed on its arguments only, via class or instance."""
    with cache.create_pool("p"):
        assert Sampler.total([1, 2]) == 3
        assert Sampler(9).total([1, 2]) == 3
    assert CALLS == ["total"]


def test_nested_function(cache: Cache) -> None:
    """A function defined inside another recycles like a module-level one."""

    def outer() -> Any:
        @recyclable
        def inner(x: int) -> int:
            CALLS.append("inner")
            return x * 3

        return inner

    with cache.create_pool("p"):
        assert outer()(2) == 6
        assert outer()(2) == 6
    assert CALLS == ["inner"]


@recyclable
async def fetch(x: int) -> int:
    """An async action."""
    CALLS.append("fetch")
    await asyncio.sleep(0)
    return x + 1


def test_async_function(cache: Cache) -> None:
    """An async action stays a coroutine function and recycles its awaited result."""
    assert inspect.iscoroutinefunction(fetch)

    async def main() -> list[int]:
        with cache.create_pool("p"):
            return [await fetch(1), await fetch(1), await fetch(2)]

    assert asyncio.run(main()) == [2, 2, 3]
    assert CALLS == ["fetch", "fetch"]


def test_async_function_without_pool_returns_a_coroutine() -> None:
    """With no pool an async action is a plain call returning the original coroutine."""
    coroutine = fetch(5)
    assert inspect.iscoroutine(coroutine)
    assert asyncio.run(coroutine) == 6
