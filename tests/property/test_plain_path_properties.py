"""The plain-data path and the exact path give one digest for one value.

Nested dicts and lists of scalars are pickled as they are (`plain_tree`); a
value whose containers are also held from outside takes the exact path, which
builds canonical forms.  Both must key every value alike, or the same
argument would miss (or, with aliasing lost, hit) depending on who else holds it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from strategies import plain_nested

from recyclable.fingerprint import fingerprint
from recyclable.plaindata import plain_tree


def _inner_containers(value: Any, found: list[Any]) -> None:
    if isinstance(value, (list, dict, tuple)):
        found.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            _inner_containers(item, found)


def _has_inner_mutable(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return isinstance(value, (list, dict, tuple)) and any(
        isinstance(item, (list, dict)) or (isinstance(item, tuple) and _has_inner_mutable(item))
        for item in items
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(plain_nested)
def test_plain_path_and_exact_path_agree(value: Any) -> None:
    """Every generated value gets the same digest whether it takes the plain path or, with
    its containers held from outside, the exact one (checked to have been taken)."""
    first = fingerprint(value)
    held: list[Any] = []
    _inner_containers(value, held)
    if _has_inner_mutable(value):
        assert plain_tree(value) is None  # the outside references do send it the other way
    assert fingerprint(value) == first
    del held
    assert fingerprint(value) == first


def test_nested_plain_data_takes_the_plain_path() -> None:
    """A nested dict of small lists of scalars is recognised as plain data, its dict order
    reported; an aliased leaf list, an empty set or a date among the leaves is not."""
    value = {"a": {"x": [1, 2.5, "s", None]}, "b": {"y": [0, "", b"", ()]}}
    assert plain_tree(value) is True
    assert plain_tree({"a": [[1, None]]}) is False
    row: list[int] = []
    assert plain_tree({"a": {"x": row, "y": row}}) is None
    assert plain_tree({"a": [set()]}) is None
    assert plain_tree({"a": [frozenset()]}) is None
    assert plain_tree({"a": [[], {}]}) is False  # empty leaves held once are plain


def test_an_object_among_the_leaves_abandons_the_plain_path() -> None:
    """A date among the leaves is not type-checked by `plain_tree`; pickling it reaches the
    hook, which abandons the plain path, so the digest is the exact path's."""
    import datetime

    value = {"a": [datetime.date(2020, 1, 1), 1]}
    assert plain_tree(value) is False
    plain = fingerprint(value)
    held = [value["a"]]
    assert plain_tree(value) is None
    assert fingerprint(value) == plain
    assert plain != fingerprint({"a": [datetime.date(2020, 1, 2), 1]})
    del held
    # One complex object met twice is a back-reference numbered as the exact path numbers it.
    number = complex(1, 2)
    shared = {"a": [[1], number, number]}
    digest = fingerprint(shared)
    held = [shared["a"][0], shared["a"]]
    assert fingerprint(shared) == digest
    del held


@given(plain_nested)
def test_an_empty_leaf_shared_differs_from_two(value: Any) -> None:
    """Two references to one empty list among the leaves are keyed apart from two empty
    lists (a step appending to the first can tell them apart), on any surrounding value."""
    shared: list[Any] = []
    assert fingerprint([value, shared, shared]) != fingerprint([value, [], []])
    assert fingerprint([value, {}, {}]) == fingerprint([value, {}, {}])
