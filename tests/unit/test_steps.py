"""Lineage within a run: whole results, elements of results, results inside arguments."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from recyclable import Cache, recyclable
from recyclable.steps import Step, StepLog


@recyclable
def produce(n: int) -> dict[str, np.ndarray]:
    """A dict of arrays (a dict cannot be weakly referenced)."""
    return {"a": np.arange(n, dtype=np.float64), "b": np.ones(n)}


@recyclable
def numbers(n: int) -> list[int]:
    """A list of ints: no element can be weakly referenced, so it is linked by digest."""
    return list(range(n))


@recyclable
def consume(value: object, label: str = "x") -> int:
    """Takes anything."""
    return len(repr(value))


def _inputs(pool_steps: StepLog, action: str) -> list[list[tuple[str, str, str, str]]]:
    return [s.inputs for s in pool_steps.snapshot() if s.action == action]


def test_results_elements_and_containers_of_results_are_linked(cache: Cache) -> None:
    """Whole results, an element of a result, and results inside a list argument name producers."""
    pool = cache.create_pool("p")
    with pool:
        data = produce(5)
        other = produce(6)
        consume(data)
        consume(data["b"], label="element")
        consume([data["a"], other], label="list")
        consume({"first": other}, label="dict")
    keys = [s.key for s in pool.steps.snapshot() if s.action == "produce"]
    first, second = keys
    assert _inputs(pool.steps, "consume") == [
        [("value", "", first, "")],
        [("value", "", first, "['b']")],
        [("value", "[0]", first, "['a']"), ("value", "[1]", second, "")],
        [("value", "['first']", second, "")],
    ]


def test_a_new_value_is_not_taken_for_a_result(cache: Cache) -> None:
    """An equal array made by hand (not a result) has no producer; scalars never do."""
    pool = cache.create_pool("p")
    with pool:
        produce(5)
        consume(np.arange(5, dtype=np.float64), label="copy")
        consume(5, label="scalar")
    assert _inputs(pool.steps, "consume") == [[], []]


def test_plain_container_results_are_linked_by_digest_also_after_a_load(cache: Cache) -> None:
    """A list of ints is linked by content: its loaded copy in a later process still links."""
    with cache.create_pool("p", reuse=True):
        consume(numbers(4))
    fresh = Cache(cache.path).create_pool("p", reuse=True)  # another process's pool object
    with fresh:
        consume(numbers(4))
    states = [(s.action, s.state) for s in fresh.steps.snapshot()]
    assert states == [("numbers", "loaded"), ("consume", "loaded")]
    producer = fresh.steps.snapshot()[0].key
    assert _inputs(fresh.steps, "consume") == [[("value", "", producer, "")]]


def test_a_container_whose_elements_changed_is_not_the_result(cache: Cache) -> None:
    """The identity guard of a dict result checks its elements: replaced elements, no link."""
    pool = cache.create_pool("p")
    with pool:
        data = produce(3)
        data["a"] = np.zeros(3)  # now a different dict as far as lineage goes
        consume(data, label="changed")
    [inputs] = _inputs(pool.steps, "consume")
    # Only the element that is still the result's own array is linked.
    assert inputs == [("value", "['b']", pool.steps.snapshot()[0].key, "['b']")]


@recyclable
async def fetch(n: int) -> list[np.ndarray]:
    """An async step."""
    return [np.arange(n)]


@recyclable
async def reduce_async(parts: list[np.ndarray]) -> float:
    """An async step fed by another."""
    return float(parts[0].sum())


def test_async_steps_are_recorded_with_state_nesting_and_lineage(cache: Cache) -> None:
    """Async steps get states and lineage as sync ones do, also when loaded on a second run."""
    import asyncio

    async def flow() -> float:
        return await reduce_async(await fetch(4))

    pool = cache.create_pool("p", reuse=True)
    with pool:
        assert asyncio.run(flow()) == 6.0
    again = Cache(cache.path).create_pool("p", reuse=True)
    with again:
        assert asyncio.run(flow()) == 6.0
    for log, state in ((pool.steps, "computed"), (again.steps, "loaded")):
        steps = log.snapshot()
        assert [(s.action, s.state) for s in steps] == [("fetch", state), ("reduce_async", state)]
        assert steps[1].inputs == [("parts", "", steps[0].key, "")]
    assert again.stats.loaded == 2


def test_record_sets_every_field_of_a_step(tmp_path: Path) -> None:
    """A recorded step has every dataclass field set (record builds it slot by slot)."""

    @recyclable
    def step(x: int, label: str = "a") -> int:
        return x

    pool = Cache(tmp_path / "c").create_pool("p")
    with pool:
        step(3)
        step(3)
    names = [f.name for f in dataclasses.fields(Step)]
    for recorded in pool.stats.steps:
        values = {name: getattr(recorded, name) for name in names}  # raises for an unset slot
        assert values["key"] and values["parent"] is None and values["depth"] == 0
        assert values["values"] == [("x", "3"), ("label", "'a'")]
        assert values["error"] is None and values["_pending"] is None
    assert [s.state for s in pool.stats.steps] == ["computed", "loaded"]
