"""Canonical forms: what a value is rewritten to before the fingerprint pickles it.

Pickle's own output of most values already depends only on the value; where
it would not (sets, whose order is the hash order; a container met twice,
which must be a back-reference; dicts in the order-free digest), the value is
rewritten into a form that pickles canonically: `_Canonical` tags, each
pickled by reference to a marker function.  The per-digest traversal state
(what was seen, for back-references) lives here too.  See
`recyclable.fingerprint` for the whole encoding.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from itertools import chain
from operator import is_
from typing import Any

from recyclable.plaindata import ATOMIC

__all__: list[str] = []

# The types pickle writes by value, with no identity: shared with `recyclable.plaindata`.
_ATOMIC: frozenset[type] = ATOMIC
# Key types whose native order is total and type-consistent: sorting by value
# is then canonical and costs far less than sorting by digest.
_NATIVE_SORT: frozenset[type] = frozenset({str, bytes, int})


class _State:
    """One digest's traversal: objects seen so far (for back-references) and the dict mode."""

    __slots__ = ("deep", "keep", "order_matters", "ordered", "plain", "seen")

    def __init__(self, ordered: bool, deep: bool = False) -> None:
        # id → position of first appearance.  ``keep`` holds every object
        # registered (originals and the temporaries reductions make), so no
        # id is reused by another object before the digest is finished.
        self.seen: dict[int, int] = {}
        self.keep: list[Any] = []
        self.ordered = ordered
        self.order_matters = False
        # Also key the __dict__ of objects whose own reduction could leave state out.
        self.deep = deep
        # Pickling plain data as is: the hook abandons that (see `_run`).
        self.plain = False


_local = threading.local()


def _first_time(state: _State, obj: Any) -> Any:
    """None the first time ``obj`` is met in this digest; a back-reference after that."""
    seen = state.seen
    key = id(obj)
    if key in seen:
        return _Canonical(_REF, (seen[key],))
    seen[key] = len(seen)
    state.keep.append(obj)
    return None


_MARKERS: set[Callable[..., Any]] = set()


def _tag(name: str) -> Callable[..., Any]:
    """A module-level marker function: pickled by reference, it tags a canonical form."""

    def marker(*args: Any) -> Any:  # pragma: no cover - never called, only pickled
        raise RuntimeError("recyclable fingerprint markers are not meant to be unpickled")

    marker.__name__ = marker.__qualname__ = name
    # Pickled by reference from recyclable.fingerprint, where they have always
    # lived (and which holds them as globals): moving them changes no digest.
    marker.__module__ = "recyclable.fingerprint"
    _MARKERS.add(marker)
    return marker


_DICT = _tag("_canonical_dict")
_SET = _tag("_canonical_set")
_FROZENSET = _tag("_canonical_frozenset")
_NDARRAY = _tag("_canonical_ndarray")
_OBJECT_NDARRAY = _tag("_canonical_object_ndarray")
_FUNCTION = _tag("_canonical_function")
_REGISTERED = _tag("_canonical_registered")
_LIBRARY = _tag("_canonical_library")
_FILE = _tag("_canonical_file")
_CLASS = _tag("_canonical_class")
_REF = _tag("_canonical_reference")
_GLOBAL = _tag("_canonical_global")
_UNION = _tag("_canonical_union")
_PATH = _tag("_canonical_path")
_MAPPING_PROXY = _tag("_canonical_mappingproxy")
_MEMORYVIEW = _tag("_canonical_memoryview")
_USER_TYPE = _tag("_canonical_user_type")
_WEAK = _tag("_canonical_weak")
_METHOD_WRAPPER = _tag("_canonical_method_wrapper")


class _Canonical:
    """A canonical form; pickles as ``marker(*payload)`` and never reaches user code."""

    __slots__ = ("marker", "payload")

    def __init__(self, marker: Callable[..., Any], payload: tuple[Any, ...]) -> None:
        self.marker = marker
        self.payload = payload

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.marker, self.payload)


def _canon(value: Any) -> Any:
    cls = type(value)
    if cls in _ATOMIC:
        return value
    return _canon_in(value, _local.state)


