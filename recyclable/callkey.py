"""Action identity, code fingerprint and argument binding → a `CallKey`.

A call's key is xxh3_128 over the key-schema version, the plugin and action
names, the code (or pinned version) digest, and the ``(name, digest)`` pair of
every bound argument, length-prefixed so no two component lists can run into
each other.  The per-component digests are kept in the `CallKey` (and in each
stored manifest) so that a miss can be explained.  Nothing in a key depends on
where the cache lives, the host or the pool.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import sys
import textwrap
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import xxhash

from recyclable.entrypoint import main_module_name
from recyclable.errors import FingerprintError
from recyclable.files import InputFile
from recyclable.fingerprint import (
    SCHEMA_VERSION,
    code_digest,
    digest_value,
    digest_with_order,
    unordered_digest,
)

__all__ = ["ActionSpec", "CallKey"]

# How far the code fingerprint follows helper functions called by name.
_HELPER_DEPTH = 4
_HELPER_LIMIT = 64


class CallKey:
    """The key of one call, with the digests it was made of.

    Attributes:
        key: the hex key under which the result is stored.
        plugin: the plugin (top-level package) the action belongs to.
        action: the action's name.
        code: hex digest of the action's code, or ``"version:<v>"`` when pinned.
        digests: ``(name, 16-byte digest)`` per argument in the key, in signature order.
        bound: the bound arguments the key was made from (empty when built by hand).

    """

    # A plain slotted class: built on every call, so it must cost next to nothing.
    __slots__ = ("_ordered", "action", "bound", "code", "code_parts", "digests", "key", "plugin")

    def __init__(
        self,
        key: str,
        plugin: str,
        action: str,
        code: str,
        digests: tuple[tuple[str, bytes], ...],
        code_parts: Mapping[str, str] | None = None,
        bound: Mapping[str, Any] | None = None,
        ordered: frozenset[str] = frozenset(),
    ) -> None:
        self.key = key
        self.bound = bound if bound is not None else {}
        # Arguments whose digest depends on some dict's insertion order.
        self._ordered = ordered
        self.code_parts = code_parts if code_parts is not None else {}
        self.plugin = plugin
        self.action = action
        self.code = code
        self.digests = digests

    def __repr__(self) -> str:
        return f"CallKey({self.action!r}, key={self.key!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CallKey) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def arguments(self) -> tuple[tuple[str, str], ...]:
        """``(name, hex digest)`` per argument in the key, in signature order."""
        return tuple((name, digest.hex()) for name, digest in self.digests)

    def unordered_arguments(self) -> tuple[tuple[str, str], ...]:
        """``(name, hex order-free digest)`` for each argument whose digest depends on dict order.

        Kept in the manifest so that a later miss can say "the same items in
        another order"; an argument not listed has an order-free digest equal
        to its digest.
        """
        found = []
        for name, _ in self.digests:
            if name in self._ordered:
                try:
                    found.append((name, unordered_digest(self.bound[name]).hex()))
                except FingerprintError:
                    continue  # only an explanation is lost
        return tuple(found)

    def unordered_hex(self, name: str) -> str:
        """The order-free digest (hex) of argument ``name``."""
        if name in self._ordered:
            try:
                return unordered_digest(self.bound[name]).hex()
            except FingerprintError:
                return ""  # matches no stored digest: explained as a change
        return dict(self.digests)[name].hex()

    @property
    def shard(self) -> str:
        """The two-character directory the key is stored under."""
        return self.key[:2]


def _length_prefixed(parts: Iterable[bytes]) -> bytes:
    out = bytearray()
    for part in parts:
        out += len(part).to_bytes(4, "little")
        out += part
    return bytes(out)


class ActionSpec:
    """Everything about a decorated function that does not change between calls.

    Built once at decoration; the signature, defaults and (lazily) the code
    fingerprint are computed once, so a call only binds and hashes its arguments.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None,
        plugin: str | None,
        version: str | None,
        ignore: Iterable[str],
        files: Iterable[str] = (),
        mutates: Iterable[str] = (),
    ) -> None:
        self.func = func
        self.plugin = plugin if plugin is not None else _default_plugin(func)
        self.action = name if name is not None else func.__qualname__
        self.version = version
        self.signature = inspect.signature(func)
        self.is_async = inspect.iscoroutinefunction(func)
        params = list(self.signature.parameters.values())
        self.parameter_names = tuple(p.name for p in params)
        self.ignore = frozenset(ignore)
        unknown = sorted(self.ignore - set(self.parameter_names))
        if unknown:
            raise ValueError(
                f"@recyclable(ignore=...) names {unknown} which are not parameters of "
                f"{func.__qualname__}{self.signature}; use the parameters' own names"
            )
        self.files = frozenset(files) | _annotated_files(func, params)
        self.mutates = tuple(dict.fromkeys(mutates))
        unknown = sorted(set(self.mutates) - set(self.parameter_names))
        if unknown:
            raise ValueError(
                f"@recyclable(mutates=...) names {unknown} which are not parameters of "
                f"{func.__qualname__}{self.signature}; use the parameters' own names"
            )
        unknown = sorted(self.files - set(self.parameter_names))
        if unknown:
            raise ValueError(
                f"@recyclable(files=...) names {unknown} which are not parameters of "
                f"{func.__qualname__}{self.signature}; use the parameters' own names"
            )
        kinds = {p.kind for p in params}
        # The fast binder covers the common signature shape; anything with
        # *args, **kwargs or positional-only parameters goes through inspect.
        self._fast = not kinds & {
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.KEYWORD_ONLY,
        }
        self._defaults = tuple(
            (p.name, p.default) for p in params if p.default is not inspect.Parameter.empty
        )
        self._default_map = dict(self._defaults)
        # Each argument enters the key as len-prefixed name + len-prefixed
        # 16-byte digest; the name part is the same on every call.
        self._name_parts = {
            name: _length_prefixed([name.encode()]) + (16).to_bytes(4, "little")
            for name in self.parameter_names
        }
        self._code: str | None = None
        self._code_parts: dict[str, str] | None = None
        self._prefix: bytes | None = None

    @property
    def code(self) -> str:
        """Hex digest of the action's code and helpers, or ``version:<v>`` when pinned."""
        if self._code is None:
            if self.version is not None:
                self._code = f"version:{self.version}"
            else:
                parts = code_parts(self.func)
                self._code_parts = {name: digest.hex() for name, digest in parts.items()}
                self._code = code_fingerprint(parts).hex()
        return self._code

    @property
    def code_parts(self) -> dict[str, str]:
        """Hex code digest per function (the action and its helpers); empty when pinned."""
        if self._code is None:
            _ = self.code
        return dict(self._code_parts or {})

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """Map a call's arguments to parameter names with defaults applied.

        Returns None when the arguments do not fit the signature; the call
        itself then raises the TypeError Python would.
        """
        names = self.parameter_names
        if self._fast and len(args) <= len(names):
            # Build the mapping in signature order whatever the call's order, so
            # f(a=1, b=2), f(b=2, a=1) and f(1, 2) are one call.
            bound = dict(zip(names, args, strict=False))
            if len(bound) == len(names) and not kwargs:
                return bound
            defaults = self._default_map
            used = 0
            for name in names[len(args) :]:
                if name in kwargs:
                    bound[name] = kwargs[name]
                    used += 1
                elif name in defaults:
                    bound[name] = defaults[name]
                else:
                    return None
            if used != len(kwargs):
                return None  # a keyword repeats a positional argument, or is unknown
            return bound
        try:
            ba = self.signature.bind(*args, **kwargs)
        except TypeError:
            return None
        ba.apply_defaults()
        return dict(ba.arguments)

    def argument_digest(self, name: str, value: Any) -> bytes:
        """The digest of one argument's value as the key takes it (files by content).

        Raises:
            FingerprintError: the value cannot be fingerprinted (the path starts inside it).

        """
        return _file_argument(value) if name in self.files else digest_value(value)

    def key_for(self, bound: Mapping[str, Any]) -> CallKey:
        """The CallKey for already-bound arguments.

        Raises:
            FingerprintError: an argument cannot be fingerprinted; the message names it.

        """
        prefix = self._prefix
        if prefix is None:
            prefix = self._prefix = _length_prefixed(
                [
                    b"recyclable-key-%d" % SCHEMA_VERSION,
                    self.plugin.encode(),
                    self.action.encode(),
                    self.code.encode(),
                    # Entries that carry the arguments' state after the call are
                    # other entries than plain results.
                    *([b"mutates:" + ",".join(self.mutates).encode()] if self.mutates else []),
                ]
            )
        ignore = self.ignore
        files = self.files
        name_parts = self._name_parts
        parts = [prefix]
        digests = []
        ordered = []
        for name, value in bound.items():
            if name in ignore:
                continue
            try:
                if name in files:
                    digest = _file_argument(value)
                else:
                    digest, depends_on_order = digest_with_order(value)
                    if depends_on_order:
                        ordered.append(name)
            except FingerprintError as exc:
                raise FingerprintError(
                    [f"argument {name!r}", *exc.path], exc.type_name, exc.reason
                ) from None
            digests.append((name, digest))
            parts.append(name_parts[name])
            parts.append(digest)
        return CallKey(
            xxhash.xxh3_128_hexdigest(b"".join(parts)),
            self.plugin,
            self.action,
            self.code,
            tuple(digests),
            self._code_parts,
            bound,
            frozenset(ordered),
        )


