"""Value → digest: a canonical pickling hasher streaming into xxh3_128.

The digest of a value is xxh3_128 over a schema prefix and a protocol-5 pickle
stream written by the C pickler straight into the hasher (no intermediate
bytes).  Before pickling, the value is put into a canonical form where pickle's
own output would depend on something other than the value:

* ``dict`` / ``set`` / ``frozenset`` → their items sorted (natively when all
  keys are ``str``, ``bytes`` or ``int``; otherwise by each element's digest),
  never by the builtin ``hash()`` (which is salted per process for strings).
* numpy arrays → dtype, shape and a digest of the C-order bytes, computed
  from the array's own buffer without a copy when it is C-contiguous.
* functions → module, qualified name and a digest of their bytecode;
  closures are refused (their state is invisible to the key).
* classes → by reference (module and qualified name), local classes too.
* `InputFile` paths → the content of the file or directory (see `recyclable.files`).
* other objects → their ``__reduce_ex__(5)`` output, canonicalised in turn.
* registered types and ``__recyclable_fingerprint__`` → the stand-in value
  they return, tagged with the type's qualified name.
* types of libraries the program has imported (pandas, pyarrow, polars,
  xarray, scipy.sparse, torch, anndata, scikit-bio, numpy's newer dtypes) →
  their handler in `recyclable.handlers`, looked up lazily.

The pickler runs in "fast" mode (no memo), so an object that appears twice
hashes the same as two equal copies.

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
import io
import os
import pickle
import sys
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable
from itertools import chain
from typing import Any

import xxhash

from recyclable.errors import FingerprintError
from recyclable.files import InputFile, file_digest

__all__ = [
    "SCHEMA_VERSION",
    "fingerprint",
    "register_fingerprint",
]

#: Bumped whenever the canonical encoding changes, so an old key can only miss.
SCHEMA_VERSION = 1
_PREFIX = b"recyclable-fingerprint-%d\x00" % SCHEMA_VERSION

_ATOMIC: frozenset[type] = frozenset({int, float, complex, str, bytes, bytearray, bool, type(None)})
# Key types whose native order is total and type-consistent: sorting by value
# is then canonical and costs far less than sorting by digest.
_NATIVE_SORT: frozenset[type] = frozenset({str, bytes, int})
_SEQUENCE_TYPES: frozenset[type] = frozenset({list, tuple})

# A numpy array is hashed in blocks of about this many bytes when it is not
# C-contiguous, so no full-size temporary copy is ever made.
_BLOCK_BYTES = 16 * 1024 * 1024

FingerprintFunc = Callable[[Any], object]
_registry: dict[type, FingerprintFunc] = {}


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
        >>> fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
        True
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
    try:
        return _digest(value)
    except RecursionError:
        raise FingerprintError(
            [], _type_name(value), "it is nested too deeply or contains itself"
        ) from None
    except Exception as exc:
        # Slow path, only on error: walk the value to name the innermost culprit.
        _locate_failure(value, [])
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
        handler = _handler_for(type(obj))
        if handler is None:
            return NotImplemented
        return handler(obj)


def _digest(value: object) -> bytes:
    hasher = xxhash.xxh3_128(_PREFIX)
    pickler = _Pickler(_HashSink(hasher), protocol=5)
    # Fast mode disables the memo: aliasing must not change the digest.
    pickler.fast = True
    try:
        pickler.dump(_canon(value))
    except ValueError as exc:
        if "fast mode" in str(exc):
            raise FingerprintError([], _type_name(value), "it contains itself (a cycle)") from None
        raise
    return hasher.digest()


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
    if cls is list or cls is tuple:
        types = set(map(type, value))
        if types <= _ATOMIC:
            return value
        # A sequence of tuples/lists of atomic values (rows, pairs, ...) is
        # already canonical: check that in C rather than element by element.
        if types <= _SEQUENCE_TYPES and set(map(type, chain.from_iterable(value))) <= _ATOMIC:
            return value
        return cls(map(_canon, value))
    if cls is dict:
        return _Canonical(_DICT, (_canonical_items(value),))
    if cls is set:
        return _Canonical(_SET, (_sorted_elements(value),))
    if cls is frozenset:
        return _Canonical(_FROZENSET, (_sorted_elements(value),))
    # Everything else (numpy arrays, user objects, ...) is handled by the
    # pickler's reducer_override when the pickler reaches it.
    return value


def _canonical_items(mapping: dict[Any, Any]) -> tuple[Any, ...]:
    """A dict's items in canonical order, values canonicalised."""
    key_types = set(map(type, mapping))
    if len(key_types) == 1 and key_types <= _NATIVE_SORT:
        # Keys are distinct, so comparing (key, value) pairs never reaches the values.
        items = sorted(mapping.items())
    else:
        items = sorted(mapping.items(), key=_key_digest)
    if set(map(type, mapping.values())) <= _ATOMIC and key_types <= _ATOMIC:
        return tuple(items)
    return tuple([(_canon(k), _canon(v)) for k, v in items])


