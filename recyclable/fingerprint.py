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
  from the array's own buffer without a copy when it is C-contiguous.
* functions and classes of user code → their code identity (see
  `recyclable.codeid`: their code and everything it reaches, closures included);
  other classes → module and qualified name, local classes too (a script's
  ``__main__`` under its module name, `recyclable.entrypoint`).
* `InputFile` paths → the content of the file or directory (see `recyclable.files`).
* `os.PathLike` values → their text, and the content of the file or directory
  they name when it exists.
* other objects → their reduction (``copyreg.dispatch_table`` first, as pickle
  does, then ``__reduce_ex__(5)``), canonicalised in turn.
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
import copyreg
import io
import os
import pickle
import sys
import threading
import types
import weakref
from collections.abc import Callable
from itertools import chain
from operator import is_
from typing import Any

import wrapt
import xxhash

from recyclable.entrypoint import module_name
from recyclable.errors import FingerprintError
from recyclable.files import InputFile, file_digest
from recyclable.libref import provider_version
from recyclable.plaindata import ATOMIC, REFCOUNTS_EXACT, exact_by_construction, plain_tree

__all__ = [
    "SCHEMA_VERSION",
    "digest_with_order",
    "exact_by_construction",
    "fingerprint",
    "register_fingerprint",
    "unordered_digest",
]

#: Bumped whenever the canonical encoding changes, so an old key can only miss.
SCHEMA_VERSION = 2
_PREFIX = b"recyclable-fingerprint-%d\x00" % SCHEMA_VERSION

# The types pickle writes by value, with no identity: shared with `recyclable.plaindata`.
_ATOMIC: frozenset[type] = ATOMIC
# Key types whose native order is total and type-consistent: sorting by value
# is then canonical and costs far less than sorting by digest.
_NATIVE_SORT: frozenset[type] = frozenset({str, bytes, int})
_SEQUENCE_TYPES: frozenset[type] = frozenset({list, tuple})

# A numpy array is hashed in blocks of about this many bytes when it is not
# C-contiguous, so no full-size temporary copy is ever made.
_BLOCK_BYTES = 16 * 1024 * 1024

FingerprintFunc = Callable[[Any], object]
_registry: dict[type, FingerprintFunc] = {}
# The base of every wrapt proxy (wrapt 2 puts a Python ObjectProxy above it).
_WRAPT_PROXY: type = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)


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
        # The common case of a scalar argument: one small pickle, no pickler object.
        return xxhash.xxh3_128_digest(_PREFIX + pickle.dumps(value, 5))
    return _checked(value, ordered=True)[0]


def digest_with_order(value: object) -> tuple[bytes, bool]:
    """`digest_value`, and whether the digest depends on some dict's insertion order.

    When it does not, the value's `unordered_digest` equals its digest, so the
    order-free digest need not be computed (or stored) at all.
    """
    if type(value) in _ATOMIC:
        return xxhash.xxh3_128_digest(_PREFIX + pickle.dumps(value, 5)), False
    return _checked(value, ordered=True)


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


def _checked(value: object, *, ordered: bool, deep: bool = False) -> tuple[bytes, bool]:
    try:
        return _run(value, ordered, deep)
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


def _run(value: object, ordered: bool, deep: bool = False) -> tuple[bytes, bool]:
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
                    return hasher.digest(), order_matters
                except _PlainAbandoned:
                    pass
                finally:
                    state.plain = False
        hasher, pickler = _hashing_pickler()
        pickler.dump(_canon(value))
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


# --- canonical forms -------------------------------------------------------------------


_MARKERS: set[Callable[..., Any]] = set()


def _tag(name: str) -> Callable[..., Any]:
    """A module-level marker function: pickled by reference, it tags a canonical form."""

    def marker(*args: Any) -> Any:  # pragma: no cover - never called, only pickled
        raise RuntimeError("recyclable fingerprint markers are not meant to be unpickled")

    marker.__name__ = marker.__qualname__ = name
    marker.__module__ = __name__
    globals()[name] = marker
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
    items = list(elements)
    types = set(map(type, items))
    if len(types) <= 1 and types <= _NATIVE_SORT:
        items.sort()
        return tuple(items)
    items.sort(key=_digest)
    return tuple(map(_canon, items))


