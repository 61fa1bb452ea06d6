"""The walk behind `recyclable.codeid`: from one callable to every part it reaches.

Breadth first over a work list, by identity, so cycles (mutual recursion, a
class whose methods name it) end and nothing is cut off at a depth or count.
Each reached object is classified (user function, class or module; code of an
installed distribution or the standard library; a value) and gets a reference
that the parts reaching it hash, so a change shows in the part that changed.
"""

from __future__ import annotations

import functools
import logging
import os
import types
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

import xxhash

from recyclable.bytecode import code_info, const_digest
from recyclable.codeclasses import class_digest, module_digest
from recyclable.codekinds import (
    ENVIRONMENT_REASON,
    FUNCTION_LIKE,
    FUNCTION_SKIP,
    MISSING,
    PACKAGE_FILES_REASON,
    abc_registered,
    followed,
    holds_user_code,
    is_environment,
    library_name,
    owner_class,
    reads_package_files,
    registrations_in,
    user_code_value,
    user_registry,
    wrapped_of,
    wrapt_proxy,
)
from recyclable.codenames import is_user_code, module_display_name, origin_of, qualified_name
from recyclable.coderesolve import names_read, resolve_chain, resolve_import
from recyclable.codetext import text_parts, text_reads
from recyclable.distinfo import Origin, extension_digest, module_origin, python_identity
from recyclable.errors import FingerprintError
from recyclable.valuememo import first_digest, is_state, mark_state, remember_digest
from recyclable.valuewatch import is_frozen

__all__ = ["Walker"]

logger = logging.getLogger("recyclable")


