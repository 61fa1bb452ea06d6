"""`MemorizedFunc`: one function cached in a pool, as `recyclable.Memory.cache` returns it.

Calling it runs the ``@recyclable`` call path (`recyclable.decorator`) with
the memory's pool active: the key, lookup, single-flight claim and store are
the decorator's own.  The rest is joblib's ``MemorizedFunc`` surface:
``call``, ``check_call_in_cache``, ``clear``, and a validation callback.
`NotMemorizedFunc` is what a memory without a location hands out.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from recyclable import _env
from recyclable.cache import Cache, GarbageReport
from recyclable.callkey import ActionSpec, CallKey
from recyclable.decorator import RecyclableFunction
from recyclable.handle import PoolHandle
from recyclable.manifest import Manifest, ManifestError, load_manifest
from recyclable.memoryaction import action_for, call_target, decorate
from recyclable.memorypool import Opened
from recyclable.pool import Pool

__all__ = ["MemorizedFunc", "MemorizedResult", "NotMemorizedFunc", "NotMemorizedResult"]

logger = logging.getLogger("recyclable")


class MemorizedFunc:
    """A function cached in a pool, as `Memory.cache` returns it; call it like the function.

    Built as joblib's is, ``MemorizedFunc(func, location, ...)`` with the
    arguments of ``Memory(location, ...)``, it caches in that location's
    ``"memory"`` pool; `Memory.cache` passes the handle of its own pool.

    Attributes:
        func: the original function.
        ignore: the parameter names left out of the key.
        cache_validation_callback: the validation callback, or None.
        handle: the pool the results live in.

    """

    def __init__(
        self,
        func: Callable[..., Any],
        location: PoolHandle | str | os.PathLike[str] | Cache | Pool,
        backend: str = "local",
        ignore: Iterable[str] | None = None,
        mmap_mode: str | None = None,
        compress: bool | int = False,
        verbose: int | None = None,
        timestamp: float | None = None,
        cache_validation_callback: Callable[[dict[str, Any]], bool] | None = None,
        *,
        pool: Pool | None = None,
    ) -> None:
        if not callable(func):
            raise TypeError(
                f"Memory.cache(func=...) expects a callable, got {type(func).__name__} {func!r}"
            )
        if isinstance(location, PoolHandle):
            handle = location
        else:
            if location is None:
                raise TypeError(
                    "MemorizedFunc(location=None) caches nothing: use NotMemorizedFunc(func), "
                    "or Memory(None).cache(func)"
                )
            from recyclable.memory import Memory  # Memory is built on this module

            memory = Memory(location, backend, mmap_mode, compress, verbose)
            assert memory.handle is not None
            handle, pool = memory.handle, memory.pool
        self.ignore = [ignore] if isinstance(ignore, str) else list(ignore or [])
        self.handle = handle
        self._opened = Opened(handle, pool)
        self.cache_validation_callback = cache_validation_callback
        self.verbose = verbose
        self.func = func
        target, self._lead_args, self._lead_kwargs = call_target(func)
        # A plain function's action is rebuilt if its code object is replaced
        # (func.__code__ = ...): the code digest is taken once per action.
        self._target: Any = None
        self._code: Any = None
        if isinstance(target, RecyclableFunction):
            # Already an action: its own options (name, version, files) stand.
            self._action: Any = target
            self._spec: ActionSpec = target.__recyclable__
            if self.ignore:
                spec = self._spec
                self._action, self._spec = decorate(
                    target.__wrapped__,
                    name=spec.action,
                    plugin=spec.plugin,
                    version=spec.version,
                    ignore=sorted(spec.ignore | set(self.ignore)),
                    files=sorted(spec.files),
                )
        else:
            self._target, self._code = target, getattr(target, "__code__", None)
            self._action, self._spec = action_for(target, tuple(self.ignore))
        functools.update_wrapper(self, self.func, updated=())

    @property
    def spec(self) -> ActionSpec:
        """The action's identity and signature (what `@recyclable` built)."""
        self._refresh()
        return self._spec

    @property
    def location(self) -> str:
        """Where the results are stored: the cache's directory or URL."""
        return self.handle.url

    @property
    def mmap_mode(self) -> str | None:
        """How large stored arrays of this function load (None, ``"r"`` or ``"c"``)."""
        return self.handle.mmap

    def _refresh(self) -> None:
        target = self._target
        if target is not None and getattr(target, "__code__", None) is not self._code:
            self._code = getattr(target, "__code__", None)
            self._action, self._spec = action_for(target, tuple(self.ignore))

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _memorized,
            (self.func, self.handle, self.ignore, self.cache_validation_callback, self.verbose),
        )

    def __recyclable_fingerprint__(self) -> object:
        # Calling it gives what calling the function gives, wherever it caches.
        return ("recyclable.MemorizedFunc", self.func)

    def __repr__(self) -> str:
        return (
            f"MemorizedFunc(func={self.func!r}, location={self.handle.url!r}, "
            f"pool={self.handle.pool!r})"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Return the stored result of the call, or compute and store it."""
        if _env.recycling_disabled():
            return self.func(*args, **kwargs)  # off means off: nothing opened, read or written
        pool = self._opened.revived()
        if self.cache_validation_callback is not None:
            self._validate(pool, args, kwargs)
        args, kwargs = self._full(args, kwargs)
        if self.spec.is_async:  # (refreshes the action if the function's code changed)
            return self._call_async(pool, args, kwargs)
        with pool:
            return self._action(*args, **kwargs)

    async def _call_async(self, pool: Pool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with pool:
            return await self._action(*args, **kwargs)

    def call(self, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Run the function whatever is stored; store the result; return it with its metadata.

        A key names one result, so an entry already stored for the call is
        kept (the store is first-writer-wins); drop it first with a
        ``cache_validation_callback`` or `clear` to replace it.

        Returns:
            ``(output, metadata)`` with metadata ``duration``, ``time`` and ``input_args``.

        """
        if self.spec.is_async:  # as joblib's AsyncMemorizedFunc: a coroutine to await
            return self._call_forced_async(args, kwargs)  # type: ignore[return-value]
        if _env.recycling_disabled():
            return self.func(*args, **kwargs), {}
        pool = self._opened.get()
        started = time.time()
        callkey = self._callkey(args, kwargs)
        with pool:
            begin = time.perf_counter()
            output = self._plain(args, kwargs)
            seconds = time.perf_counter() - begin
        pool.store(callkey, output, seconds)
        return output, {"duration": seconds, "time": started, "input_args": _inputs(callkey)}

    def _plain(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run the function itself: an ``@recyclable`` action's own function, not its lookup."""
        if self._target is None and isinstance(self._action, RecyclableFunction):
            full_args, full_kwargs = self._full(args, kwargs)
            return self._action.__wrapped__(*full_args, **full_kwargs)
        return self.func(*args, **kwargs)

    async def _call_forced_async(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        if _env.recycling_disabled():
            return await self.func(*args, **kwargs), {}
        pool = self._opened.get()
        started = time.time()
        callkey = self._callkey(args, kwargs)
        with pool:
            begin = time.perf_counter()
            output = await self._plain(args, kwargs)
            seconds = time.perf_counter() - begin
        pool.store(callkey, output, seconds)
        return output, {"duration": seconds, "time": started, "input_args": _inputs(callkey)}

    def call_and_shelve(self, *args: Any, **kwargs: Any) -> MemorizedResult | NotMemorizedResult:
        """Make sure the call's result is stored; return a small picklable reference to it.

        A stored result is not loaded; a missing one is computed and stored.
        ``reference.get()`` loads it (in any process).
        """
        if self.spec.is_async:  # as joblib's AsyncMemorizedFunc: a coroutine to await
            return self._shelve_async(args, kwargs)  # type: ignore[return-value]
        if _env.recycling_disabled():
            return NotMemorizedResult(self.func(*args, **kwargs))
        callkey = self._callkey(args, kwargs)
        if _stored(self._opened.get(), callkey) is None:
            self(*args, **kwargs)
        return MemorizedResult(self.handle, callkey)

    async def _shelve_async(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> MemorizedResult | NotMemorizedResult:
        if _env.recycling_disabled():
            return NotMemorizedResult(await self.func(*args, **kwargs))
        callkey = self._callkey(args, kwargs)
        if _stored(self._opened.get(), callkey) is None:
            await self(*args, **kwargs)
        return MemorizedResult(self.handle, callkey)

    def check_call_in_cache(self, *args: Any, **kwargs: Any) -> bool:
        """True when a result for this call is stored (and passes the validation callback).

        Reads and verifies the entry's manifest without loading the result;
        with recycling switched off (``RECYCLABLE_DISABLE``), always False.
        """
        if _env.recycling_disabled():
            return False
        pool = self._opened.get()
        manifest = _stored(pool, self._callkey(args, kwargs))
        if manifest is None:
            return False
        callback = self.cache_validation_callback
        return callback is None or bool(callback(_metadata(manifest)))

    def explain(self, *args: Any, **kwargs: Any) -> str:
        """Say whether this call would be loaded, and if not, why (see `Pool.explain`)."""
        return self._opened.get().explain_key(self._callkey(args, kwargs))

    def clear(self, warn: bool = True) -> GarbageReport:
        """Drop this function's results from the pool (every version of its code).

        Entries another pool also keeps are only released from this pool.

        Args:
            warn: accepted for joblib compatibility (the clearing is logged).

        """
        pool = self._opened.revived()
        spec = self.spec
        logger.info("clearing %s from pool %s", spec.action, pool.name)
        for manifest in pool.entries():
            if manifest.get("plugin") == spec.plugin and manifest.get("action") == spec.action:
                pool.cache.store.remove_marker(pool.name, str(manifest["key"]))
        return pool.cache.garbage_collect()

    def _full(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's arguments with a partial's or a bound method's put in front."""
        if not self._lead_args and not self._lead_kwargs:
            return args, kwargs
        return (*self._lead_args, *args), {**self._lead_kwargs, **kwargs}

    def _callkey(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallKey:
        spec = self.spec
        bound = spec.bind(*self._full(args, kwargs))
        if bound is None:
            raise TypeError(
                f"the arguments do not fit {spec.action}{spec.signature}: "
                f"{len(args)} positional, keywords {sorted(kwargs)}"
            )
        return spec.key_for(bound)

    def _validate(self, pool: Pool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Drop the stored result of this call if the validation callback rejects it."""
        spec = self.spec
        bound = spec.bind(*self._full(args, kwargs))
        if bound is None:
            return  # the call itself raises Python's TypeError
        callkey = spec.key_for(bound)
        manifest = _stored(pool, callkey)
        callback = self.cache_validation_callback
        if manifest is None or callback is None or callback(_metadata(manifest)):
            return
        logger.info("%s (key %s) rejected by its validation callback", spec.action, callkey.key)
        _drop(pool, callkey.key)


class MemorizedResult:
    """A reference to a stored result, as `MemorizedFunc.call_and_shelve` returns it.

    Attributes:
        func: the action's name.
        args_id: the call's key.

    """

    def __init__(self, handle: PoolHandle, callkey: CallKey) -> None:
        self.handle = handle
        self._callkey = callkey
        self.func = callkey.action
        self.args_id = callkey.key

    def __reduce__(self) -> tuple[Any, ...]:
        return (MemorizedResult, (self.handle, self._callkey))

    def __repr__(self) -> str:
        return (
            f"MemorizedResult(location={self.handle.url!r}, func={self.func!r}, "
            f"args_id={self.args_id!r})"
        )

    def get(self) -> Any:
        """Load the stored result.

        Raises:
            KeyError: it is no longer stored (cleared, collected, or damaged and quarantined).

        """
        hit = self.handle.open().lookup(self._callkey)
        if hit is None:
            raise KeyError(
                f"the stored result of {self.func} (key {self.args_id}) is gone: it was "
                "cleared, collected or found damaged; call the function again"
            )
        return hit.value

    def clear(self) -> None:
        """Drop the stored result (from every pool)."""
        _drop(self.handle.open(), self.args_id)


class NotMemorizedResult:
    """What ``call_and_shelve`` returns when nothing is cached: the value itself."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.valid = True

    def get(self) -> Any:
        """The value.

        Raises:
            KeyError: after `clear`.

        """
        if not self.valid:
            raise KeyError("no value stored: the result was cleared")
        return self.value

    def clear(self) -> None:
        """Forget the value."""
        self.valid = False
        self.value = None


class NotMemorizedFunc:
    """What `Memory.cache` returns when ``location`` is None: the function, called plainly.

    Attributes:
        func: the original function.

    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        functools.update_wrapper(self, func, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function."""
        return self.func(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (NotMemorizedFunc, (self.func,))

    def __repr__(self) -> str:
        return f"NotMemorizedFunc(func={self.func!r})"

    def call(self, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Call the function; ``(output, {})``."""
        return self.func(*args, **kwargs), {}

    def call_and_shelve(self, *args: Any, **kwargs: Any) -> NotMemorizedResult:
        """Call the function; its value, wrapped like a stored result (awaitable if async)."""
        if inspect.iscoroutinefunction(self.func):
            return self._shelve_async(args, kwargs)  # type: ignore[return-value]
        return NotMemorizedResult(self.func(*args, **kwargs))

    async def _shelve_async(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> NotMemorizedResult:
        return NotMemorizedResult(await self.func(*args, **kwargs))

    def check_call_in_cache(self, *args: Any, **kwargs: Any) -> bool:
        """Always False: nothing is cached."""
        return False

    def clear(self, warn: bool = True) -> None:
        """Nothing to clear."""


def _memorized(
    func: Callable[..., Any],
    handle: PoolHandle,
    ignore: list[str],
    callback: Callable[[dict[str, Any]], bool] | None,
    verbose: int | None,
) -> MemorizedFunc:
    return MemorizedFunc(
        func, handle, ignore=ignore, cache_validation_callback=callback, verbose=verbose
    )  # (the handle carries the mmap mode)


def _drop(pool: Pool, key: str) -> None:
    """Remove a stored call: every pool's marker first, so none takes the gap for damage.

    A reader already loading it keeps its blobs; garbage collection takes them later.
    """
    store = pool.cache.store
    for name in pool.cache.pools():
        if store.has_marker(name, key):
            store.remove_marker(name, key)
    store.delete_manifest(key)


def _stored(pool: Pool, callkey: CallKey) -> Manifest | None:
    data = pool.cache.store.read_manifest(callkey.key)
    if data is None:
        return None
    try:
        manifest = load_manifest(data, pool.cache.secret)
    except ManifestError:
        return None
    return manifest if manifest.get("key") == callkey.key else None


def created_at(manifest: Manifest) -> float:
    try:
        return datetime.datetime.fromisoformat(str(manifest.get("created"))).timestamp()
    except ValueError:
        return 0.0


def entry_size(manifest: Manifest) -> int:
    stream = manifest.get("stream", {})
    return int(stream.get("size", 0)) + sum(int(b["size"]) for b in manifest.get("buffers", []))


def _metadata(manifest: Manifest) -> dict[str, Any]:
    """The metadata joblib gives a validation callback: duration, time (epoch s), input_args."""
    return {
        "duration": float(manifest.get("compute_seconds", 0.0)),
        "time": created_at(manifest),
        "input_args": dict(manifest.get("arguments", [])),
    }


def _inputs(callkey: CallKey) -> dict[str, str]:
    return dict(callkey.arguments)
