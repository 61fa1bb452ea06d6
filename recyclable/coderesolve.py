"""How the names a user function uses resolve, for `recyclable.codewalk`.

A global name (or a builtin), an attribute chain through user modules
(``util.trim``, ``pkg.util.trim``), an import made inside the function, and a
string constant naming a global or a loaded user module each resolve to the
object they name now; every namespace entry read on the way is guarded (see
`Walker._guard`), so rebinding it later is a new key, and a name looked up but
absent (a builtin that a global could later shadow) is guarded as absent.
"""

from __future__ import annotations

import os
import sys
import types
from typing import TYPE_CHECKING, Any, cast

from recyclable.bytecode import const_digest
from recyclable.codekinds import MISSING, is_environment, package_children, submodule
from recyclable.codenames import module_display_name
from recyclable.distinfo import module_origin

if TYPE_CHECKING:
    from recyclable.codewalk import Walker

__all__ = ["named_by", "resolve_chain", "resolve_import"]

_MODULE_DUNDERS = frozenset(
    {"__file__", "__name__", "__spec__", "__loader__", "__cached__", "__package__", "__path__"}
)

_STATE_TYPES = frozenset({int, float, complex, str, bytes, bool})


def named_by(
    walker: Walker,
    func: types.FunctionType,
    namespace: dict[str, Any],
    module: str,
    text: str,
    info: Any,
) -> str | None:
    """What a string constant names, if anything: a global of the module, or a user module.

    A dotted prefix (``"pkg.plugins."``, the constant part of
    ``f"pkg.plugins.{kind}"``) names every module of that user package: one
    of them is imported by a name built at run time.
    """
    if text in namespace and text.isidentifier():
        return resolve_chain(walker, func, namespace, module, (text,), info)
    if text.endswith(".") and all(map(str.isidentifier, text[:-1].split("."))):
        children = package_children(text[:-1])
        if children:
            return " ".join(walker.reach(child, child.__name__) for child in children)
        return None
    if text in ("__main__", "__mp_main__") or not all(map(str.isidentifier, text.split("."))):
        return None
    found = sys.modules.get(text)
    if isinstance(found, types.ModuleType) and module_origin(text).kind == "user":
        return walker.reach(found, text)
    return None


def resolve_chain(
    walker: Walker,
    func: types.FunctionType,
    namespace: dict[str, Any],
    module: str,
    attrs: tuple[str, ...],
    info: Any,
) -> str:
    """What a global name, or an attribute chain through user modules, refers to (guarded)."""
    first = attrs[0]
    if first in info.stores:
        # Not revalidated (a counter would make every call a miss), but keyed
        # by a number's or string's value when first needed: in a fresh
        # process that is the module's initial value, which an edit changes.
        value = namespace.get(first, MISSING)
        name = f"state {module}.{first}"
        if type(value) in _STATE_TYPES and name not in walker.parts:
            walker.parts[name] = const_digest(value)
        return walker._fixed(name, "written by the step")
    if first in _MODULE_DUNDERS:
        # Where the module was loaded from and under which name: keying them
        # would tie keys to a directory, or tell `python pipeline.py` from
        # `import pipeline`.
        return f"module attribute {first}"
    value = namespace.get(first, MISSING)
    if value is MISSING:
        walker._guard_absent(namespace, first)
        builtins = cast("Any", func).__builtins__
        value = builtins.get(first, MISSING)
        if value is MISSING:
            return "unbound"
        walker._guard(builtins, first, value)
        return walker.reach(value, f"builtins.{first}")
    walker._guard(namespace, first, value)
    path = f"{module}.{first}"
    for attr in attrs[1:]:
        if not isinstance(value, types.ModuleType) or module_origin(value.__name__).kind != "user":
            if value is os and is_environment(getattr(os, attr, None)):
                walker._environment(path)
            break
        members = value.__dict__
        found = members.get(attr, MISSING)
        if found is MISSING:
            walker._guard_absent(members, attr)
            found = getattr(value, attr, MISSING)  # a module __getattr__
            if found is MISSING:
                return f"unbound {attr} of " + walker.reach(value, path)
        else:
            walker._guard(members, attr, found)
        path = f"{module_display_name(value.__name__)}.{attr}"
        value = found
    return walker.reach(value, path)


def resolve_import(
    walker: Walker, func: types.FunctionType, target: str, level: int, names: tuple[str, ...]
) -> str:
    """What an import inside a function brings in (the module imported now, as the step would)."""
    package = func.__globals__.get("__package__") or ""
    if level:
        base = package.rsplit(".", level - 1)[0] if level > 1 else package
        target = f"{base}.{target}" if target else base
    module = sys.modules.get(target)
    if module is None:
        try:
            import importlib

            module = importlib.import_module(target)
        except Exception:  # noqa: BLE001 - the step itself will raise it when it runs
            return f"unimportable {target}"
    refs = [walker.reach(module, target)]
    for attr in names:
        value = getattr(module, attr, MISSING)
        if value is MISSING:
            value = submodule(f"{target}.{attr}")
        if value is not MISSING:
            refs.append(f"{attr}=" + walker.reach(value, f"{module_display_name(target)}.{attr}"))
    return " ".join(refs)
