"""Classes and modules reached by the code walk (`recyclable.codewalk`): what each contributes.

A class counts by its bases, its metaclass, the virtual subclasses registered
on it and every attribute of its own ``__dict__`` (descriptors by the
functions they hold), leaving out the private caches a library base keeps on
a user subclass.  A module walked whole counts by every attribute but its
dunders, keeping the hooks that change how attributes behave.  These are
`recyclable.codewalk.Walker`'s methods, kept here so each module stays small.
"""

from __future__ import annotations

import functools
import types
from typing import TYPE_CHECKING, Any

import xxhash

from recyclable.codekinds import CLASS_SKIP, abc_registered, followed
from recyclable.codenames import is_user_code, qualified_name

if TYPE_CHECKING:
    from recyclable.codewalk import Walker

__all__ = ["class_digest", "module_digest"]


def class_digest(self: Walker, cls: type, name: str) -> bytes:
    """A class's part: its bases, metaclass, virtual subclasses and every attribute."""
    self.texts.append(cls)
    refs = [self.reach(base, qualified_name(base)) for base in cls.__bases__]
    binary = self._binary(cls.__module__)
    if binary is not None:  # a type defined in C: its methods are in the binary
        refs.append(binary)
    if type(cls) is not type:
        refs.append("meta=" + self.reach(type(cls), qualified_name(type(cls))))
    members = cls.__dict__
    if "_abc_impl" in members:
        # Classes registered as virtual subclasses (Base.register(Impl), maybe in
        # another module) change what isinstance() answers.
        refs.extend(
            "registered " + self.reach(other, qualified_name(other))
            for other in abc_registered(cls)
        )
    self.keep.append(members)
    # An attribute added later (a method that now shadows a base's) is a change too.
    self.class_dicts.append(members)
    path = name.partition(" ")[2]
    private = _library_privates(cls)
    for attr, value in members.items():
        if attr in CLASS_SKIP or attr.startswith(private):
            continue
        self._guard(members, attr, value)
        refs.append(f"{attr}=" + _member(self, value, f"{path}.{attr}"))
    return xxhash.xxh3_128_digest("\x00".join(refs).encode())


def _member(self: Walker, value: Any, path: str) -> str:
    """A class attribute's reference: descriptors by the functions they hold."""
    if isinstance(value, (staticmethod, classmethod)):
        return f"{type(value).__name__} " + self.reach(value.__func__, path)
    if isinstance(value, property):
        return "property " + " ".join(
            self.reach(part, path) if part is not None else "-"
            for part in (value.fget, value.fset, value.fdel)
        )
    if isinstance(value, functools.cached_property):
        return "cached_property " + self.reach(value.func, path)
    if followed(value):
        return self.reach(value, path)
    return self._value(value, path, "attribute")


def module_digest(self: Walker, module: types.ModuleType, name: str) -> bytes:
    """A module walked whole: every attribute but dunders (hooks like ``__getattr__`` kept)."""
    members = module.__dict__
    binary = self._binary(module.__name__)
    refs = [] if binary is None else [binary]
    prefix = name.partition(" ")[2]
    for attr in sorted(members):
        if attr.startswith("__") and attr.endswith("__") and attr not in _MODULE_HOOKS:
            continue
        value = members[attr]
        self._guard(members, attr, value)
        refs.append(f"{attr}=" + self.reach(value, f"{prefix}.{attr}"))
    return xxhash.xxh3_128_digest("\x00".join(refs).encode())


# Module dunders that make attributes behave (PEP 562): kept when a whole module
# is walked, unlike its import attributes, docstring and builtins.
_MODULE_HOOKS = frozenset({"__getattr__", "__dir__"})


def _library_privates(cls: type) -> tuple[str, ...]:
    """Prefixes of the private names library bases keep on a user subclass.

    ``_GrammaredSequence__validation_mask``: a library's code stores its own
    caches under names mangled for its class, on whichever subclass it meets
    (filled on first use, so keying them would change a key by reading a value).
    """
    return tuple(
        f"_{base.__name__.lstrip('_')}__"
        for base in cls.__mro__[1:]
        if base is not object and not is_user_code(base)
    )
