"""Aliasing is keyed, and only aliasing: outside references never change a digest."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from strategies import values

from recyclable.fingerprint import fingerprint


def _containers(value: Any, found: list[Any]) -> None:
    if isinstance(value, (list, dict, tuple)):
        found.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, found)


@given(values)
def test_references_from_outside_do_not_change_the_digest(value: Any) -> None:
    """Holding extra references to the containers inside a value (which sends it down the
    exact, slower path) gives the digest of the plain-data path."""
    plain = fingerprint(value)
    held: list[Any] = []
    _containers(value, held)
    assert fingerprint(value) == plain
    del held


@given(st.lists(st.integers(), max_size=4), st.lists(st.integers(), max_size=4))
def test_a_shared_list_differs_from_its_copy(row: list[int], other: list[int]) -> None:
    """[row, row] and [row, copy(row)] differ; both agree with their deep copies (which keep
    aliasing), and with any equal value of the same shape."""
    shared = [row, row, other]
    copied = [row, list(row), other]
    assert fingerprint(shared) != fingerprint(copied)
    assert fingerprint(copy.deepcopy(shared)) == fingerprint(shared)
    assert fingerprint(copy.deepcopy(copied)) == fingerprint(copied)
    assert fingerprint([list(row), list(row), list(other)]) == fingerprint(copied)
