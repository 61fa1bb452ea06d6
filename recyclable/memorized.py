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
import threading
import time
import types
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import wrapt

from recyclable import _env
from recyclable.cache import Cache, GarbageReport
from recyclable.callkey import ActionSpec, CallKey
from recyclable.decorator import RecyclableFunction, recyclable
from recyclable.handle import PoolHandle
from recyclable.manifest import Manifest, ManifestError, load_manifest
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
        target, self._lead_args, self._lead_kwargs = _call_target(func)
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
                self._action, self._spec = _decorate(
                    target.__wrapped__,
                    name=spec.action,
                    plugin=spec.plugin,
                    version=spec.version,
                    ignore=sorted(spec.ignore | set(self.ignore)),
                    files=sorted(spec.files),
                )
        else:
            self._target, self._code = target, getattr(target, "__code__", None)
            self._action, self._spec = _action_for(target, tuple(self.ignore))
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
            self._action, self._spec = _action_for(target, tuple(self.ignore))

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


class Opened:
    """The pool of a handle in this process: the one given here, else opened once per process."""

    def __init__(self, handle: PoolHandle | None, pool: Pool | None = None) -> None:
        self.handle = handle
        self.pool = pool
        self.pid = os.getpid()
        # Which re-layout of the cache directory this pool's store has seen.
        self.layout = _layouts.get(pool.cache.url, 0) if pool is not None else 0

    def get(self) -> Pool:
        # A forked child must not share its parent's pool object (nor its store connection).
        if self.pool is None or self.pid != os.getpid():
            if self.handle is None:
                raise RuntimeError("a Memory without a location has no pool")
            self.pool = self.handle.open()
            self.pid = os.getpid()
            self.layout = 0  # the process's Cache of the handle may predate a re-layout
        return self.pool

    def revived(self) -> Pool:
        """The pool, its cache laid out again first if its directory was removed meanwhile.

        joblib.Memory users clear a cache with ``shutil.rmtree(location)`` and
        keep using the memory; a new cache there makes that work again (the
        store only ever finds complete entries, so nothing stale can load).
        Every memory and function of this process on that cache then takes a
        new store: the old one remembers directories it made, which are gone.
        """
        pool = self.get()
        cache = pool.cache
        if not isinstance(cache.path, Path):
            return pool  # an object store has no directory to lose
        url = cache.url
        if not os.path.exists(os.path.join(url, "VERSION")):
            with _layouts_lock:
                if not os.path.exists(os.path.join(url, "VERSION")):
                    logger.info("cache %s was removed; laying it out again", url)
                    reopened(cache, cache.mmap, fresh=True)
                    _layouts[url] = _layouts.get(url, 0) + 1
        layout = _layouts.get(url, 0)
        if self.layout != layout:
            pool = reopened(cache, cache.mmap, fresh=True).create_pool(pool.name, reuse=True)
            self.pool, self.layout = pool, layout
        return pool


# How many times this process laid each cache directory out again (see Opened.revived).
_layouts: dict[str, int] = {}
_layouts_lock = threading.Lock()


def reopened(cache: Cache, mmap: str | None, fresh: bool = False) -> Cache:
    """``cache`` itself, or the same cache opened again with another ``mmap`` mode.

    With ``fresh``, always a new `Cache` object, which lays the directory out
    again if it is gone.
    """
    if cache.mmap == mmap and not fresh:
        return cache
    return Cache(
        cache.url,
        durable=cache.durable,
        mmap=mmap,
        verify_loads=cache.verify_loads,
        shared=cache.shared,
        secret=cache.secret,
        lease_timeout=cache.leases.timeout,
        lease_stale=cache.leases.stale,
        storage_options=cache.storage_options or None,
    )


