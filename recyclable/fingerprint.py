"""Value → digest: a canonical pickling hasher streaming into xxh3_128.

The digest of a value is xxh3_128 over a schema prefix and a protocol-5 pickle
stream written by the C pickler straight into the hasher (no intermediate
bytes).  Before pickling, the value is put into a canonical form where pickle's
own output would depend on something other than the value:

* ``dict`` → its items in insertion order (a step can observe it: ``list(d)``,
  ``json.dumps(d)``, a DataFrame's column order); `unordered_digest` gives the
  digest with every dict's items sorted, so a miss can be explained as "the
  same items in another order".
* ``set`` / ``frozenset`` → their elements sorted (natively when all are
  ``str``, ``bytes`` or ``int``; otherwise by each element's digest), never by
  the builtin ``hash()`` (which is salted per process for strings).
* numpy arrays → dtype, shape and a digest of the C-order bytes, computed
  from the array's own buffer without a copy when it is C-contiguous, and
  the order of the axes when it is Fortran-contiguous (numpy reduces in
  memory order: a Fortran-ordered array can sum to another float; a strided
  view is keyed as the C-ordered copy pickling, and so a re-run, gives).
* functions and classes of user code → their code identity (see
  `recyclable.codeid`: their code and everything it reaches, closures included);
  other classes → module and qualified name, local classes too (a script's
  ``__main__`` under its module name, `recyclable.entrypoint`).
* `InputFile` paths → the content of the file or directory (see `recyclable.files`).
* `os.PathLike` values → their text, and the content of the file or directory
  they name when it exists.
* other objects → their reduction (``copyreg.dispatch_table`` first, as pickle
  does, then ``__reduce_ex__(5)``), canonicalised in turn, with the
  attributes' digest when the class's own reduction leaves some out.
* objects pickled by reference (builtins, ufuncs, module-level singletons) →
  module, qualified name and the version of the distribution providing them.
* registered types and ``__recyclable_fingerprint__`` → the stand-in value
  they return, tagged with the type's qualified name.
* types of libraries the program has imported (pandas, pyarrow, polars,
  xarray, scipy.sparse, torch, anndata, scikit-bio, numpy's newer dtypes) →
  their handler in `recyclable.handlers`, looked up lazily.

Aliasing is part of the key: a mutable object (list, dict, set, any object
reduced through its state, an array) met a second time inside one value is
written as a back-reference to its first appearance, so ``[row, row]`` and
``[row, copy(row)]`` differ and a reference cycle is a back-reference, not an
error.  The back-references are our own (numbered in traversal order, the
originals kept alive for the whole digest so no ``id`` is reused); pickle's
memo stays off, because it would also record the identity of strings and
tuples, which equal values do not share reliably.

Plain data (atoms, dicts, lists and tuples with every container below the
top held once) needs none of this: pickle's own stream of it is canonical,
so it goes to the C pickler as is (`recyclable.plaindata.plain_tree`).

Floats are hashed by their IEEE-754 bits: ``0.0`` and ``-0.0`` differ (a
function may tell them apart, so sharing a key could be a wrong hit), and a NaN
equals only a NaN with the same payload (so ``f(nan)`` hits ``f(nan)`` even
though ``nan != nan``).  numpy arrays follow the same rule through their bytes.

A read-only array loaded from a verified blob carries that blob's digest,
which equals its own, so passing it to the next action costs a dict lookup
(`remember_loaded_arrays`); writable arrays are always hashed.

Anything that cannot be fingerprinted raises `FingerprintError` naming where
inside the value it sits.  There is no fallback to ``id()`` or ``repr()``.
"""

from __future__ import annotations

import contextlib
import pickle
from typing import Any

import xxhash

