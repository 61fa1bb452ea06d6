"""What an object reached by the code walk is: the classification helpers of `recyclable.codewalk`.

Which namespace entries describe rather than make behave, what counts as a
builtin-like callable, how environment access, a library's importable
callable, a wrapper and a method's owning class are recognised.  Pure
functions of the object, so the walk itself stays one work list.
"""

from __future__ import annotations

import functools
import os
import sys
import types
from itertools import chain
from typing import Any

from recyclable.codenames import is_user_code
from recyclable.distinfo import module_origin

__all__ = [
    "CLASS_SKIP",
    "ENVIRONMENT_REASON",
    "FUNCTION_LIKE",
    "FUNCTION_SKIP",
    "MISSING",
    "PACKAGE_FILES_REASON",
    "abc_registered",
    "followed",
    "has_user_registrations",
    "holds_user_code",
    "is_environment",
    "library_name",
    "owner_class",
    "package_children",
    "reads_package_files",
    "registrations_in",
    "submodule",
    "user_code_value",
    "user_registry",
    "wrapped_of",
    "wrapt_proxy",
]

MISSING = object()
# Namespace entries that describe a class rather than make it behave.  Not
# among them: ``__annotations__`` (typing.get_type_hints, pydantic and
# TypedDict read them) and ``__dataclass_fields__`` (dataclasses.fields() gives
# each field's metadata to code that reads it).
CLASS_SKIP = frozenset(
    {
        "__doc__",
        "__module__",
        "__qualname__",
        "__dict__",
        "__weakref__",
        "__firstlineno__",
        "__static_attributes__",
        "__annotate__",
        "__orig_bases__",
        "__parameters__",
        "_abc_impl",
        "__slotnames__",  # copyreg's cache, added to a class when an instance is first pickled
    }
)
# Function attributes that are not the function's behaviour: ``__wrapped__`` is
# followed on its own; ``__recyclable__`` is a step's spec, whose cached key
# state changes as the step runs.
FUNCTION_SKIP = frozenset({"__wrapped__", "__recyclable__"})
FUNCTION_LIKE = (
    types.BuiltinFunctionType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
)


def submodule(name: str) -> Any:
    """``from pkg import sub`` run by the step: the submodule, imported now if need be.

    The step imports it when it runs; the key is made before, so it is
    imported here (what the step would do) rather than left out.
    """
    found = sys.modules.get(name)
    if found is None:
        try:
            import importlib

            found = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - not a module: the step's import will say why
            return MISSING
    return found


def package_children(name: str) -> list[types.ModuleType]:
    """The modules directly inside user package ``name``, imported now if need be.

    A step importing ``f"pkg.plugins.{kind}"`` imports one of them when it
    runs; which one is known only then, so the key covers them all.
    """
    top = name.partition(".")[0]
    if top not in sys.modules or module_origin(top).kind != "user":
        return []  # never import a module the program has not started importing
    package = submodule(name)
    path = getattr(package, "__path__", None)
    if path is None or module_origin(name).kind != "user":
        return []
    import pkgutil

    found = []
    for info in sorted(pkgutil.iter_modules(path), key=lambda info: info.name):
        child = submodule(f"{name}.{info.name}")
        if isinstance(child, types.ModuleType):
            found.append(child)
    return found


ENVIRONMENT_REASON = (
    "environment variables are not in a key; pass the value as an argument, "
    "or pin @recyclable(version=...)"
)


PACKAGE_FILES_REASON = (
    "files found from a module (__file__, importlib.resources, pkgutil.get_data) are not in "
    "a key; pass them as an InputFile or with files=[...], or pin @recyclable(version=...)"
)


def reads_package_files(obj: Any) -> bool:
    """Whether ``obj`` is how code finds data files of a package (importlib.resources)."""
    name: Any
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    elif callable(obj):
        name = getattr(obj, "__module__", None)
        if getattr(obj, "__qualname__", None) == "get_data" and name == "pkgutil":
            return True
    else:
        return False
    return isinstance(name, str) and (
        name == "importlib.resources" or name.startswith("importlib.resources.")
    )


def is_environment(obj: Any) -> bool:
    """Whether ``obj`` is how code reads environment variables (os.environ, os.getenv)."""
    return obj is not None and any(
        obj is getattr(os, name, None) for name in ("environ", "environb", "getenv", "getenvb")
    )


def library_name(obj: Any) -> str | None:
    """The module of an installed library's callable that is importable by its name, if any."""
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str) or not callable(obj) or is_user_code(type(obj)):
        return None
    for module in (getattr(obj, "__module__", None), type(obj).__module__):
        if (
            isinstance(module, str)
            and getattr(sys.modules.get(module), name, None) is obj
            and module_origin(module).kind != "user"
        ):
            return module
    return None


def wrapped_of(obj: Any) -> Any:
    """What a wrapper object wraps (``__wrapped__``), or None."""
    try:
        wrapped = obj.__wrapped__
    except Exception:  # noqa: BLE001 - any object: a missing or failing attribute is "none"
        return None
    return wrapped if callable(wrapped) and wrapped is not obj else None


