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
import re
import sys
import types
from typing import TYPE_CHECKING, Any, cast

from recyclable.bytecode import const_digest
from recyclable.codekinds import (
    MISSING,
    PACKAGE_FILES_REASON,
    has_user_registrations,
    is_environment,
    package_children,
    reads_package_files,
    submodule,
    user_code_value,
)
from recyclable.codenames import module_display_name, qualified_name
from recyclable.distinfo import module_origin
from recyclable.handlers import registered_code

if TYPE_CHECKING:
    from recyclable.codewalk import Walker

__all__ = ["named_by", "names_read", "resolve_chain", "resolve_import"]

_MODULE_DUNDERS = frozenset(
    {"__file__", "__name__", "__spec__", "__loader__", "__cached__", "__package__", "__path__"}
)

_STATE_TYPES = frozenset({int, float, complex, str, bytes, bool})


def names_read(
    walker: Walker, func: types.FunctionType, namespace: dict[str, Any], module: str, info: Any
) -> list[str]:
    """References to code a function reaches by name other than a global chain or an import.

    Strings (`named_by`), attribute names that name user code of its module,
    read off an object the walk cannot follow (``sys.modules[__name__].helper``),
    and accessor classes registered on a library's types (``df.geo``).
    Following what a name names can only make the key cover more.
    """
    refs = []
    for text in info.strings:
        found = named_by(walker, func, namespace, module, text, info)
        if found is not None:
            refs.append(f"string {text!r}=" + found)
    heads = {chain[0] for chain in info.chains}
    for attr in info.attributes:
        if attr not in heads and user_code_value(namespace.get(attr, MISSING)):
            found = resolve_chain(walker, func, namespace, module, (attr,), info)
            refs.append(f"attribute name {attr}=" + found)
    for attr, types_namespace, entry, accessor in registered_code(info.attributes):
        walker._guard(types_namespace, attr, entry)  # registered again: a new key
        refs.append(f"registered {attr}=" + walker.reach(accessor, qualified_name(accessor)))
    return refs


def named_by(
    walker: Walker,
    func: types.FunctionType,
    namespace: dict[str, Any],
    module: str,
    text: str,
    info: Any,
) -> str | None:
    """What a string constant names, if anything: a global of the module, or a user module.

    Else user code of the module the string mentions (`_code_named_in`).  A
    dotted prefix (``"pkg.plugins."``, the constant part of
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
        return _code_named_in(walker, func, namespace, module, text, info)
    found = sys.modules.get(text)
    if isinstance(found, types.ModuleType) and module_origin(text).kind == "user":
        return walker.reach(found, text)
    return _code_named_in(walker, func, namespace, module, text, info)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _code_named_in(
    walker: Walker,
    func: types.FunctionType,
    namespace: dict[str, Any],
    module: str,
    text: str,
    info: Any,
) -> str | None:
    """User code of the module that a string mentions, or whose name it begins.

    ``eval("helper(x) + 1")`` runs ``helper``; ``globals()["op_" + kind]``
    (or ``f"op_{kind}"``) runs one of the ``op_...`` functions.  Only code is
    followed this way (a function, class or module of user code), never data
    a word of a message happens to name.
    """
    refs = []
    for dotted in dict.fromkeys(_DOTTED.findall(text)):
        attrs = tuple(dotted.split("."))
        value = namespace.get(attrs[0], MISSING)
        # A module named alone ("see util") is a word, not code run: only a
        # dotted use ("util.f(x)") follows it, and only as far as it is written.
        if user_code_value(value) and (len(attrs) > 1 or not isinstance(value, types.ModuleType)):
            refs.append(resolve_chain(walker, func, namespace, module, attrs, info))
    if text.endswith("_") and _IDENTIFIER.fullmatch(text.rpartition(" ")[2]):
        prefix = text.rpartition(" ")[2]
        for name in sorted(namespace):
            if name.startswith(prefix) and name != prefix and user_code_value(namespace[name]):
                refs.append(resolve_chain(walker, func, namespace, module, (name,), info))
    return " ".join(refs) if refs else None


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
    if first == "__file__":  # data found beside the code: not in a key, but named
        walker.unkeyed_source("unkeyed package files", PACKAGE_FILES_REASON, module)
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
    used = 1  # how much of the chain names modules, then the value itself
    for attr in attrs[1:]:
        if not isinstance(value, types.ModuleType) or module_origin(value.__name__).kind != "user":
            if value is os and is_environment(getattr(os, attr, None)):
                walker._environment(path)
            elif isinstance(value, types.ModuleType):
                member = value.__dict__.get(attr)
                if reads_package_files(member):  # importlib.resources, pkgutil.get_data
                    walker.unkeyed_source("unkeyed package files", PACKAGE_FILES_REASON, path)
                tables = module_origin(value.__name__).kind == "dist"
                if has_user_registrations(member, tables):  # reglib.describe, numbers.Number
                    library = walker.reach(value, path)
                    return library + " " + walker.reach(member, f"{value.__name__}.{attr}")
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
        used += 1
    if info.changes and any(change[:used] == attrs[:used] for change in info.changes):
        walker.unwatch(value)  # the step's own state (RUNS.append), as a global it assigns
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