# Names other modules (handlers, the pool, tests) import from here, re-exported
# explicitly (``import x as x``): the fingerprint's parts live in
# `recyclable.arraydigest`, `recyclable.canonical` and `recyclable.reducers`.
# ruff: noqa: PLC0414
from recyclable.arraydigest import _propagated as _propagated
from recyclable.arraydigest import array_digest as array_digest
from recyclable.arraydigest import known_buffers as known_buffers
from recyclable.arraydigest import remember_loaded_arrays as remember_loaded_arrays
from recyclable.canonical import _ATOMIC, _MARKERS, _first_time, _local, _State
from recyclable.canonical import _LIBRARY as _LIBRARY
from recyclable.canonical import _canon as _canon
from recyclable.canonical import _Canonical as _Canonical
from recyclable.errors import FingerprintError
from recyclable.plaindata import REFCOUNTS_EXACT, exact_by_construction, plain_tree
from recyclable.reducers import _BY_REFERENCE, _handler_for, _pickle_reason, _type_name
from recyclable.reducers import FingerprintFunc as FingerprintFunc
from recyclable.reducers import _handler_cache as _handler_cache
from recyclable.reducers import _ndarray_handler as _ndarray_handler
from recyclable.reducers import _qualified as _qualified
from recyclable.reducers import _registry as _registry
from recyclable.reducers import path_digest as path_digest

__all__ = [
    "SCHEMA_VERSION",
    "Held",
    "digest_with_order",
    "exact_by_construction",
    "fingerprint",
    "register_fingerprint",
    "unordered_digest",
]

#: What one digest met that has an identity of its own: ``{id(obj): number}`` in
#: traversal order, and a list that keeps those objects alive (so no id is reused).
Held = tuple[dict[int, int], list[Any]]

#: Bumped whenever the canonical encoding changes, so an old key can only miss.
SCHEMA_VERSION = 2
_PREFIX = b"recyclable-fingerprint-%d\x00" % SCHEMA_VERSION

# The canonical forms' markers are pickled by reference as globals of this module.
globals().update((marker.__name__, marker) for marker in _MARKERS)


def register_fingerprint(cls: type, func: FingerprintFunc) -> None:
    """Teach recyclable how to fingerprint instances of ``cls`` (and its subclasses).

    ``func(obj)`` must return a stand-in value that recyclable can fingerprint
    (builtins, containers, numpy arrays, ...) and that changes whenever the
    object would give a different result.  A QIIME 2-style artifact could
    return its UUID; a database handle could return its connection URL.

    Args:
        cls: the type to register.
        func: a callable returning the stand-in value for an instance.

    Raises:
        TypeError: when ``cls`` is not a type or ``func`` is not callable.

    Example:
        >>> import threading, recyclable
        >>> recyclable.register_fingerprint(type(threading.Lock()), lambda lock: "a lock")

    """
    if not isinstance(cls, type):
        raise TypeError(
            f"register_fingerprint(cls=...) expects a type, got {type(cls).__name__} "
            f"{cls!r}; pass the class itself, e.g. register_fingerprint(MyType, func)"
        )
    if not callable(func):
        raise TypeError(
            f"register_fingerprint(func=...) expects a callable, got {type(func).__name__}; "
            "pass a function that returns a fingerprintable stand-in for an instance"
        )
    _registry[cls] = func
    _handler_cache.clear()


def fingerprint(value: object, *, where: str = "value") -> bytes:
    """Return the 16-byte digest of ``value``.

    Equal values give equal digests in every process, whatever
    ``PYTHONHASHSEED``; values of different types give different digests.

    Args:
        value: the value to fingerprint.
        where: how to name the value in an error message (e.g. ``"argument 'x'"``).

    Raises:
        FingerprintError: the value, or something inside it, cannot be fingerprinted.

    Example:
        >>> from recyclable.fingerprint import fingerprint
        >>> fingerprint({"a": 1, "b": 2}) == fingerprint({"a": 1, "b": 2})
        True
        >>> fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})   # order is observable
        False
        >>> fingerprint(1) == fingerprint(1.0)
        False

    """
    try:
        return digest_value(value)
    except FingerprintError as exc:
        raise FingerprintError([where, *exc.path], exc.type_name, exc.reason) from None


def digest_value(value: object) -> bytes:
    """`fingerprint` without naming the value: an error's path starts inside it."""
    if type(value) in _ATOMIC:
        return scalar_digest(value)
    return _checked(value, ordered=True)[0]


