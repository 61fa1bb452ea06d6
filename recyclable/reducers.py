"""How objects the fingerprint's pickler hands to its hook are keyed: one handler per kind.

The C pickler writes atoms, dicts, lists, tuples and sets itself; everything
else reaches ``reducer_override``, which asks `_handler_for` the object's type
(cached per type): registered types and ``__recyclable_fingerprint__`` by their
stand-in, functions and user classes by their code identity, library types
by their handler in `recyclable.handlers`, paths by content, numpy arrays by
their bytes, builtins and module-level singletons by reference (with the
providing distribution's version), anything else by its reduction
(``copyreg.dispatch_table`` first, as pickle does), canonicalised.
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import sys
import types
import weakref
from collections.abc import Callable
from typing import Any

import wrapt

from recyclable.arraydigest import array_digest
from recyclable.canonical import (
    _CLASS,
    _FILE,
    _FUNCTION,
    _GLOBAL,
    _MAPPING_PROXY,
    _MARKERS,
    _MEMORYVIEW,
    _METHOD_WRAPPER,
    _NDARRAY,
    _OBJECT_NDARRAY,
    _PATH,
    _REGISTERED,
    _UNION,
    _USER_TYPE,
    _WEAK,
    _canon,
    _Canonical,
    _canonical_items,
    _local,
)
from recyclable.entrypoint import module_name
from recyclable.errors import FingerprintError
from recyclable.files import InputFile, file_digest
from recyclable.libref import provider_version

__all__ = ["path_digest"]

FingerprintFunc = Callable[[Any], object]
_registry: dict[type, FingerprintFunc] = {}
# The base of every wrapt proxy (wrapt 2 puts a Python ObjectProxy above it).
_WRAPT_PROXY: type = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)

_Handler = Callable[[Any], Any]
_handler_cache: dict[type, _Handler | None] = {}


def _handler_for(cls: type) -> _Handler | None:
    try:
        return _handler_cache[cls]
    except KeyError:
        handler = _find_handler(cls)
        if handler is not None and (
            getattr(handler, "standin", False) or getattr(handler, "keys_whole", False)
        ):
            handler = _with_user_class(cls, handler)
        _handler_cache[cls] = handler
        return handler


def _with_user_class(cls: type, handler: _Handler) -> _Handler:
    """A stand-in handler of a user class: the class's code counts beside the stand-in.

    A library's handler (a user subclass of ``pd.Series``), a registered
    function or ``__recyclable_fingerprint__`` say what an instance holds, not
    what its methods do: a step calling ``s.scale()`` gives another result
    once ``scale`` is edited, so a user class is keyed by its code identity
    too, as an object reduced through its state is.
    """
    from recyclable.codeid import is_user_code

    if not is_user_code(cls):
        return handler

    def keyed(obj: Any) -> Any:
        return (_USER_TYPE, (type(obj), _Canonical(*handler(obj))))

    keyed.keys_whole = getattr(handler, "keys_whole", False)  # type: ignore[attr-defined]
    return keyed


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
    if cls is types.MappingProxyType:
        return _mapping_proxy_handler
    if cls is memoryview:
        return _memoryview_handler
    if issubclass(cls, _WEAK_TYPES):
        return _weak_handler
    if cls is staticmethod or cls is classmethod:
        return _method_wrapper_handler
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

    handler.standin = True  # type: ignore[attr-defined]
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


def _mapping_proxy_handler(proxy: Any) -> Any:
    """A read-only view of a mapping (a dataclass field's metadata): its items, in order."""
    return (_MAPPING_PROXY, (_canon(dict(proxy)),))


# Weak references and containers (registries of instances or subclasses): by what
# they hold now.  Pickle refuses them; a step reading ``ref()`` or ``reg["a"]``
# gets those objects, so they count as the objects (a referent gone since is a
# miss, never a wrong hit).
_WEAK_TYPES = (weakref.ref, weakref.WeakValueDictionary, weakref.WeakKeyDictionary, weakref.WeakSet)


def _weak_handler(obj: Any) -> Any:
    """A weak reference by its referent; a weak container by its live items, in order."""
    if isinstance(obj, weakref.ref):
        held: Any = obj()  # a WeakMethod gives its bound method back
    elif isinstance(obj, weakref.WeakSet):
        held = set(obj)
    else:
        held = dict(obj.items())
    return (_WEAK, (_type_name(obj), _canon(held)))


def _method_wrapper_handler(wrapper: Any) -> Any:
    """A staticmethod or classmethod object (``{"a": staticmethod(f)}``): its function."""
    return (_METHOD_WRAPPER, (type(wrapper).__name__, wrapper.__func__))


def _memoryview_handler(view: memoryview) -> Any:
    """A memoryview (plain pickle refuses it): format, shape, writability and C-order bytes."""
    return (_MEMORYVIEW, (view.format, view.itemsize, view.shape, view.readonly, view.tobytes()))


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


_protocol_handler.standin = True  # type: ignore[attr-defined]


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
    order = None if _local.state.deep else _memory_order(arr)
    if order is not None:
        return (_NDARRAY, (descr, arr.shape, array_digest(arr), order))
    return (_NDARRAY, (descr, arr.shape, array_digest(arr)))


def _memory_order(arr: Any) -> tuple[int, ...] | None:
    """The axes from slowest to fastest in memory for a Fortran-ordered array; else None.

    numpy's reductions walk an array in memory order, so ``a.sum()`` of a
    Fortran-ordered array and of its C-ordered copy can round differently:
    equal bytes in C order are not one value to a step.  Only a contiguous
    Fortran layout counts: pickling keeps it, so a re-run loads the same
    layout the first run handed on.  A strided view is pickled as its
    C-ordered copy, so it is keyed as that copy: keyed by its own layout, the
    step it feeds would miss on every re-run, where it is given the copy.
    (Not in the state check of a stored result either.)
    """
    flags = arr.flags
    if arr.ndim < 2 or flags.c_contiguous or not flags.f_contiguous:
        return None
    return tuple(axis for axis, size in reversed(list(enumerate(arr.shape))) if size > 1)


def _library_handler(cls: type) -> _Handler | None:
    from recyclable.handlers import find_handler

    return find_handler(cls)


def _reduce_handler(obj: Any) -> Any:
    own = _own_reduction(type(obj))
    # Read before reducing: reading ``__dict__`` creates it where it is made
    # lazily (exceptions, ``functools.partial``), and their reductions carry
    # it once it exists, so reading it after would change the next digest.
    attributes = getattr(obj, "__dict__", None) if own else None
    try:
        # As pickle does: a reducer registered with copyreg comes first.
        reducer = copyreg.dispatch_table.get(type(obj))
        reduced = reducer(obj) if reducer is not None else obj.__reduce_ex__(5)
    except Exception as exc:  # noqa: BLE001 - the reason is reported to the user
        raise FingerprintError([], _type_name(obj), _pickle_reason(exc)) from None
    if isinstance(reduced, str):
        return _global_reference(obj, reduced)  # a module-level singleton, ufunc, ...
    parts = list(reduced)
    if own and isinstance(attributes, dict) and attributes:
        while len(parts) < 3:
            parts.append(None)
        if _local.state.deep:
            parts[2] = (parts[2], attributes)
        elif not _all_in_state(attributes, parts[2]):
            parts[2] = (parts[2], _left_out_digest(attributes))
    if len(parts) > 1:
        parts[1] = _canon(parts[1])
    if len(parts) > 2:
        parts[2] = _canon(parts[2])
    if len(parts) > 3 and parts[3] is not None:
        parts[3] = iter([_canon(item) for item in parts[3]])
    if len(parts) > 4 and parts[4] is not None:
        parts[4] = iter(_canonical_items(dict(parts[4]), _local.state))
    return tuple(parts)


def _all_in_state(attributes: dict[str, Any], state: Any) -> bool:
    """Whether a reduction's state holds every attribute as it is (most ``__getstate__``)."""
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
        state = state[0]  # (__dict__, slots), as object.__reduce_ex__ gives it
    if not isinstance(state, dict):
        return False
    missing = object()
    return all(state.get(name, missing) is value for name, value in attributes.items())


def _left_out_digest(attributes: dict[str, Any]) -> bytes | None:
    """The digest of an object's attributes when its own reduction leaves some out.

    ``__getstate__`` returning ``{"a": self.a}`` keys ``Obj(1, 2)`` and
    ``Obj(1, 3)`` alike, yet a step reading ``obj.b`` tells them apart: the
    attributes count too.  When they cannot be fingerprinted (a lock, a
    connection: what such a reduction usually exists to leave out), the
    reduction alone keys the object, as it says.
    """
    from recyclable.fingerprint import _run

    try:
        return _run(attributes, _local.state.ordered)[0]
    except FingerprintError:
        return None


def _own_reduction(cls: type) -> bool:
    """The class reduces itself (so pickling may leave some of its ``__dict__`` out)."""
    return any(
        getattr(cls, name, None) is not getattr(object, name, None)
        for name in ("__reduce_ex__", "__reduce__", "__getstate__")
    )


def _pickle_reason(exc: BaseException) -> str:
    text = str(exc)
    return f"it cannot be pickled ({text})" if text else "it cannot be pickled"
