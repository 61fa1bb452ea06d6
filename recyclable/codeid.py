"""Code identity: everything a step's code can reach, as it runs, → named digests.

The code part of a key is a set of named parts, one per piece of code or
configuration the step reaches from the objects loaded in the process:

``code pkg.util.trim``
    a user function: its code object (see `recyclable.bytecode`) and what each
    global name, attribute chain, closure cell and default it uses refers to;
``class pkg.model.Model``
    a user class: its bases and the attributes in its namespace (methods,
    properties, static and class methods, nested classes, class attributes);
``module pkg.util``
    a user module used as a whole (passed around rather than ``util.name``);
``constant pkg.conf.SCALE`` / ``attribute pkg.m.C.x`` / ``value ...``
    a value the code reads — constants, config dicts and lists, dispatch
    tables, ``functools.partial`` objects, instances — by value, fingerprinted
    when the key is first needed in the process (callables inside are followed);
``closure pkg.m.make.<locals>.step `factor``` / ``default pkg.m.f `limit```
    closure cell values and default values;
``dependency numpy`` / ``python``
    code of an installed distribution counts as its name and version, the
    standard library and builtins as the Python version (see `recyclable.distinfo`);
``state pkg.m.COUNT`` / ``unkeyed pkg.m.lock``
    globals the step assigns, and values that cannot be fingerprinted (locks,
    connections): left out of the key by design and named so ``explain`` can say so.

User code is whatever is not in an installed distribution: scripts, modules
beside them, editable installs.  Objects are followed by identity through a
work list, so cycles end and there is no depth or count limit.  Parts are named
by module and qualified name (a script run as ``python pipeline.py`` is named
``pipeline``, as when imported); two different objects of one name get ``#2``,
``#3`` in the order they are reached, which is the same in every process.

The identity is cached and revalidated on every call by identity of what was
resolved: each function's ``__code__``, defaults and closure contents, and each
namespace entry that was read (only once the namespace's dict version tag
changed, where it can be read: `recyclable.dictversion`).  Values count as
they are when first needed; a reached list, dict or instance changed in place
between two calls is a new key, what a step does to it while it computes is
not (`recyclable.valuewatch`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from itertools import chain
from operator import attrgetter, contains, is_
from typing import Any

import xxhash

from recyclable.codenames import is_user_code, module_display_name, qualified_name
from recyclable.codenames import origin_of as _origin_of
from recyclable.codewalk import Walker
from recyclable.dictversion import DictVersions, backing_dict, tag_value, versions_available
from recyclable.fingerprint import digest_value
from recyclable.valuewatch import ValueWatch

__all__ = [
    "CodeIdentity",
    "code_parts",
    "identify",
    "is_user_code",
    "module_display_name",
    "qualified_name",
    "value_reference",
]


class CodeIdentity:
    """The code part of a key: named part digests, and how to tell they still hold.

    Attributes:
        parts: part name → 16-byte digest, the step's own part first.
        digest: one digest over all parts (order-independent).
        unkeyed: values left out of the key, as ``(part name, reason)``.

    """

    __slots__ = (
        "_always",
        "_expected_attrs",
        "_functions",
        "_seen",
        "_versioned",
        "_versions",
        "_watch",
        "digest",
        "parts",
        "unkeyed",
    )

    def __init__(
        self,
        parts: dict[str, bytes],
        unkeyed: list[tuple[str, str]],
        groups: list[tuple[Callable[[Any], Iterable[Any]], Any, tuple[Any, ...]]],
        absent: list[tuple[Mapping[str, Any], str]],
        functions: tuple[tuple[Any, ...], tuple[Any, ...]],
        classes: tuple[tuple[Any, ...], tuple[int, ...]] = ((), ()),
        seen: int = -1,
        watched: Iterable[Any] = (),
    ) -> None:
        self.parts = parts
        # Mutable values keyed (config dicts, lists, instances): changed in
        # place between calls, they make a new key (`recyclable.valuewatch`).
        values = tuple(watched)
        self._watch = ValueWatch(values) if values else None
        # Functions reached and their (__code__, __defaults__, __kwdefaults__),
        # checked again only when such an attribute was assigned in the process
        # since ``seen`` (an audit hook counts assignments).
        self._functions, self._expected_attrs = functions
        self._seen = seen
        self.unkeyed = tuple(unkeyed)
        self.digest = combine(parts)
        # What is checked by identity: namespace entries read, closure cells'
        # contents, names that must stay absent from a namespace, and each
        # reached class's namespace size (an added attribute is a change).
        # Checks of namespaces whose dict has a readable version tag are
        # `_versioned`: made only when one of those tags changed.  The rest
        # are `_always` made.
        self._versions: DictVersions | None = None
        self._always: _Checks | None
        versioned: dict[int, dict[Any, Any]] = {}
        if versions_available():
            backed = [backing_dict(source) for _, source, _ in groups]
            watched = [g for g, d in zip(groups, backed, strict=True) if d is not None]
            others = [g for g, d in zip(groups, backed, strict=True) if d is None]
            versioned.update((id(d), d) for d in backed if d is not None)
            absent_dicts = [backing_dict(namespace) for namespace, _ in absent]
            class_dicts = [backing_dict(namespace) for namespace in classes[0]]
            absent_versioned = all(d is not None for d in absent_dicts)
            classes_versioned = all(d is not None for d in class_dicts)
            for d in (*absent_dicts, *class_dicts):
                if d is not None:
                    versioned[id(d)] = d
        else:
            watched, others = [], list(groups)
            absent_versioned = classes_versioned = False
        self._versioned = _Checks(
            watched, absent if absent_versioned else [], classes if classes_versioned else ((), ())
        )
        always = _Checks(
            others,
            [] if absent_versioned else absent,
            ((), ()) if classes_versioned else classes,
        )
        self._always = always if always else None
        if versioned:
            self._versions = DictVersions(versioned.values())

    def valid(self) -> bool:
        """Whether every object the identity was computed from is still the one in place."""
        # This runs on every call of a step: a few reads and C-level loops.
        try:
            now = _assignments[0]
            if now != self._seen or not _watching:
                attrs = chain.from_iterable(map(_function_attrs, self._functions))
                if not all(map(is_, attrs, self._expected_attrs)):
                    return False
                self._seen = now
            versions = self._versions
            if versions is not None:
                tags = tuple(map(_tag_value, versions.tags))
                if tags != versions.seen:
                    # Something in a namespace changed, maybe what the step reads.
                    if not self._versioned.hold():
                        return False
                    versions.seen = tags
            always = self._always
            if always is not None and not always.hold():
                return False
            watch = self._watch
            return watch is None or watch.hold()
        except (KeyError, ValueError, AttributeError, TypeError):
            return False


class _Checks:
    """Identity checks of what a code identity was computed from (see `CodeIdentity`)."""

    __slots__ = ("_absent", "_classes", "_names", "_same", "_sizes")

    def __init__(
        self,
        groups: list[tuple[Callable[[Any], Iterable[Any]], Any, tuple[Any, ...]]],
        absent: list[tuple[Mapping[str, Any], str]],
        classes: tuple[tuple[Any, ...], tuple[int, ...]],
    ) -> None:
        self._same = tuple(groups)  # (getter, source, expected), compared with `is`
        self._absent = tuple(namespace for namespace, _ in absent)
        self._names = tuple(name for _, name in absent)
        self._classes, self._sizes = classes

    def __bool__(self) -> bool:
        return bool(self._same or self._absent or self._classes)

    def hold(self) -> bool:
        """Whether every entry is still the object it was (may raise KeyError and the like)."""
        if self._classes and tuple(map(len, self._classes)) != self._sizes:
            return False
        for get, source, expected in self._same:
            if not all(map(is_, get(source), expected)):
                return False
        return not self._absent or not any(map(contains, self._absent, self._names))


def combine(parts: Mapping[str, bytes]) -> bytes:
    """The digest of a set of code parts (order-independent, length-prefixed)."""
    hasher = xxhash.xxh3_128()
    for name, digest in sorted(parts.items()):
        encoded = name.encode()
        hasher.update(len(encoded).to_bytes(4, "little") + encoded)
        hasher.update(len(digest).to_bytes(4, "little") + digest)
    return hasher.digest()


# Assignments to a function's __code__, __defaults__ or __kwdefaults__ in this
# process, counted by an audit hook (CPython audits them as object.__setattr__),
# so revalidation need not read every function's code on every call.
_assignments = [0]
_watching = False
_WATCHED = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
_function_attrs = attrgetter("__code__", "__defaults__", "__kwdefaults__")
_tag_value = tag_value


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "object.__setattr__" and len(args) > 1 and args[1] in _WATCHED:
        _assignments[0] += 1


def _watch() -> None:
    global _watching  # noqa: PLW0603 - installed once per process
    if not _watching:
        try:
            sys.addaudithook(_audit)
        except Exception:  # noqa: BLE001 - vetoed by another hook: check every call instead
            return
        _watching = True


def identify(target: Any, *, bound_defaults: bool = False) -> CodeIdentity:
    """The code identity of a callable (function, method, class, partial, builtin, ...).

    Never reads a source file: what is fingerprinted is what the process runs.

    Args:
        target: the callable.
        bound_defaults: the target's own defaults are bound as arguments (an
            action's are), so they are left out of its code part.

    """
    _watch()
    seen = _assignments[0]  # before the walk reads anything: a change during it is seen
    walker = Walker(target if bound_defaults else None)
    previous = getattr(_state, "walker", None)
    _state.walker = walker
    try:
        walker.reach(target, _root_path(target))
        walker.run()
    except Exception as exc:  # noqa: BLE001 - whatever user code holds, never a wrong hit
        # Something reached could not be walked: a key that no other process
        # can produce (a miss there), stable in this one (cached with its guards).
        logger.warning(
            "the code of %s could not be fully fingerprinted (%s: %s); its results are "
            "recomputed in every new process. Pin @recyclable(version=...) to reuse them",
            _root_path(target),
            type(exc).__name__,
            exc,
        )
        walker.parts[f"unidentified {_root_path(target)}"] = os.urandom(16)
    finally:
        _state.walker = previous
    parts, unkeyed, groups, absent, functions, classes = walker.identity()
    return CodeIdentity(
        parts, unkeyed, groups, absent, functions, classes, seen, walker.watched_values()
    )


logger = logging.getLogger("recyclable")
_state = threading.local()
_value_identities: weakref.WeakKeyDictionary[Any, tuple[str, CodeIdentity]] = (
    weakref.WeakKeyDictionary()
)


def code_parts(func: Callable[..., Any]) -> dict[str, str]:
    """What a step's code key covers: part name → hex digest, the step's own part first.

    Part names say what each part is (``code pkg.util.trim``, ``constant
    pkg.conf.SCALE``, ``closure pkg.m.make.<locals>.step `factor```,
    ``dependency numpy``, ``python``, ``unkeyed pkg.m.lock``; see the module
    docstring).  Accepts a ``@recyclable`` step (its key's parts; empty when
    its version is pinned) or any other callable.

    Example:
        >>> import recyclable
        >>> def double(x):
        ...     return 2 * x
        >>> sorted(recyclable.code_parts(double))        # doctest: +SKIP
        ['code __main__.double']

    """
    spec = getattr(func, "__recyclable__", None)
    if spec is not None and hasattr(spec, "code_parts"):
        return dict(spec.code_parts)
    return {name: digest.hex() for name, digest in identify(func).parts.items()}


def value_reference(obj: Any) -> str:
    """How a function or user class passed as a value enters a fingerprint.

    Inside a walk (a module-level dispatch table, a partial), a reference to
    the part the object gets; elsewhere (an argument), its qualified name with
    the digest of everything it reaches.
    """
    walker = getattr(_state, "walker", None)
    if walker is not None:
        return str(walker.reach(obj, qualified_name(obj)))
    origin = _origin_of(obj)
    if origin.kind != "user":
        return f"{origin.kind} {origin.label} {qualified_name(obj)}"
    try:
        name, found = _value_identities[obj]
        if found.valid():
            return name
    except (KeyError, TypeError):
        pass
    found = identify(obj)
    name = f"{qualified_name(obj)} {found.digest.hex()}"
    with contextlib.suppress(TypeError):  # not weakly referable: computed again next time
        _value_identities[obj] = (name, found)
    return name


class _ByIdentity:
    """Stands in for a walker: a function or class in a value is named, never walked."""

    def reach(self, obj: Any, name: str) -> str:
        return f"{name} {id(obj)}"


def shallow_digest(value: Any) -> bytes:
    """A value's digest in this process, with the code inside it by identity, not content.

    What `recyclable.valuewatch` compares to tell an in-place change: the code
    a value holds is guarded by the identity's own checks, and walking it
    from here would recurse when a class's attribute holds its own instance.
    """
    previous = getattr(_state, "walker", None)
    _state.walker = _BY_IDENTITY
    try:
        return digest_value(value)
    finally:
        _state.walker = previous


_BY_IDENTITY = _ByIdentity()


def _root_path(target: Any) -> str:
    if isinstance(target, partial):
        return f"partial of {qualified_name(target.func)}"
    return qualified_name(target)
