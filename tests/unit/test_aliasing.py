"""Aliasing inside an argument is part of its key; reference cycles are back-references."""

from __future__ import annotations

import copy
import gc
import pickle
import sys
from typing import Any

import pytest

from recyclable import Cache, FingerprintError, fingerprint, recyclable

RUNS: list[str] = []


@recyclable
def fill_first(rows: list[list[int]]) -> list[list[int]]:
    """Fill the first row, then return all rows (a copy of the argument)."""
    RUNS.append("fill_first")
    rows = copy.deepcopy(rows)  # aliasing survives a deep copy, as the step relies on
    rows[0][0] = 9
    return rows


def setup_function() -> None:
    RUNS.clear()


def test_shared_row_and_copied_row_are_two_calls(cache: Cache) -> None:
    """fill_first([row, row]) changes both rows, fill_first([row, copy]) one: never a shared key."""
    row = [0, 0]
    pool = cache.create_pool("p")
    with pool:
        shared = fill_first([row, row])
        copied = fill_first([row, list(row)])
        again = fill_first([row, row])
    assert shared == [[9, 0], [9, 0]]
    assert copied == [[9, 0], [0, 0]]
    assert again == shared
    assert RUNS == ["fill_first", "fill_first"]
    assert pool.stats.loaded == 1


class Node:
    """A tree node that knows its parent (a cycle), like scikit-bio's TreeNode."""

    def __init__(self, name: str, parent: Node | None = None) -> None:
        self.name = name
        self.parent = parent
        self.children: list[Node] = []
        if parent is not None:
            parent.children.append(self)


def _tree(names: list[str]) -> Node:
    root = Node("root")
    for name in names:
        Node(name, Node(name + "-inner", root))
    return root


def test_parent_pointers_fingerprint_like_their_copies() -> None:
    """A tree with parent pointers fingerprints; equal trees agree (also through pickle),
    a different tree differs."""
    tree = _tree(["a", "b"])
    assert fingerprint(tree) == fingerprint(_tree(["a", "b"]))
    assert fingerprint(tree) == fingerprint(pickle.loads(pickle.dumps(tree)))
    assert fingerprint(tree) != fingerprint(_tree(["a", "c"]))


def test_self_containing_dict_and_object() -> None:
    """A dict that holds itself and an object that refers to itself fingerprint."""
    d: dict[str, Any] = {"k": 1}
    d["self"] = d
    assert fingerprint(d) == fingerprint(copy.deepcopy(d))
    node = Node("x")
    node.parent = node
    assert fingerprint(node) != fingerprint(Node("x"))


class Fresh:
    """An object whose reduction builds new temporaries on every call."""

    def __init__(self, values: list[int]) -> None:
        self.values = values

    def __reduce__(self) -> Any:
        return (Fresh, (list(self.values),))


def test_temporaries_of_reductions_never_alias_by_reused_ids() -> None:
    """Distinct objects whose reductions create short-lived lists stay distinct: a temporary
    garbage-collected mid-digest cannot lend its id to a later one."""
    gc.collect()
    many = [Fresh([i]) for i in range(200)]
    assert fingerprint(many) == fingerprint([Fresh([i]) for i in range(200)])
    assert fingerprint(many) != fingerprint([Fresh([0])] * 200)
    others = [Fresh([i if i < 199 else -1]) for i in range(200)]
    assert fingerprint(many) != fingerprint(others)
    digests = {fingerprint([Fresh([0]), Fresh([i])]) for i in range(1, 50)}
    assert len(digests) == 49


def test_deep_chain_is_a_fingerprint_error_naming_the_argument(cache: Cache) -> None:
    """Nesting beyond the recursion limit is a FingerprintError naming the argument, not a
    RecursionError."""
    chain: list[Any] = []
    cursor = chain
    for _ in range(sys.getrecursionlimit() * 2):
        cursor.append([])
        cursor = cursor[0]
    with cache.create_pool("p"), pytest.raises(FingerprintError, match="argument 'rows'"):
        fill_first(chain)