def _sorted_elements(elements: Any) -> tuple[Any, ...]:
    items = list(elements)
    types = set(map(type, items))
    if len(types) <= 1 and types <= _NATIVE_SORT:
        items.sort()
        return tuple(items)
    items.sort(key=_digest)
    return tuple(map(_canon, items))


def _key_digest(pair: tuple[Any, Any]) -> bytes:
    return _digest(pair[0])


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
    if cls in (types.FunctionType, types.BuiltinFunctionType):
        return _function_handler if cls is types.FunctionType else None
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


_importable: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()


def _class_handler(cls: type) -> Any:
    """Classes go by reference; one pickle cannot import (a local class) by its name."""
    try:
        importable = _importable[cls]
    except (KeyError, TypeError):
        importable = _is_importable(cls)
        with contextlib.suppress(TypeError):
            _importable[cls] = importable
    if importable:
        return NotImplemented
    return (_CLASS, (cls.__module__, cls.__qualname__))


def _is_importable(cls: type) -> bool:
    target: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        target = getattr(target, part, None)
    return target is cls


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


def _function_handler(func: types.FunctionType) -> Any:
    if func in _MARKERS:
        return NotImplemented
    if func.__closure__:
        raise FingerprintError(
            [],
            _type_name(func),
            f"function {func.__qualname__!r} closes over local variables, "
            "whose values the key cannot see; make it a module-level function",
        )
    defaults = _canon(func.__defaults__)
    kwdefaults = _canon(func.__kwdefaults__)
    return (
        _FUNCTION,
        (func.__module__, func.__qualname__, code_digest(func.__code__), defaults, kwdefaults),
    )


def code_digest(code: types.CodeType) -> bytes:
    """Digest of a code object's behaviour: bytecode, constants and names, not line numbers."""
    hasher = xxhash.xxh3_128()
    _feed_code(hasher, code)
    return hasher.digest()


def _feed_code(hasher: xxhash.xxh3_128, code: types.CodeType) -> None:
    hasher.update(code.co_code)
    hasher.update(
        repr(
            (
                code.co_names,
                code.co_varnames,
                code.co_freevars,
                code.co_cellvars,
                code.co_argcount,
                code.co_kwonlyargcount,
                code.co_posonlyargcount,
                code.co_flags,
            )
        ).encode()
    )
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _feed_code(hasher, const)
        else:
            hasher.update(fingerprint(const, where="constant"))


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
        reduced = obj.__reduce_ex__(5)
    except Exception as exc:  # noqa: BLE001 - the reason is reported to the user
        raise FingerprintError([], _type_name(obj), _pickle_reason(exc)) from None
    if isinstance(reduced, str):
        return NotImplemented  # a global reference (module-level singleton)
    parts = list(reduced)
    if len(parts) > 1:
        parts[1] = _canon(parts[1])
    if len(parts) > 2:
        parts[2] = _canon(parts[2])
    if len(parts) > 3 and parts[3] is not None:
        parts[3] = iter([_canon(item) for item in parts[3]])
    if len(parts) > 4 and parts[4] is not None:
        items = list(parts[4])
        if not isinstance(obj, OrderedDict):
            items = list(_canonical_items(dict(items)))
        else:
            items = [(_canon(k), _canon(v)) for k, v in items]
        parts[4] = iter(items)
    return tuple(parts)


def _pickle_reason(exc: BaseException) -> str:
    text = str(exc)
    return f"it cannot be pickled ({text})" if text else "it cannot be pickled"


# --- locating a failure inside a value (slow path, only on error) ---------------------


def _locate_failure(value: Any, path: list[str]) -> None:
    """Raise a FingerprintError naming the innermost part of ``value`` that fails, if any."""
    for label, child in _children(value):
        try:
            _digest(child)
        except Exception as exc:  # noqa: BLE001 - narrowed down recursively
            _locate_failure(child, [*path, label])
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