def _key_digest(pair: tuple[Any, Any]) -> bytes:
    return _run(pair[0], False)[0]


# --- handlers for objects reaching reducer_override -----------------------------------

_Handler = Callable[[Any], Any]
_handler_cache: dict[type, _Handler | None] = {}


def _handler_for(cls: type) -> _Handler | None:
    try:
        return _handler_cache[cls]
    except KeyError:
        handler = _find_handler(cls)
        _handler_cache[cls] = handler
        return handler


def _find_handler(cls: type) -> _Handler | None:
    if cls is _Canonical:
        return None  # our own tags
    if issubclass(cls, type):
        return _class_handler  # classes, whatever their metaclass
    if issubclass(cls, _WRAPT_PROXY):
        return _function_handler  # a decorated function: by what it wraps
    # Library handlers (recyclable.handlers, entry points), only for libraries
    # the program has imported; registered functions still take precedence.
    library = _library_handler(cls)
    for base in cls.__mro__:
        func = _registry.get(base)
        if func is not None:
            return _registered_handler(cls, func)
    if getattr(cls, "__recyclable_fingerprint__", None) is not None:
        return _protocol_handler
    if cls is InputFile:
        return _file_handler
    if issubclass(cls, os.PathLike):
        return _path_handler
    if cls is types.FunctionType:
        return _function_handler
    if cls is types.BuiltinFunctionType:
        return _builtin_handler
    if cls is types.UnionType:
        return _union_handler
    if library is not None:
        return library
    numpy = sys.modules.get("numpy")
    if numpy is not None and (cls is numpy.ndarray or cls is numpy.memmap):
        return _ndarray_handler
    if issubclass(cls, io.IOBase):
        return _refuse("an open file or stream has no value to fingerprint; pass its path")
    if issubclass(cls, (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)):
        return _refuse("a generator or coroutine is consumed by use; pass a list or tuple")
    return _reduce_handler


# Handlers of objects that hold no mutable state of their own: never back-referenced.
_BY_REFERENCE: frozenset[_Handler] = frozenset()


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _type_name(value: object) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else _qualified(cls)


def _refuse(reason: str) -> _Handler:
    def handler(obj: Any) -> Any:
        raise FingerprintError([], _type_name(obj), reason)

    return handler


def _registered_handler(cls: type, func: FingerprintFunc) -> _Handler:
    name = _qualified(cls)

    def handler(obj: Any) -> Any:
        return (_REGISTERED, (name, _canon(func(obj))))

    return handler


def _class_handler(cls: type) -> Any:
    """User classes by code identity; others by module and qualified name.

    One canonical form for every class of installed code, importable or local
    (a script's ``__main__`` under its module name), so running a script
    directly and loading it as ``recyclable run script.py:step`` key its
    classes alike.
    """
    from recyclable.codeid import is_user_code, value_reference

    if is_user_code(cls):
        # User code: by its code identity (methods, attributes, bases).
        return (_CLASS, (value_reference(cls),))
    return (_CLASS, (module_name(cls.__module__), cls.__qualname__))


def _global_reference(obj: Any, name: str) -> Any:
    """An object pickled by reference: its module, name and the version of what provides it."""
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str):
        module = pickle.whichmodule(obj, name)  # type: ignore[attr-defined]
    return (_GLOBAL, (module_name(module), name, provider_version(module)))


def _builtin_handler(func: Any) -> Any:
    """A builtin or C-extension function: by reference, or by its owner and name when bound."""
    owner = getattr(func, "__self__", None)
    if owner is None or isinstance(owner, types.ModuleType):
        return _global_reference(func, func.__qualname__)
    return _reduce_handler(func)  # (getattr, (owner, name)): the owner counts by value