def digest_with_order(value: object, held: list[Held] | None = None) -> tuple[bytes, bool]:
    """`digest_value`, and whether the digest depends on some dict's insertion order.

    When it does not, the value's `unordered_digest` equals its digest, so the
    order-free digest need not be computed (or stored) at all.

    With ``held``, also append the objects with an identity of their own the
    digest met (each numbered in traversal order, the number a
    back-reference would carry) and a list keeping them alive, so that the
    caller can tell which objects two values share (`recyclable.sharing`).
    """
    cls = type(value)
    if cls in _ATOMIC:
        if held is not None and cls is bytearray:
            held.append(({id(value): 0}, [value]))
        return scalar_digest(value), False
    return _checked(value, ordered=True, held=held)


#: Digests of small scalars already met, by (exact type, value): a step called
#: again with its usual settings keys each of them with one dict lookup.  The
#: type is part of the key (``1``, ``1.0`` and ``True`` are equal but differ),
#: and no value that equals another of different bits is ever stored: floats
#: equal to zero (``0.0 == -0.0``) and complex numbers are hashed every time,
#: and a NaN only ever finds itself (a dict lookup tries identity first, and a
#: NaN equals nothing).
SCALAR_DIGESTS: dict[tuple[type, object], bytes] = {}
#: The types `SCALAR_DIGESTS` may hold (hashable, compared exactly within one type).
CACHED_SCALARS: frozenset[type] = frozenset({int, float, str, bytes, bool, type(None)})
_SCALAR_LIMIT = 4096  # entries; the memo is emptied when full
_SCALAR_SIZE = 256  # longest str or bytes remembered


def scalar_digest(value: object) -> bytes:
    """The digest of an atom (int, float, complex, str, bytes, bytearray, bool, None).

    One small pickle, no pickler object; remembered for small values of
    `CACHED_SCALARS` types.
    """
    cls = type(value)
    if cls in CACHED_SCALARS:
        key = (cls, value)
        found = SCALAR_DIGESTS.get(key)
        if found is not None:
            return found
        digest = xxhash.xxh3_128_digest(_PREFIX + pickle.dumps(value, 5))
        if _rememberable(value):
            if len(SCALAR_DIGESTS) >= _SCALAR_LIMIT:
                SCALAR_DIGESTS.clear()
            SCALAR_DIGESTS[key] = digest
        return digest
    return xxhash.xxh3_128_digest(_PREFIX + pickle.dumps(value, 5))


def _rememberable(value: Any) -> bool:
    if isinstance(value, float):
        return value != 0.0  # 0.0 == -0.0: the two must never share an entry
    if isinstance(value, (str, bytes)):
        return len(value) <= _SCALAR_SIZE
    return not isinstance(value, int) or -(2**64) < value < 2**64


def unordered_digest(value: object) -> bytes:
    """The digest of ``value`` with every dict's items sorted: equal for reordered dicts.

    Never part of a key (a step can observe insertion order); it lets a miss be
    explained as "the same items in another order".
    """
    if type(value) in _ATOMIC:
        return digest_value(value)
    return _checked(value, ordered=False)[0]


def state_digest(value: object) -> bytes:
    """A digest that also covers the ``__dict__`` of objects with their own reduction.

    Not a key: the round-trip check of a stored result uses it, so an object
    whose ``__reduce__`` or ``__getstate__`` drops state is seen to come back
    changed.
    """
    if type(value) in _ATOMIC:
        return digest_value(value)
    return _checked(value, ordered=True, deep=True)[0]


def _checked(
    value: object, *, ordered: bool, deep: bool = False, held: list[Held] | None = None
) -> tuple[bytes, bool]:
    try:
        return _run(value, ordered, deep, held)
    except RecursionError:
        raise FingerprintError(
            [],
            _type_name(value),
            "it is nested more deeply than Python's recursion limit allows "
            "(a long linked chain?); register a flatter stand-in with register_fingerprint",
        ) from None
    except Exception as exc:
        # Slow path, only on error: walk the value to name the innermost culprit.
        with contextlib.suppress(RecursionError):
            _locate_failure(value, [], set())
        if isinstance(exc, FingerprintError):
            raise
        raise FingerprintError([], _type_name(value), _pickle_reason(exc)) from exc


# --- the pickling hasher ---------------------------------------------------------------