def followed(value: Any) -> bool:
    """Whether a value is code to follow (not data to fingerprint)."""
    return (callable(value) and not isinstance(value, functools.partial)) or isinstance(
        value, types.ModuleType
    )


def user_code_value(value: Any) -> bool:
    """Whether a namespace entry is user code: a function, class or module to follow."""
    if isinstance(value, types.ModuleType):
        return module_origin(value.__name__).kind == "user"
    if isinstance(value, type):
        # A compiled class whose module name no distribution claims (Cython's
        # ``_cyutility``, loaded from inside pandas) only looks like user code.
        module = value.__module__
        if not isinstance(module, str):
            return True
        file = getattr(sys.modules.get(module), "__file__", None)
        compiled = isinstance(file, str) and not file.endswith(".py")
        return is_user_code(value) and module in sys.modules and not compiled
    return isinstance(value, types.FunctionType) and is_user_code(value)


def abc_registered(cls: type) -> list[type]:
    """The classes registered on an ABC as virtual subclasses, by qualified name."""
    import abc

    try:
        registry = abc._get_dump(cls)[0]  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # not an ABC, or another Python's abc
        return []
    found = [ref() for ref in registry]
    return sorted(
        (c for c in found if isinstance(c, type)),
        key=lambda c: f"{c.__module__}.{c.__qualname__}",
    )


def has_user_registrations(obj: Any, tables: bool) -> bool:
    """Whether a library's function, class or container has user code registered in it.

    ``tables``: whether containers count (an installed library's plugin
    tables; not the standard library's, where ``sys.meta_path`` holds an
    editable install's finder).
    """
    if isinstance(obj, type):
        if "_abc_impl" in obj.__dict__ and any(map(user_code_value, abc_registered(obj))):
            return True
        return tables and any(map(holds_user_code, obj.__dict__.values()))
    return user_registry(obj) is not None or (tables and holds_user_code(obj))


_CONTAINERS = (dict, list, tuple, set, frozenset)
# Per library module (held, so its id stays unique): its globals holding user code,
# found while sys.modules had this many modules (an import may register more).
_registrations: dict[int, tuple[types.ModuleType, list[tuple[str, Any]]]] = {}
_registrations_at = [0]


def registrations_in(module: types.ModuleType) -> list[tuple[str, Any]]:
    """A library module's globals that hold user code: plugin tables, dispatch functions, ABCs.

    The library's own functions may consult them (``lib.run("fast")`` looking
    ``fast`` up in ``lib.PLUGINS``), so a step reaching the library reaches
    them too.  Looked at again after any module was imported (registering
    usually happens on import); user code registered into a library by a call
    made later is not seen.
    """
    if len(sys.modules) != _registrations_at[0]:
        _registrations.clear()
        _registrations_at[0] = len(sys.modules)
    found = _registrations.get(id(module))
    if found is not None and found[0] is module:
        return found[1]
    held = []
    for attr, value in list(module.__dict__.items()):
        if isinstance(value, type):
            if "_abc_impl" in value.__dict__ and any(map(user_code_value, abc_registered(value))):
                held.append((attr, value))
        elif holds_user_code(value) or (
            isinstance(value, types.FunctionType) and user_registry(value) is not None
        ):
            held.append((attr, value))
    held.sort(key=lambda pair: pair[0])
    _registrations[id(module)] = (module, held)
    return held


def holds_user_code(value: Any) -> bool:
    """Whether a container holds user code directly (a library's plugin registry)."""
    if not isinstance(value, _CONTAINERS):
        return False
    items = chain(value.keys(), value.values()) if isinstance(value, dict) else value
    # Functions and classes, not modules: sys.modules holds every user module.
    return any(
        isinstance(item, (types.FunctionType, type)) and user_code_value(item) for item in items
    )


def user_registry(func: Any) -> types.MappingProxyType[Any, Any] | None:
    """A library ``singledispatch`` function's registry when user code is registered on it."""
    registry = getattr(func, "__dict__", {}).get("registry")
    if isinstance(registry, types.MappingProxyType) and any(
        user_code_value(item) for pair in registry.items() for item in pair
    ):
        return registry
    return None


def owner_class(func: types.FunctionType) -> type | None:
    """The class a method is defined in, from its qualified name (``self.x()`` is reached)."""
    qualname = func.__qualname__
    if "." not in qualname or "<locals>" in qualname:
        return None
    target: Any = sys.modules.get(func.__module__ or "")
    for part in qualname.split(".")[:-1]:
        target = getattr(target, part, None)
    return target if isinstance(target, type) else None


_proxy_type: Any = None


def wrapt_proxy() -> Any:
    """The proxy base class of wrapt (decorated functions), imported on first use."""
    global _proxy_type  # noqa: PLW0603 - resolved once, wrapt is a dependency
    if _proxy_type is None:
        import wrapt

        _proxy_type = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)
    return _proxy_type