def _union_handler(union: Any) -> Any:
    """``int | None`` (plain pickle refuses it): its members, in their written order."""
    return (_UNION, tuple(union.__args__))


def _path_handler(path: Any) -> Any:
    """A path: its text, and the content of the file or directory it names, when it exists."""
    text = os.fspath(path)
    if not os.path.exists(text):
        return (_PATH, (_type_name(path), text, None))
    return (_PATH, (_type_name(path), text, path_digest(path)))


_BY_REFERENCE = frozenset({_class_handler, _builtin_handler, _union_handler})


def _file_handler(obj: Any) -> Any:
    return (_FILE, (path_digest(obj),))


def path_digest(path: Any) -> bytes:
    """Content digest of an input file or directory, as a FingerprintError when it fails."""
    try:
        return file_digest(path)
    except FileNotFoundError:
        reason = f"input file {os.fspath(path)!r} does not exist"
    except OSError as exc:
        reason = f"input file {os.fspath(path)!r} cannot be read ({exc.strerror or exc})"
    raise FingerprintError([], _type_name(path), reason)


def _protocol_handler(obj: Any) -> Any:
    return (_REGISTERED, (_qualified(type(obj)), _canon(obj.__recyclable_fingerprint__())))


def _function_handler(func: Any) -> Any:
    """A function goes by its code identity: its code and everything it reaches."""
    if func in _MARKERS:
        return NotImplemented
    from recyclable.codeid import value_reference

    return (_FUNCTION, (value_reference(func),))


_BY_REFERENCE = _BY_REFERENCE | {_function_handler}


def _ndarray_handler(arr: Any) -> Any:
    numpy = sys.modules["numpy"]
    dtype = arr.dtype
    descr = repr(numpy.lib.format.dtype_to_descr(dtype))
    if dtype.hasobject:
        return (_OBJECT_NDARRAY, (descr, arr.shape, _canon(arr.tolist())))
    return (_NDARRAY, (descr, arr.shape, array_digest(arr)))