class _HashSink:
    """A write-only file object whose ``write`` feeds the hasher directly."""

    __slots__ = ("write",)

    def __init__(self, hasher: xxhash.xxh3_128) -> None:
        self.write = hasher.update


class _Pickler(pickle.Pickler):
    """The C pickler with a hook that canonicalises objects pickle would encode unstably."""

    def reducer_override(self, obj: Any) -> Any:
        state = _local.state
        if state.plain:
            # An object pickle does not write natively, met on the plain-data
            # path (a leaf `plain_tree` left to this hook): take the exact path.
            raise _PlainAbandoned
        handler = _handler_for(type(obj))
        if handler is None:
            return NotImplemented
        if handler not in _BY_REFERENCE:
            ref = _first_time(state, obj)
            if ref is not None:
                return ref.__reduce__()
        return handler(obj)


class _PlainAbandoned(Exception):
    """Raised by the pickler's hook on the plain-data path: the value is not plain data."""


def _run(
    value: object, ordered: bool, deep: bool = False, held: list[Held] | None = None
) -> tuple[bytes, bool]:
    state = _State(ordered, deep)
    outer = getattr(_local, "state", None)
    _local.state = state
    try:
        if ordered and REFCOUNTS_EXACT:
            # (Plain data holds no object with its own reduction: deep changes nothing.)
            order_matters = plain_tree(value)
            if order_matters is not None:
                # Plain data with no container met twice: pickle's own encoding
                # of it is the canonical form, so the C pickler walks it alone.
                # Anything reaching the hook (a leaf plain_tree did not look at,
                # a complex number) abandons this path for the exact one below.
                hasher, pickler = _hashing_pickler()
                state.plain = True
                try:
                    pickler.dump(value)
                    if held is not None and type(value) is not tuple:
                        # Below the top every container is held once, so
                        # nothing else can share it: only the top has a say.
                        held.append(({id(value): 0}, [value]))
                    return hasher.digest(), order_matters
                except _PlainAbandoned:
                    pass
                finally:
                    state.plain = False
        hasher, pickler = _hashing_pickler()
        pickler.dump(_canon(value))
        if held is not None and state.seen:
            held.append((state.seen, state.keep))
    finally:
        _local.state = outer
    return hasher.digest(), state.order_matters


def _hashing_pickler() -> tuple[xxhash.xxh3_128, _Pickler]:
    hasher = xxhash.xxh3_128(_PREFIX)
    pickler = _Pickler(_HashSink(hasher), protocol=5)
    # pickle's memo stays off (it would key the identity of equal strings and
    # tuples); aliasing is written by `_first_time` instead.
    pickler.fast = True
    return hasher, pickler


def _digest(value: object) -> bytes:
    return _run(value, getattr(_local, "state", None) is None or _local.state.ordered)[0]


# --- locating a failure inside a value (slow path, only on error) ---------------------


def _locate_failure(value: Any, path: list[str], seen: set[int]) -> None:
    """Raise a FingerprintError naming the innermost part of ``value`` that fails, if any."""
    if id(value) in seen:
        return  # a cycle: its first appearance is already being examined
    seen.add(id(value))
    for label, child in _children(value):
        try:
            _digest(child)
        except Exception as exc:  # noqa: BLE001 - narrowed down recursively
            _locate_failure(child, [*path, label], seen)
            if isinstance(exc, FingerprintError):
                raise FingerprintError(
                    [*path, label, *exc.path], exc.type_name, exc.reason
                ) from None
            raise FingerprintError([*path, label], _type_name(child), _pickle_reason(exc)) from None


def _children(value: Any) -> list[tuple[str, Any]]:
    cls = type(value)
    if getattr(_handler_for(cls), "keys_whole", False):
        return []  # a library handler keys it whole; its own error is the innermost
    if cls is dict:
        return [(f"[{k!r}]", v) for k, v in value.items()] + [(f"key {k!r}", k) for k in value]
    if cls is list or cls is tuple:
        return [(f"[{i}]", item) for i, item in enumerate(value)]
    if cls is set or cls is frozenset:
        return [("element", item) for item in value]
    state = getattr(value, "__dict__", None)
    if isinstance(state, dict):
        return [(f".{name}", item) for name, item in state.items()]
    return []
