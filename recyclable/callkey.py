"""Action identity, code fingerprint and argument binding → a `CallKey`.

A call's key is xxh3_128 over the key-schema version, the plugin and action
names, the code (or pinned version) digest, and the ``(name, digest)`` pair of
every bound argument, length-prefixed so no two component lists can run into
each other.  The per-component digests are kept in the `CallKey` (and in each
stored manifest) so that a miss can be explained.  Nothing in a key depends on
where the cache lives, the host or the pool.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import xxhash

from recyclable.codeid import CodeIdentity, combine, identify
from recyclable.entrypoint import main_module_name
from recyclable.errors import FingerprintError
from recyclable.fileparams import annotated_files, file_argument
from recyclable.fingerprint import (
    CACHED_SCALARS,
    SCALAR_DIGESTS,
    SCHEMA_VERSION,
    Held,
    digest_value,
    digest_with_order,
    scalar_digest,
    unordered_digest,
)
from recyclable.sharing import Shared, shared_objects, shared_part
from recyclable.valuewatch import ValueWatch
from recyclable.valuewatch import gathering as _gathering
from recyclable.valuewatch import state as _watches

__all__ = ["ActionSpec", "CallKey"]


class CallKey:
    """The key of one call, with the digests it was made of.

    Attributes:
        key: the hex key under which the result is stored.
        plugin: the plugin (top-level package) the action belongs to.
        action: the action's name.
        code: hex digest of the action's code, or ``"version:<v>"`` when pinned.
        digests: ``(name, 16-byte digest)`` per argument in the key, in signature order.
        shared: the objects two arguments both reach, also in the key
            (`recyclable.sharing.shared_objects`).
        bound: the bound arguments the key was made from (empty when built by hand).

    """

    # A plain slotted class: built on every call, so it must cost next to nothing.
    __slots__ = (
        "_ordered",
        "action",
        "bound",
        "code",
        "code_parts",
        "digests",
        "key",
        "plugin",
        "shared",
        "watches",
    )

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
        shared: tuple[Shared, ...] = (),
    ) -> None:
        self.key = key
        # Objects two arguments both reach (`recyclable.sharing`): in the key.
        self.shared = shared
        self.bound = bound if bound is not None else {}
        # Arguments whose digest depends on some dict's insertion order.
        self._ordered = ordered
        self.code_parts = code_parts if code_parts is not None else {}
        self.plugin = plugin
        self.action = action
        self.code = code
        self.digests = digests
        self.watches: tuple[ValueWatch, ...] = ()

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
        self.files = frozenset(files) | annotated_files(func, params)
        self.mutates = tuple(dict.fromkeys(mutates))
        # False for joblib.Memory-style functions (recyclable.Memory): the key is
        # the arguments as passed, and changes the call makes to them are not
        # looked for (scikit-learn fits the clone it passes and uses the one
        # returned).
        self.checks_arguments = True
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
        # The defaults a call gets are the function's at call time: assigning
        # f.__defaults__ (or __kwdefaults__) after decoration must re-bind.
        self._seen_defaults = (
            (func.__defaults__, func.__kwdefaults__) if inspect.isfunction(func) else None
        )
        # One binder per count of positional arguments: a dict display built
        # by generated code costs a quarter of dict(zip(names, args)).
        self._binders = (
            tuple(_positional_binder(self.parameter_names[:n]) for n in range(len(params) + 1))
            if self._fast
            else ()
        )
        # Each argument enters the key as len-prefixed name + len-prefixed
        # 16-byte digest; the name part is the same on every call.
        self._name_parts = {
            name: _length_prefixed([name.encode()]) + (16).to_bytes(4, "little")
            for name in self.parameter_names
        }
        self._code: str | None = None
        self._code_parts: dict[str, str] | None = None
        self._identity: CodeIdentity | None = None
        self._prefix: bytes | None = None

    @property
    def code(self) -> str:
        """Hex digest of everything the action's code reaches, or ``version:<v>`` when pinned."""
        # key_for revalidates on every call; code_parts and unkeyed do too.
        code = self._code
        if code is None:
            # One thread walks; the others wait and take its result, so threads
            # that start the same step at once agree on its key.
            with _identity_lock:
                code = self._code
                if code is None:
                    if self.version is not None:
                        code = f"version:{self.version}"
                    else:
                        identity = self._identity = identify(self.func, bound_defaults=True)
                        self._code_parts = {n: d.hex() for n, d in identity.parts.items()}
                        code = identity.digest.hex()
                    self._code = code
        return code

    @property
    def code_parts(self) -> dict[str, str]:
        """Hex digest per part the code key covers (the action's own first); empty when pinned."""
        self._code_current()
        _ = self.code
        return dict(self._code_parts or {})

    @property
    def unkeyed(self) -> tuple[tuple[str, str], ...]:
        """Values the code reaches that are left out of the key, with the reason."""
        self._code_current()
        _ = self.code
        return self._identity.unkeyed if self._identity is not None else ()

    def _code_current(self) -> bool:
        """Whether the cached code identity still describes what the action reaches."""
        identity = self._identity
        if identity is None or identity.valid():
            return True
        self._code = self._prefix = None
        return False

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """Map a call's arguments to parameter names with defaults applied.

        Returns None when the arguments do not fit the signature; the call
        itself then raises the TypeError Python would.
        """
        names = self.parameter_names
        if self._fast and len(args) <= len(names):
            # Build the mapping in signature order whatever the call's order, so
            # f(a=1, b=2), f(b=2, a=1) and f(1, 2) are one call.
            bound: dict[str, Any] = self._binders[len(args)](args)
            if not kwargs and len(args) == len(names):
                return bound
            self._defaults_current()
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
        self._defaults_current()
        try:
            ba = self.signature.bind(*args, **kwargs)
        except TypeError:
            return None
        ba.apply_defaults()
        return dict(ba.arguments)

    def _defaults_current(self) -> None:
        """Read the signature again if the function's defaults were assigned since."""
        seen = self._seen_defaults
        func: Any = self.func
        if seen is None or (func.__defaults__ is seen[0] and func.__kwdefaults__ is seen[1]):
            return
        self.signature = inspect.signature(func)
        self._defaults = tuple(
            (p.name, p.default)
            for p in self.signature.parameters.values()
            if p.default is not inspect.Parameter.empty
        )
        self._default_map = dict(self._defaults)
        self._seen_defaults = (func.__defaults__, func.__kwdefaults__)

    def argument_digest(self, name: str, value: Any) -> bytes:
        """The digest of one argument's value as the key takes it (files by content).

        Raises:
            FingerprintError: the value cannot be fingerprinted (the path starts inside it).

        """
        return file_argument(value) if name in self.files else digest_value(value)

    def key_for(self, bound: Mapping[str, Any]) -> CallKey:
        """The CallKey for already-bound arguments.

        Raises:
            FingerprintError: an argument cannot be fingerprinted; the message names it.

        """
        # The mutable values the key checked: after a computed call they take
        # what the step left in them (`recyclable.valuewatch`).  Until the
        # process has a watch, none can be checked: the key is made without
        # gathering, and made again, gathering, if it made the first watch.
        if not _watches.made:
            callkey = self._key_for(bound)
            if not _watches.made:
                return callkey
        gathering = _gathering
        outer = gathering.collected
        gathered: list[ValueWatch] = []
        gathering.collected = gathered
        try:
            callkey = self._key_for(bound)
        finally:
            gathering.collected = outer
        if gathered:
            callkey.watches = tuple(gathered)
        return callkey

    def _key_for(self, bound: Mapping[str, Any]) -> CallKey:  # noqa: PLR0915 - one frame per call
        prefix = self._prefix
        identity = self._identity
        if prefix is not None and identity is not None and not identity.valid():
            self._code = prefix = None  # something the code reaches changed: fingerprint again
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
        code = self._code  # set with the prefix (read again if another thread just reset it)
        if code is None:
            code = self.code
        ignore = self.ignore
        files = self.files
        name_parts = self._name_parts
        parts = [prefix]
        digests = []
        ordered = []
        # What each non-scalar argument's digest met with an identity of its
        # own, to find the objects two arguments share.
        held: list[Held] = []
        held_names: list[str] = []
        scalars = SCALAR_DIGESTS
        for name, value in bound.items():
            if name in ignore:
                continue
            cls = type(value)
            if cls in CACHED_SCALARS and name not in files:
                # A scalar: its digest remembered, or one small pickle.
                digest = scalars.get((cls, value)) or scalar_digest(value)
                digests.append((name, digest))
                parts.append(name_parts[name])
                parts.append(digest)
                continue
            try:
                if name in files:
                    digest = file_argument(value)
                else:
                    mark = len(held)
                    digest, depends_on_order = digest_with_order(value, held)
                    if len(held) != mark:
                        held_names.append(name)
                    if depends_on_order:
                        ordered.append(name)
            except FingerprintError as exc:
                raise FingerprintError(
                    [f"argument {name!r}", *exc.path], exc.type_name, exc.reason
                ) from None
            digests.append((name, digest))
            parts.append(name_parts[name])
            parts.append(digest)
        shared: tuple[Shared, ...] = ()
        if len(held) > 1:
            shared = shared_objects(list(zip(held_names, held, strict=True)))
            if shared:
                parts.append(_length_prefixed([shared_part(shared)]))
        # Built slot by slot: CallKey.__init__'s frame costs more than the stores.
        callkey = _new_callkey(CallKey)
        callkey.key = xxhash.xxh3_128_hexdigest(b"".join(parts))
        callkey.plugin = self.plugin
        callkey.action = self.action
        callkey.code = code
        callkey.digests = tuple(digests)
        callkey.code_parts = self._code_parts if self._code_parts is not None else {}
        callkey.bound = bound
        callkey._ordered = frozenset(ordered) if ordered else _NONE_ORDERED
        callkey.shared = shared
        callkey.watches = ()  # `key_for` puts in those it gathered
        return callkey


_NONE_ORDERED: frozenset[str] = frozenset()
_new_callkey = CallKey.__new__


def _positional_binder(names: tuple[str, ...]) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    """A function that maps a tuple of ``len(names)`` positional arguments to ``{name: value}``.

    Generated, as dataclasses generates ``__init__``: a parameter name is an
    identifier (from `inspect.signature`) and enters the code as a string
    literal (its repr), so nothing but the names given can be built.
    """
    items = ", ".join(f"{name!r}: args[{index}]" for index, name in enumerate(names))
    binder: Callable[[tuple[Any, ...]], dict[str, Any]] = eval(f"lambda args: {{{items}}}")
    return binder


# Re-entrant: a value's fingerprint may call user code that keys another step.
_identity_lock = threading.RLock()


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
    """Digest per part of what ``func``'s code reaches, its own first (see `recyclable.codeid`)."""
    return dict(identify(func).parts)


def code_fingerprint(parts: Mapping[str, bytes]) -> bytes:
    """The digest of a set of code parts (order-independent)."""
    return combine(parts)