def array_digest(arr: Any) -> bytes:
    """xxh3_128 of an array's bytes in C order, without a full copy for strided arrays."""
    known = _propagated.get(id(arr))
    if known is not None and not arr.flags.writeable and known[0]() is arr:
        return known[1]
    spans = getattr(_local, "spans", None)
    if spans and arr.flags.c_contiguous:
        # Bytes whose xxh3_128 was just taken as a blob's name (`known_buffers`).
        digest: bytes | None = spans.get((arr.__array_interface__["data"][0], arr.nbytes))
        if digest is not None:
            return digest
    numpy = sys.modules["numpy"]
    hasher = xxhash.xxh3_128()
    if arr.flags.c_contiguous:
        hasher.update(arr.reshape(-1).view(numpy.uint8))
    elif arr.ndim == 0:
        hasher.update(numpy.ascontiguousarray(arr).reshape(-1).view(numpy.uint8))
    else:
        row_bytes = max(1, arr[0:1].nbytes)
        step = max(1, _BLOCK_BYTES // row_bytes)
        for start in range(0, arr.shape[0], step):
            block = numpy.ascontiguousarray(arr[start : start + step])
            hasher.update(block.reshape(-1).view(numpy.uint8))
    return hasher.digest()


# --- digest propagation ---------------------------------------------------------------


@contextlib.contextmanager
def known_buffers(buffers: list[Any], digests: list[bytes]) -> Any:
    """While active in this thread, arrays exactly over one of ``buffers`` take its digest.

    Storing a result hashes each out-of-band buffer to name its blob; the
    round-trip check then fingerprints the value twice without hashing
    those bytes again.
    """
    numpy = sys.modules.get("numpy")
    spans: dict[tuple[int, int], bytes] = {}
    if numpy is not None:
        for buffer, digest in zip(buffers, digests, strict=True):
            if buffer.nbytes:
                address = numpy.frombuffer(buffer, dtype=numpy.uint8).__array_interface__["data"][0]
                spans[(address, buffer.nbytes)] = digest
    outer = getattr(_local, "spans", None)
    _local.spans = spans
    try:
        yield
    finally:
        _local.spans = outer


# Arrays loaded read-only from a verified blob, by id: the blob's name is the
# xxh3_128 of exactly the array's C-order bytes, which is the array's digest.
_propagated: dict[int, tuple[weakref.ref[Any], bytes]] = {}
_WALK_DEPTH = 3


def remember_loaded_arrays(value: Any, buffers: list[Any], digests: list[str]) -> None:
    """Attach known digests to the read-only arrays of a value just loaded from blobs.

    Only an array that is exactly a read-only blob (same address and size,
    C-contiguous, not writeable) gets one: nothing can change its bytes, so
    hashing it again when it is passed to the next action would be wasted work.
    Writable values (copy-on-write or in-memory loads, or anything the user
    made) are always hashed.
    """
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return
    spans: dict[tuple[int, int], bytes] = {}
    for buffer, digest in zip(buffers, digests, strict=True):
        if isinstance(buffer, memoryview) and buffer.readonly and buffer.nbytes:
            address = numpy.frombuffer(buffer, dtype=numpy.uint8).__array_interface__["data"][0]
            spans[(address, buffer.nbytes)] = bytes.fromhex(digest)
    if spans:
        _walk_arrays(value, spans, numpy.ndarray, _WALK_DEPTH)


def _walk_arrays(
    value: Any, spans: dict[tuple[int, int], bytes], ndarray: type, depth: int
) -> None:
    cls = type(value)
    if cls is ndarray:
        if value.flags.c_contiguous and not value.flags.writeable:
            digest = spans.get((value.__array_interface__["data"][0], value.nbytes))
            if digest is not None:
                _remember(value, digest)
        return
    if depth == 0:
        return
    if cls is dict:
        items: Any = value.values()
    elif cls is list or cls is tuple:
        items = value
    else:
        return
    for item in items:
        _walk_arrays(item, spans, ndarray, depth - 1)


def _remember(arr: Any, digest: bytes) -> None:
    key = id(arr)

    def forget(_ref: weakref.ref[Any]) -> None:
        _propagated.pop(key, None)

    _propagated[key] = (weakref.ref(arr, forget), digest)


def _library_handler(cls: type) -> _Handler | None:
    from recyclable.handlers import find_handler

    return find_handler(cls)


def _reduce_handler(obj: Any) -> Any:
    try:
        # As pickle does: a reducer registered with copyreg comes first.
        reducer = copyreg.dispatch_table.get(type(obj))
        reduced = reducer(obj) if reducer is not None else obj.__reduce_ex__(5)
    except Exception as exc:  # noqa: BLE001 - the reason is reported to the user
        raise FingerprintError([], _type_name(obj), _pickle_reason(exc)) from None
    if isinstance(reduced, str):
        return _global_reference(obj, reduced)  # a module-level singleton, ufunc, ...
    parts = list(reduced)
    if _local.state.deep and _own_reduction(type(obj)):
        attributes = getattr(obj, "__dict__", None)
        if isinstance(attributes, dict) and attributes:
            while len(parts) < 3:
                parts.append(None)
            parts[2] = (parts[2], attributes)
    if len(parts) > 1:
        parts[1] = _canon(parts[1])
    if len(parts) > 2:
        parts[2] = _canon(parts[2])
    if len(parts) > 3 and parts[3] is not None:
        parts[3] = iter([_canon(item) for item in parts[3]])
    if len(parts) > 4 and parts[4] is not None:
        parts[4] = iter(_canonical_items(dict(parts[4]), _local.state))
    return tuple(parts)


def _own_reduction(cls: type) -> bool:
    """The class reduces itself (so pickling may leave some of its ``__dict__`` out)."""
    return any(
        getattr(cls, name, None) is not getattr(object, name, None)
        for name in ("__reduce_ex__", "__reduce__", "__getstate__")
    )


def _pickle_reason(exc: BaseException) -> str:
    text = str(exc)
    return f"it cannot be pickled ({text})" if text else "it cannot be pickled"


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