class Walker:
    """One walk over what a callable reaches (breadth first, by identity)."""

    def __init__(self, bound: Any = None) -> None:
        self.bound = bound
        self.reached = 0
        self.parts: dict[str, bytes] = {}
        self.refs: dict[int, str] = {}
        self.keep: list[Any] = []  # keeps reached objects alive, so ids stay unique
        self.todo: deque[tuple[Callable[[Any, str], bytes], Any, str]] = deque()
        self.unkeyed: list[tuple[str, str]] = []
        self.dict_guards: dict[int, tuple[Mapping[Any, Any], dict[Any, Any]]] = {}
        self.absent: dict[tuple[int, str], tuple[Mapping[str, Any], str]] = {}
        self.functions: list[types.FunctionType] = []
        self.class_dicts: list[Mapping[Any, Any]] = []
        self.cells: list[tuple[types.CellType, Any]] = []
        self.values: dict[tuple[str, int], str] = {}
        self.watched: list[Any] = []  # mutable values keyed (`recyclable.valuewatch`)
        self.unwatched: set[int] = set()  # ids of values reached code changes in place
        self.written: dict[int, set[str]] = {}
        self.texts: list[Any] = []  # reached user functions and classes, for `codetext`
        self.text_reads: set[str] = set()

    # --- the work list ----------------------------------------------------------------

    def run(self) -> None:
        """Process the work list until everything reached has its part."""
        while self.todo:
            process, obj, name = self.todo.popleft()
            self.parts[name] = process(obj, name)
        if self.text_reads:
            self.parts.update(text_parts(self.text_reads, self.texts))

    def _new_part(self, kind: str, path: str) -> str:
        name = f"{kind} {path}"
        if name in self.parts:
            count = 2
            while f"{name}#{count}" in self.parts:
                count += 1
            name = f"{name}#{count}"
        self.parts[name] = b""  # filled when processed; the order of discovery is kept
        return name

    def _schedule(
        self, kind: str, obj: Any, path: str, process: Callable[[Any, str], bytes]
    ) -> str:
        name = self._new_part(kind, path)
        self.todo.append((process, obj, name))
        return name

    def _fixed(self, name: str, text: str) -> str:
        if name not in self.parts:
            self.parts[name] = xxhash.xxh3_128_digest(text.encode())
        return name

    def _dependency(self, origin: Origin) -> str:
        if origin.kind == "dist":
            return self._fixed(f"dependency {origin.name}", origin.label)
        return self._fixed("python", python_identity())

    def identity(self) -> tuple[Any, ...]:
        """What the identity is made of, and the guards that tell it still holds.

        ``(parts, unkeyed, groups, absent, functions, classes)``.
        """
        # (getter, source, expected), compared with `is` (never ==: a proxy or a
        # value with a loose __eq__ must not pass for what it replaced).
        groups: list[tuple[Callable[[Any], Iterable[Any]], Any, tuple[Any, ...]]] = []
        # Functions' code and defaults are checked only after one was assigned
        # somewhere in the process (codeid watches for that): a group of its own.
        functions = tuple(self.functions)
        expected_attrs = tuple(chain.from_iterable(map(_function_attrs, functions)))
        if self.cells:
            cells = tuple(cell for cell, _ in self.cells)
            groups.append((_contents_of, cells, tuple(value for _, value in self.cells)))
        for key, (namespace, entries) in self.dict_guards.items():
            skip = self.written.get(key, set())
            names = [name for name in entries if name not in skip]
            if not names:
                continue
            if len(names) == 1:
                names.append(names[0])  # itemgetter of one name returns the bare item
            groups.append((itemgetter(*names), namespace, tuple(entries[n] for n in names)))
        absent = [pair for pair in self.absent.values()]
        classes = tuple(self.class_dicts)
        sizes = tuple(map(len, classes))
        return (
            dict(self.parts),
            self.unkeyed,
            groups,
            absent,
            (functions, expected_attrs),
            (classes, sizes),
        )

    def _guard(self, namespace: Mapping[Any, Any], name: Any, value: Any) -> None:
        entry = self.dict_guards.get(id(namespace))
        if entry is None:
            entry = self.dict_guards[id(namespace)] = (namespace, {})
            self.keep.append(namespace)
        entry[1][name] = value

    def _guard_absent(self, namespace: Mapping[str, Any], name: str) -> None:
        self.absent[(id(namespace), name)] = (namespace, name)
        self.keep.append(namespace)

    def unwatch(self, value: Any) -> None:
        """Reached code changes ``value`` in place: it is its own state, not watched."""
        self.unwatched.add(id(value))
        self.keep.append(value)
        mark_state(value)  # and for steps walked later that only read it

    def watched_values(self) -> list[Any]:
        """The mutable values keyed that no reached code changes in place."""
        unwatched = self.unwatched
        return [v for v in self.watched if id(v) not in unwatched and not is_state(v)]

    # --- classifying what a name refers to ---------------------------------------------

    def reach(self, obj: Any, path: str) -> str:
        """The reference to ``obj`` (found at ``path``), following it if it is user code."""
        if type(obj) in _VALUE_TYPES:
            return self._value(obj, path, "constant")
        self.reached += 1
        found = self.refs.get(id(obj))
        if found is not None:
            return found
        self.refs[id(obj)] = f"cycle {path}"  # what a reference back to it, mid-way, says
        ref = self._classify(obj, path)
        self.refs[id(obj)] = ref
        self.keep.append(obj)
        return ref

    def _classify(self, obj: Any, path: str) -> str:
        kind = type(obj)
        if is_environment(obj):
            return self._environment(path)
        if reads_package_files(obj):
            self.unkeyed_source("unkeyed package files", PACKAGE_FILES_REASON, path)
        if kind is types.FunctionType:
            origin = origin_of(obj)
            if origin.kind == "user":
                return self._schedule("code", obj, qualified_name(obj), self._function)
            return self._library(obj, origin)
        proxy = wrapt_proxy()
        if isinstance(obj, proxy):
            inner = self.reach(object.__getattribute__(obj, "__wrapped__"), path)
            wrapper = getattr(obj, "_self_wrapper", None)
            outer = self.reach(wrapper, path + " (wrapper)") if wrapper is not None else "-"
            return f"wrapped {outer} around {inner}"
        if isinstance(obj, type):
            origin = origin_of(obj)
            if origin.kind == "user":
                return self._schedule("class", obj, qualified_name(obj), self._class)
            return self._library(obj, origin)
        if isinstance(obj, types.ModuleType):
            origin = module_origin(obj.__name__)
            if origin.kind == "user":
                return self._schedule(
                    "module", obj, module_display_name(obj.__name__), self._module
                )
            ref = f"module {self._dependency(origin)} {obj.__name__}"
            # An installed library's tables of user code: lib.run("fast") finds
            # lib.PLUGINS.  (Not the standard library's: sys.meta_path holds import
            # machinery, which is no step's code.)
            for attr, value in registrations_in(obj) if origin.kind == "dist" else ():
                ref += f" holds {attr}=" + self.reach(value, f"{obj.__name__}.{attr}")
            return ref
        if kind is types.MethodType:
            func = self.reach(obj.__func__, path)
            return f"method {func} of {self.reach(obj.__self__, path + '.__self__')}"
        if isinstance(obj, FUNCTION_LIKE) or kind.__name__ == "cython_function_or_method":
            origin = origin_of(obj)
            if origin.kind == "user":
                binary = self._binary(getattr(obj, "__module__", None))
                if binary is not None:
                    return f"{binary} {qualified_name(obj)}"
                return self._value(obj, path, "value")
            return f"{origin.kind} {self._dependency(origin)} {qualified_name(obj)}"
        named = library_name(obj)
        if named is not None:
            # A library's callable that is importable by name (a numpy ufunc):
            # its name and the library's version, like the library's functions.
            origin = module_origin(named)
            return f"{origin.kind} {self._dependency(origin)} {named}.{obj.__name__}"
        if kind.__name__ == "ufunc" and kind.__module__ == "numpy":
            # Not importable by name: made by np.frompyfunc around Python code
            # that cannot be read back from it.  A key no other process makes.
            logger.warning(
                "%s is a numpy ufunc made from Python code that cannot be fingerprinted; "
                "steps reaching it are recomputed in every new process. Pin "
                "@recyclable(version=...) to reuse them",
                path,
            )
            name = self._new_part("unidentified", path)
            self.parts[name] = os.urandom(16)
            return name
        wrapped = wrapped_of(obj)
        if wrapped is not None:
            # functools.lru_cache, cache, and other wrappers that are not functions:
            # the wrapped code counts, and so does the wrapper's own class.
            inner = self.reach(wrapped, path)
            outer = self.reach(kind, qualified_name(kind))
            if is_user_code(kind):
                # A wrapper class of user code: what the instance holds (a factor
                # given to it) changes what it does.  (A library's wrapper, such as
                # lru_cache, holds a cache rather than settings: left out.)
                return f"wrapper {outer} around {inner} holding " + self._value(obj, path, "value")
            return f"wrapper {outer} around {inner}"
        return self._value(obj, path, "constant" if "." in path else "value")

    def _library(self, obj: Any, origin: Origin) -> str:
        """A library's function or class: its name and version, and user code registered on it.

        User implementations registered on a library's singledispatch function,
        and user classes registered on a library's ABC (numbers.Number.register),
        run or answer isinstance() when the library dispatches to them.
        """
        ref = f"{origin.kind} {self._dependency(origin)} {qualified_name(obj)}"
        registry = user_registry(obj)
        if registry is not None:
            ref += " registry " + self._attribute(registry, f"{qualified_name(obj)}.registry")
        if isinstance(obj, type):
            if "_abc_impl" in obj.__dict__:
                users = [other for other in abc_registered(obj) if user_code_value(other)]
                ref += "".join(" registered " + self.reach(o, qualified_name(o)) for o in users)
            for attr, value in obj.__dict__.items() if origin.kind == "dist" else ():
                if holds_user_code(value):  # a plugin registry filled by user subclasses
                    path = f"{qualified_name(obj)}.{attr}"
                    ref += f" holds {attr}=" + self._value(value, path, "value")
        return ref

    def _binary(self, module: Any) -> str | None:
        """The part of a user extension module's binary (its content), or None."""
        if not isinstance(module, str):
            return None
        digest = extension_digest(module)
        if digest is None:
            return None
        return self._fixed(f"extension {module_display_name(module)}", digest)

    def _environment(self, path: str) -> str:
        """Code reading environment variables: named in the key's parts, never keyed."""
        return self.unkeyed_source("unkeyed os.environ", ENVIRONMENT_REASON, path)

    def unkeyed_source(self, name: str, reason: str, path: str) -> str:
        """An input the code reads that no key covers: named in the parts, never keyed."""
        if name not in self.parts:
            self.parts[name] = xxhash.xxh3_128_digest(name.encode())
            self.unkeyed.append((name, reason))
            logger.debug("%s reads what is not in a key: %s", path, reason)
        return name

    def _value(self, obj: Any, path: str, kind: str) -> str:
        """A value by its fingerprint; callables and user classes inside it are followed."""
        from recyclable.fingerprint import digest_value

        if is_environment(obj):  # a default, closure value or attribute holding os.environ
            return self._environment(path)
        known = self.values.get((path, id(obj)))
        if known is not None:
            return known
        self.keep.append(obj)
        cls = type(obj)
        if cls not in _VALUE_TYPES:
            if is_user_code(cls):
                self.reach(cls, qualified_name(cls))
            else:
                self._dependency(origin_of(cls))
        # A mutable value only read is taken as it is now (and watched: changed in
        # place between calls, it is a new key); one that reached code changes
        # itself keeps the digest it had when first needed, as a global it assigns.
        watch = not is_frozen(obj) and id(obj) not in self.unwatched and not is_state(obj)
        try:
            digest = None if watch else first_digest(obj)
            if digest is None:
                reached = self.reached
                digest = digest_value(obj)
                # No code inside: the digest holds for the rest of the process.
                if self.reached == reached and not watch:
                    remember_digest(obj, digest)
        except FingerprintError as exc:
            name = self._new_part("unkeyed", path)
            reason = exc.reason
            # Its state is left out, but not the user code it holds (the
            # generator function of a contextlib.contextmanager decorator).
            held = [
                f"{attr}=" + self.reach(value, f"{path}.{attr}")
                for attr, value in _attributes(obj)
                if user_code_value(value)
            ]
            text = "\x00".join([qualified_name(cls), *held])
            self.parts[name] = xxhash.xxh3_128_digest(text.encode())
            self.unkeyed.append((name, f"{cls.__qualname__}: {reason}"))
            logger.debug("%s is left out of the code key: %s (%s)", path, cls.__qualname__, reason)
        else:
            name = self._new_part(kind, path)
            self.parts[name] = digest
            if watch:
                self.watched.append(obj)
        self.values[(path, id(obj))] = name
        return name

    # --- processing one user object ----------------------------------------------------

    def _function(self, func: types.FunctionType, name: str) -> bytes:
        code = func.__code__
        info = code_info(code)
        self.functions.append(func)
        refs = [info.digest.hex()]
        namespace = func.__globals__
        module = module_display_name(func.__module__ or "__main__")
        if info.stores:
            self.written.setdefault(id(namespace), set()).update(info.stores)
        for attrs in info.chains:
            refs.append(
                ".".join(attrs) + "=" + resolve_chain(self, func, namespace, module, attrs, info)
            )
        refs.extend(names_read(self, func, namespace, module, info))
        self.texts.append(func)
        self.text_reads |= text_reads(chain(info.attributes, *info.chains))
        for target, level, names in info.imports:
            refs.append(
                f"import {level}:{target}:{','.join(names)}="
                + resolve_import(self, func, target, level, names)
            )
        for var, cell in zip(code.co_freevars, func.__closure__ or (), strict=False):
            try:
                value = cell.cell_contents
            except ValueError:  # not assigned yet (a function defined further down)
                refs.append(f"cell {var}=empty")
                continue
            if var in info.cell_stores:
                # ``nonlocal calls; calls += 1``: the step's own state, as a global
                # it assigns (not revalidated: a counter would make every call a
                # miss), a number or string keyed by its value when first needed.
                state = f"state {name.partition(' ')[2]} `{var}`"
                if type(value) in _STATE_TYPES and state not in self.parts:
                    self.parts[state] = const_digest(value)
                refs.append(f"cell {var}=" + self._fixed(state, "written by the step"))
                continue
            self.cells.append((cell, value))
            if ("<cell>", var) in info.changes:
                self.unwatch(value)  # runs.append(x): the step's own state
            refs.append(
                f"cell {var}=" + self.reach_member(value, name.partition(" ")[2], var, "closure")
            )
        positional = code.co_varnames[: code.co_argcount]
        bound = func is self.bound
        defaults = () if bound else func.__defaults__ or ()
        for param, value in zip(
            positional[len(positional) - len(defaults) :], defaults, strict=True
        ):
            refs.append(
                f"default {param}="
                + self.reach_member(value, name.partition(" ")[2], param, "default")
            )
        for param, value in ({} if bound else func.__kwdefaults__ or {}).items():
            refs.append(
                f"default {param}="
                + self.reach_member(value, name.partition(" ")[2], param, "default")
            )
        attributes = func.__dict__
        wrapped = attributes.get("__wrapped__", MISSING)
        if wrapped is not MISSING:
            refs.append("wraps=" + self.reach(wrapped, qualified_name(wrapped)))
        if len(attributes) > len(FUNCTION_SKIP.intersection(attributes)):
            # Attributes set on the function (helper.k = 2, a singledispatch
            # registry) are read by code like globals are; one added later is a change.
            self.class_dicts.append(attributes)
            self.keep.append(attributes)
            owner_path = name.partition(" ")[2]
            for attr in sorted(attributes):
                if attr in FUNCTION_SKIP:
                    continue
                value = attributes[attr]
                self._guard(attributes, attr, value)
                refs.append(f"attribute {attr}=" + self._attribute(value, f"{owner_path}.{attr}"))
        owner = owner_class(func)
        if owner is not None:
            refs.append("owner=" + self.reach(owner, qualified_name(owner)))
        return xxhash.xxh3_128_digest("\x00".join(refs).encode())

    def _attribute(self, value: Any, path: str) -> str:
        """A function attribute's value: code followed, a mapping proxy by its items."""
        if isinstance(value, types.MappingProxyType):
            # A registry filled in place (singledispatch's register()): an entry
            # added or replaced later in the process is a change.
            self.class_dicts.append(value)
            self.keep.append(value)
            for key, item in value.items():
                self._guard(value, key, item)
            items = sorted(
                self.reach(key, f"{path} key") + "=" + self.reach(item, path)
                for key, item in value.items()
            )
            return "mapping " + " ".join(items)
        if isinstance(value, types.MethodType) and not is_user_code(value.__func__):
            # A library object's method (a singledispatch cache's clear): the
            # library's code, by version; the object holds a cache, not settings.
            origin = origin_of(value.__func__)
            return f"{origin.kind} {self._dependency(origin)} {qualified_name(value.__func__)}"
        if followed(value):
            return self.reach(value, path)
        return self._value(value, path, "value")

    def reach_member(self, value: Any, owner: str, var: str, kind: str) -> str:
        """A closure cell's or default's value: callables followed, values as their own part."""
        if followed(value):
            return self.reach(value, f"{owner} `{var}`")
        return self._value(value, f"{owner} `{var}`", kind)

    # Classes and modules reached: `recyclable.codeclasses`.
    _class = class_digest
    _module = module_digest


# The values a written cell is keyed by (as `recyclable.coderesolve` keys written globals).
_STATE_TYPES = frozenset({int, float, complex, str, bytes, bool})


def _attributes(obj: Any) -> list[tuple[str, Any]]:
    """An object's own attributes, in order (none when it has no ``__dict__``)."""
    try:
        attributes = object.__getattribute__(obj, "__dict__")
    except Exception:  # noqa: BLE001 - no __dict__, or a proxy refusing it
        return []
    return list(attributes.items()) if isinstance(attributes, dict) else []


_VALUE_TYPES = frozenset({int, float, complex, str, bytes, bool, type(None), type(Ellipsis)})


# C-level getters, so that revalidation runs no Python frame per dependency.
_function_attrs = attrgetter("__code__", "__defaults__", "__kwdefaults__")
_contents_of = functools.partial(map, attrgetter("cell_contents"))