def _canon_in(value: Any, state: _State) -> Any:
    """The canonical form of ``value``, itself wherever pickle already writes it canonically.

    That is dicts (in insertion order), lists and tuples whose items are
    canonical; sets and back-references get a marker form; other objects are
    left to the pickler's hook.
    """
    cls = type(value)
    if cls in _ATOMIC:
        return value
    if cls is tuple:
        types = set(map(type, value))
        if types <= _ATOMIC:
            return value
        # A tuple of tuples of atomic values (rows, pairs, ...) is already
        # canonical and holds nothing mutable: check that in C.
        if types == _TUPLE_ONLY and set(map(type, chain.from_iterable(value))) <= _ATOMIC:
            return value
        items = [item if type(item) in _ATOMIC else _canon_in(item, state) for item in value]
        return value if all(map(is_, items, value)) else tuple(items)
    if cls is list or cls is dict or cls is set:
        # _first_time, inlined: this runs once per container.
        seen = state.seen
        key = id(value)
        if key in seen:
            return _Canonical(_REF, (seen[key],))
        seen[key] = len(seen)
        state.keep.append(value)
        if cls is list:
            types = set(map(type, value))
            if types <= _ATOMIC:
                return value
            if types == _TUPLE_ONLY and set(map(type, chain.from_iterable(value))) <= _ATOMIC:
                return value
            items = [item if type(item) in _ATOMIC else _canon_in(item, state) for item in value]
            return value if all(map(is_, items, value)) else items
        if cls is dict:
            if len(value) > 1:
                if not state.ordered:
                    return _Canonical(_DICT, (_canonical_items(value, state),))
                state.order_matters = True
            # pickle writes a dict's items in insertion order, which is the
            # canonical order: the dict itself is its form when its items are.
            values = value.values()
            key_types = set(map(type, value))
            if set(map(type, values)) <= _ATOMIC and key_types <= _ATOMIC:
                return value
            items = [item if type(item) in _ATOMIC else _canon_in(item, state) for item in values]
            if not key_types <= _ATOMIC:
                keys = [key if type(key) in _ATOMIC else _canon_in(key, state) for key in value]
                if not all(map(is_, keys, value)):
                    # Keys with a canonical form of their own (frozensets, objects).
                    return _Canonical(_DICT, (tuple(zip(keys, items, strict=True)),))
            # Same as the plain-data path: the dict itself, or one with the
            # canonical values, pickled in insertion order.
            if all(map(is_, items, values)):
                return value
            return dict(zip(value, items, strict=True))
        return _Canonical(_SET, (_sorted_elements(value),))
    if cls is frozenset:
        return _Canonical(_FROZENSET, (_sorted_elements(value),))
    # Everything else (numpy arrays, user objects, ...) is handled by the
    # pickler's reducer_override when the pickler reaches it.
    return value


_TUPLE_ONLY = frozenset({tuple})


def _canonical_items(mapping: Any, state: _State) -> tuple[Any, ...]:
    """A mapping's items, canonicalised: in insertion order, or sorted (unordered mode)."""
    if len(mapping) > 1:
        if state.ordered:
            state.order_matters = True
            items = list(mapping.items())
        else:
            key_types = set(map(type, mapping))
            if len(key_types) == 1 and key_types <= _NATIVE_SORT:
                # Keys are distinct, so comparing (key, value) pairs never reaches the values.
                items = sorted(mapping.items())
            else:
                items = sorted(mapping.items(), key=_key_digest)
    else:
        items = list(mapping.items())
    if set(map(type, mapping.values())) <= _ATOMIC and set(map(type, mapping)) <= _ATOMIC:
        return tuple(items)
    return tuple([(_canon_in(k, state), _canon_in(v, state)) for k, v in items])


def _sorted_elements(elements: Any) -> tuple[Any, ...]:
    from recyclable.fingerprint import _digest

    items = list(elements)
    types = set(map(type, items))
    if len(types) <= 1 and types <= _NATIVE_SORT:
        items.sort()
        return tuple(items)
    items.sort(key=_digest)
    return tuple(map(_canon, items))


def _key_digest(pair: tuple[Any, Any]) -> bytes:
    from recyclable.fingerprint import _run

    return _run(pair[0], False)[0]
