"""Plain data, recognised in C: values pickle already encodes canonically or exactly.

Walking a large value in Python costs far more than pickling it.  These
checks go level by level through ``gc.get_referents`` and test each level
with C iterators (``map``, ``compress``, ``set``), so no Python code runs per
object: `plain_tree` lets the fingerprint hand plain data straight to the C
pickler, `exact_by_construction` lets a store skip the round-trip check.
"""

from __future__ import annotations

import gc
import sys
import sysconfig
from itertools import compress, filterfalse
from sys import getrefcount
from typing import Any

__all__ = ["ATOMIC", "REFCOUNTS_EXACT", "exact_by_construction", "plain_tree"]

#: Types pickle writes by value, with no identity of their own.
ATOMIC: frozenset[type] = frozenset({int, float, complex, str, bytes, bytearray, bool, type(None)})
_ATOMIC = ATOMIC
_PLAIN: frozenset[type] = _ATOMIC | {dict, list, tuple}
_CONTAINERS: frozenset[type] = frozenset({dict, list, tuple})
_is_mutable = frozenset({dict, list}).__contains__
_is_dict = frozenset({dict}).__contains__


def plain_tree(value: object) -> bool | None:
    """Whether ``value`` is plain data pickle already encodes canonically, checked in C.

    Plain means atoms, dicts, lists and tuples, and every dict and list below
    the top referenced exactly once (so none is met twice: no aliasing, no
    cycle, which would need back-references).  Returns None when it is not;
    otherwise whether some dict holds two or more items (its order is then in
    the key).  The walk goes level by level through ``gc.get_referents``, with
    the per-object tests done by C iterators, so no Python code runs per object.

    The last level (objects with nothing below them: the leaves) is not
    type-checked one by one, which would cost more than pickling it: a leaf
    that is falsy must be an atom (or an empty tuple, list or dict held
    once), and any other leaf is either an atom or an object pickle hands to
    ``reducer_override`` (a non-empty container always has something below
    it).  The caller pickles with a hook that abandons the plain path when it
    is called (`PlainPickleAborted`), so no such object is ever keyed here.

    The reference count is exact in CPython: a container held by one parent
    has, while it is tested, one reference from that parent, one from
    ``level`` and one for the call's argument.  Any other reference (a second
    parent, or a variable elsewhere) only sends the value down the exact,
    slower path.
    """
    if type(value) not in _PLAIN:
        return None  # an object at the top: the plain pickle would only be abandoned
    level: list[Any] = [value]
    order_matters = False
    top = True
    while True:
        below = gc.get_referents(*level)
        if not below:
            if top:
                return False  # an empty container, or a tuple of nothing
            return order_matters if _plain_leaves(level) else None
        # Each pass over a level touches every object once more, and a large
        # value is out of cache: as few passes as possible.
        types = list(map(type, level))
        first = types[0]
        if types.count(first) == len(types):  # one type (a level of dicts, of lists): cheap
            if first not in _CONTAINERS:
                return None
            if not top and first is not tuple:
                counts = list(map(getrefcount, level))
                if counts.count(_HELD_ONCE) != len(counts):
                    return None  # maybe met twice: aliasing or a cycle
            if first is dict and not order_matters:
                order_matters = max(map(len, level)) > 1
        else:
            if not _PLAIN.issuperset(types):
                return None
            if not top and not _ONCE.issuperset(
                map(getrefcount, compress(level, map(_is_mutable, types)))
            ):
                return None
            if not order_matters and dict in set(types):
                order_matters = max(map(len, compress(level, map(_is_dict, types)))) > 1
        top = False
        level = below


def _plain_leaves(level: list[Any]) -> bool:
    """Leaves (nothing below them) that may take the plain path: see `plain_tree`."""
    try:
        falsy = list(filterfalse(None, level))
    except Exception:  # noqa: BLE001 - an object without a truth value (an array): not plain
        return False
    # None is by far the most common falsy leaf, and counting it is an identity test.
    if falsy.count(None) == len(falsy) or _ATOMIC.issuperset(map(type, falsy)):
        return True
    types = list(map(type, falsy))
    if not _PLAIN.issuperset(types):
        return False  # an empty set or frozenset (pickled natively, in hash order), an object
    # Empty lists and dicts held once: their parent, ``level``, ``falsy`` and the argument.
    return _ONCE_AMONG_LEAVES.issuperset(map(getrefcount, compress(falsy, map(_is_mutable, types))))


_EXACT: frozenset[type] = _PLAIN | {set, frozenset}
_is_exact_container = frozenset({dict, list, tuple, set, frozenset}).__contains__


def exact_by_construction(value: object) -> bool:
    """True when a pickle round trip reproduces ``value`` exactly, whatever it holds.

    Atoms, builtin containers (aliasing included: pickle keeps it) and numpy
    arrays of plain dtypes pickle losslessly, so a stored result made only
    of them needs no round-trip check.  Checked level by level like
    `plain_tree`.
    """
    numpy = sys.modules.get("numpy")
    ndarray = numpy.ndarray if numpy is not None else None
    allowed = _EXACT | {ndarray} if ndarray is not None else _EXACT
    level: list[Any] = [value]
    seen: set[int] = set()
    while level:
        types = list(map(type, level))
        kinds = set(types)
        if kinds <= _ATOMIC:
            return True
        if not kinds <= allowed:
            return False
        if ndarray in kinds and any(arr.dtype.hasobject for arr in level if type(arr) is ndarray):
            return False
        containers = [
            c for c in compress(level, map(_is_exact_container, types)) if id(c) not in seen
        ]
        seen.update(map(id, containers))
        level = gc.get_referents(*containers)
    return True


# `plain_tree` relies on CPython's exact reference counts (a free-threaded
# build defers some): elsewhere every value takes the canonicalising path.
REFCOUNTS_EXACT = sys.implementation.name == "cpython" and not sysconfig.get_config_var(
    "Py_GIL_DISABLED"
)

# The reference count of a container held by exactly one parent, as `plain_tree`
# sees it: that parent, ``level``, and getrefcount's argument (one more for a
# leaf, which ``falsy`` holds too).
_HELD_ONCE = 3
_ONCE = frozenset({_HELD_ONCE})
_ONCE_AMONG_LEAVES = frozenset({_HELD_ONCE + 1})
