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
from itertools import compress
from sys import getrefcount
from typing import Any

__all__ = ["ATOMIC", "REFCOUNTS_EXACT", "exact_by_construction", "plain_tree"]

#: Types pickle writes by value, with no identity of their own.
ATOMIC: frozenset[type] = frozenset({int, float, complex, str, bytes, bytearray, bool, type(None)})
_ATOMIC = ATOMIC
_PLAIN: frozenset[type] = _ATOMIC | {dict, list, tuple}
_is_container = frozenset({dict, list, tuple}).__contains__
_is_mutable = frozenset({dict, list}).__contains__
_is_dict = frozenset({dict}).__contains__


def plain_tree(value: object) -> bool | None:
    """Whether ``value`` is plain data pickle already encodes canonically, checked in C.

    Plain means atoms, dicts, lists and tuples only, and every dict and list
    below the top referenced exactly once (so none is met twice: no aliasing,
    no cycle, which would need back-references).  Returns None when it is
    not; otherwise whether some dict holds two or more items (its order is
    then in the key).  The walk goes level by level through
    ``gc.get_referents``, with the per-object tests done by C iterators, so no
    Python code runs per object.

    The reference count is exact in CPython: a container held by one parent
    has, while it is tested, one reference from that parent, one from
    ``level`` and one for the call's argument.  Any
    other reference (a second parent, or a variable elsewhere) only sends the
    value down the exact, slower path.
    """
    level: list[Any] = [value]
    order_matters = False
    top = True
    while level:
        # Each pass over a level touches every object once more, and a large
        # value is out of cache: as few passes as possible.
        types = list(map(type, level))
        kinds = set(types)
        if kinds <= _ATOMIC:
            return order_matters
        if not kinds <= _PLAIN:
            return None
        if not top and set(map(getrefcount, compress(level, map(_is_mutable, types)))) - _HELD_ONCE:
            return None  # maybe met twice: aliasing or a cycle
        top = False
        if not order_matters and dict in kinds:
            order_matters = max(map(len, compress(level, map(_is_dict, types)))) > 1
        level = gc.get_referents(*compress(level, map(_is_container, types)))
    return order_matters


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
# sees it: that parent, ``level``, and getrefcount's argument.
_HELD_ONCE = frozenset({3})