def _file_argument(value: Any) -> bytes:
    """Digest of an argument named in files=: a path, a list or tuple of paths, or None."""
    if value is None:
        return digest_value(None)
    if isinstance(value, (str, os.PathLike)):
        return digest_value(InputFile(value))
    if isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, (str, os.PathLike)):
                raise FingerprintError(
                    [],
                    type(item).__name__,
                    "files=[...] expects paths here; pass str or os.PathLike",
                )
        return digest_value(type(value)(InputFile(item) for item in value))
    raise FingerprintError(
        [],
        type(value).__name__,
        "the parameter is declared an input file (files=[...] or an InputFile annotation) "
        "but its value is not a path; pass a str or os.PathLike",
    )


def _annotated_files(func: Callable[..., Any], params: list[inspect.Parameter]) -> set[str]:
    """Parameters annotated ``InputFile`` or a list/tuple of it (string annotations too)."""
    found = set()
    for param in params:
        annotation = param.annotation
        if isinstance(annotation, str):
            if re.search(r"\bInputFile\b", annotation):
                found.add(param.name)
        elif annotation is InputFile or InputFile in typing.get_args(annotation):
            found.add(param.name)
    return found


def _default_plugin(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", None) or "__main__"
    if module == "__main__":
        # A script run directly: name the plugin after the file, so running
        # the same script again (or importing it) gives the same keys.
        # `python -m pkg.script` and `recyclable run pkg.script:step` agree too.
        return main_module_name().split(".")[0]
    return module.split(".")[0]


# --- code fingerprint -----------------------------------------------------------------


def code_parts(func: Callable[..., Any]) -> dict[str, bytes]:
    """Code digest of a function and of each same-package helper it uses, by qualified name.

    The code is its normalised syntax tree (docstrings, comments, formatting
    and decorators do not count), or its bytecode when the source cannot be
    read.  Helpers are functions of the same top-level package found in the
    function's globals under the names it uses, followed transitively up to a
    bound; a recyclable helper counts by its own code, like any other.  Names
    are qualified names without the module, so running a script directly or
    importing it gives the same parts.
    """
    seen: set[int] = set()
    order: list[tuple[str, bytes]] = []
    dependencies: set[str] = set()
    _collect(func, _package_of(func), seen, order, depth=0, dependencies=dependencies)
    for top in sorted(dependencies):
        version = _installed_version(top)
        if version is not None:
            order.append((f"dependency {top}", xxhash.xxh3_128_digest(version.encode())))
    return dict(order)


_versions: dict[str, str | None] = {}


def _installed_version(top_level: str) -> str | None:
    """The installed distribution version providing a top-level module, if known."""
    if top_level not in _versions:
        import importlib.metadata

        names = importlib.metadata.packages_distributions().get(top_level, [])
        found = None
        for name in names:
            try:
                found = f"{name} {importlib.metadata.version(name)}"
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        _versions[top_level] = found
    return _versions[top_level]


def code_fingerprint(parts: Mapping[str, bytes]) -> bytes:
    """The digest of a set of code parts (order-independent)."""
    hasher = xxhash.xxh3_128()
    for name, digest in sorted(parts.items()):
        hasher.update(_length_prefixed([name.encode(), digest]))
    return hasher.digest()


def _package_of(func: Callable[..., Any]) -> str:
    return (getattr(func, "__module__", None) or "__main__").split(".")[0]


def _unwrap(func: Any) -> Any:
    seen = 0
    while hasattr(func, "__wrapped__") and seen < 10:
        func = func.__wrapped__
        seen += 1
    return func


def _collect(
    func: Any,
    package: str,
    seen: set[int],
    order: list[tuple[str, bytes]],
    depth: int,
    dependencies: set[str],
) -> None:
    func = _unwrap(func)
    if not isinstance(func, types.FunctionType) or id(func) in seen:
        return
    if len(seen) >= _HELPER_LIMIT:
        return
    seen.add(id(func))
    tree = _syntax_tree(func)
    if tree is None:
        digest = code_digest(func.__code__)
        called: set[str] = set(func.__code__.co_names)
    else:
        digest = xxhash.xxh3_128_digest(ast.dump(tree, include_attributes=False).encode())
        called = _called_names(tree)
    order.append((func.__qualname__, digest))
    if depth >= _HELPER_DEPTH:
        return
    namespace = _namespace(func)
    for name in sorted(called):
        helper = _unwrap(namespace.get(name))
        top = _top_level_of(helper)
        if top is None:
            continue
        if top != package:
            # Code of another distribution (numpy, another plugin): its
            # installed version stands for its code.
            if top not in sys.stdlib_module_names and top != "builtins":
                dependencies.add(top)
        elif isinstance(helper, types.FunctionType):
            _collect(helper, package, seen, order, depth + 1, dependencies)


def _namespace(func: types.FunctionType) -> dict[str, Any]:
    """What the function's names refer to: its globals, then its closure's cells."""
    namespace = dict(func.__globals__)
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=False):
        try:
            namespace[name] = cell.cell_contents
        except ValueError:  # an empty cell: the name is not bound yet
            continue
    return namespace


def _top_level_of(obj: Any) -> str | None:
    if isinstance(obj, types.ModuleType):
        return obj.__name__.split(".")[0]
    module = getattr(obj, "__module__", None) if callable(obj) else None
    return module.split(".")[0] if isinstance(module, str) else None


def _syntax_tree(func: types.FunctionType) -> ast.AST | None:
    try:
        source = textwrap.dedent(inspect.getsource(func))
        module = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    if not module.body:
        return None
    node = module.body[0]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        node.decorator_list = []
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = sub.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                sub.body = body[1:] or [ast.Pass()]
    return node


def _called_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for sub in ast.walk(tree):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
            names.add(sub.func.id)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            # Functions passed as values (map(helper, ...)) count as used too.
            names.add(sub.id)
    return names
