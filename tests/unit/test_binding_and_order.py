"""Arguments bind in signature order; dict order and **kwargs order are part of the key."""

from __future__ import annotations

import json
from typing import Any

from recyclable import Cache, recyclable

RUNS: list[str] = []


@recyclable
def combine(a: int, b: int = 2, c: int = 0) -> tuple[int, int, int]:
    RUNS.append("combine")
    return (a, b, c)


@recyclable
def as_json(d: dict[str, int]) -> str:
    RUNS.append("as_json")
    return json.dumps(d)


@recyclable
def options(**kwargs: Any) -> list[str]:
    RUNS.append("options")
    return list(kwargs)


def setup_function() -> None:
    RUNS.clear()


def test_keyword_order_does_not_split_a_call(cache: Cache) -> None:
    """f(a=1, b=2) and f(b=2, a=1) are one call: the second is loaded."""
    pool = cache.create_pool("p")
    with pool:
        first = combine(a=1, b=2)
        second = combine(b=2, a=1)
    assert first == second == (1, 2, 0)
    assert RUNS == ["combine"]
    assert pool.stats.loaded == 1


def test_defaults_and_keywords_bind_like_positionals(cache: Cache) -> None:
    """f(1, c=3) with the default b=2 is the call f(1, 2, 3), and f(1, 2, c=3) too."""
    pool = cache.create_pool("p")
    with pool:
        assert combine(1, c=3) == (1, 2, 3)
        assert combine(1, 2, 3) == (1, 2, 3)
        assert combine(1, 2, c=3) == (1, 2, 3)
        assert combine(c=3, a=1) == (1, 2, 3)
    assert RUNS == ["combine"]
    assert pool.stats.loaded == 3


def test_dict_insertion_order_is_observable_and_keyed(cache: Cache) -> None:
    """json.dumps sees insertion order, so the reordered dict is computed, not a stale hit."""
    pool = cache.create_pool("p")
    with pool:
        assert as_json({"a": 1, "b": 2}) == '{"a": 1, "b": 2}'
        assert as_json({"b": 2, "a": 1}) == '{"b": 2, "a": 1}'
        assert as_json({"a": 1, "b": 2}) == '{"a": 1, "b": 2}'
    assert RUNS == ["as_json", "as_json"]
    assert pool.stats.loaded == 1


def test_kwargs_keep_call_order(cache: Cache) -> None:
    """**kwargs is a dict the function can list: its call order is part of the key."""
    pool = cache.create_pool("p")
    with pool:
        assert options(x=1, y=2) == ["x", "y"]
        assert options(y=2, x=1) == ["y", "x"]
        assert options(x=1, y=2) == ["x", "y"]
    assert RUNS == ["options", "options"]
    assert pool.stats.loaded == 1


def test_explain_names_a_reordering(cache: Cache) -> None:
    """When only the order of a dict's items differs, explain says so; a real change is named
    as a change."""
    pool = cache.create_pool("p")
    with pool:
        as_json({"a": 1, "b": 2, "c": {"x": 1, "y": 2}})
    reordered = pool.explain(as_json, {"b": 2, "a": 1, "c": {"y": 2, "x": 1}})
    assert reordered == (
        "argument 'd' holds the same items in another order (dict order is part of the key)"
    )
    assert pool.explain(as_json, {"a": 1, "b": 3, "c": {"x": 1, "y": 2}}) == "argument 'd' changed"
    assert pool.explain(as_json, {"a": 1, "b": 2, "c": {"x": 1, "y": 2}}) == (
        "stored: the call would be loaded"
    )


def test_explain_reordering_of_an_argument_stored_without_order(cache: Cache) -> None:
    """A stored one-item dict has no order; a call with more items in it is a change."""
    pool = cache.create_pool("p")
    with pool:
        as_json({"a": 1})
    assert pool.explain(as_json, {"a": 1, "b": 2}) == "argument 'd' changed"