# Actions made for plain functions, by (function, ignored names): libraries call
# memory.cache(func) on every fit, and the code fingerprint is worth taking
# once per process, as @recyclable takes it once per decoration.  Bounded, as
# the actions keep their functions alive.
_ACTIONS_MAX = 256
_actions: OrderedDict[tuple[Any, tuple[str, ...]], tuple[Any, ActionSpec, Any]] = OrderedDict()
_actions_lock = threading.Lock()


def _decorate(target: Callable[..., Any], **options: Any) -> tuple[Any, ActionSpec]:
    """``@recyclable(**options)(target)`` and the spec its wrapper keys with."""
    attributes = getattr(target, "__dict__", None)
    with _actions_lock:
        before = dict(attributes) if isinstance(attributes, dict) else None
        action = recyclable(**options)(target)
        # Read at once: wrapt passes the attribute through to the function, so a
        # later decoration of the same function would replace what is read here.
        spec: ActionSpec = action.__recyclable__
        if before is not None and attributes is not None:
            # The function is left as it was: the action is called with any
            # instance as an argument, so it needs no spec on the function, and
            # one there (holding this process's live code checks) would make a
            # function pickled by value (cloudpickle, for worker processes)
            # unpicklable once its key has been computed.
            if "__recyclable__" in before:
                attributes["__recyclable__"] = before["__recyclable__"]
            else:
                attributes.pop("__recyclable__", None)
    # As with joblib.Memory, a cached function may change its arguments (a
    # Pipeline's _fit_transform_one fits the clone it is given and returns it).
    spec.checks_arguments = False
    return action, spec


def _action_for(target: Callable[..., Any], ignore: tuple[str, ...]) -> tuple[Any, ActionSpec]:
    """The ``@recyclable(ignore=...)`` action of ``target`` and its spec, made once, then reused."""
    key = (target, ignore)
    code = getattr(target, "__code__", None)
    try:
        with _actions_lock:
            made = _actions.get(key)
            if made is not None and made[2] is code:
                _actions.move_to_end(key)
                return made[0], made[1]
    except TypeError:  # an unhashable callable: made each time
        return _decorate(target, ignore=list(ignore))
    action, spec = _decorate(target, ignore=list(ignore))
    with _actions_lock:
        _actions[key] = (action, spec, code)
        _actions.move_to_end(key)
        while len(_actions) > _ACTIONS_MAX:
            _actions.popitem(last=False)
    return action, spec


def _call_target(func: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """The function a callable runs, with the arguments it puts in front of the caller's.

    A partial's arguments, a bound method's instance and a callable object
    itself become arguments of the plain function, so they are keyed by value
    like any other argument (``obj.f(x)`` keys as ``Class.f(obj, x)``).
    """
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    for _ in range(16):  # partials of bound methods of partials... end somewhere
        if isinstance(func, RecyclableFunction):
            break
        if isinstance(func, wrapt.BoundFunctionWrapper) and isinstance(
            func._self_parent, RecyclableFunction
        ):
            # An @recyclable method reached through a class or an instance.
            # Never wrap the bound wrapper in another action: both would take
            # the same key, and the outer one's claim would block the inner.
            parent, instance = func._self_parent, func._self_instance
            if isinstance(parent.__wrapped__, types.FunctionType):
                # obj.step: the action itself, the instance in front (wrapt
                # keeps it on the bound wrapper, not in __self__).
                if instance is not None:
                    args = (instance, *args)
                func = parent
                break
            func = func.__wrapped__  # a class or static method: the plain one
            continue
        if isinstance(func, functools.partial):
            args = (*func.args, *args)
            kwargs = {**func.keywords, **kwargs}
            func = func.func
        elif inspect.ismethod(func):
            args = (func.__self__, *args)
            func = func.__func__
        elif not inspect.isroutine(func) and not isinstance(func, type):
            call = inspect.getattr_static(type(func), "__call__", None)
            if not isinstance(call, types.FunctionType):
                break  # a ufunc or another object whose call is not Python code
            args = (func, *args)
            func = call
        else:
            break
    return func, args, kwargs


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
