"""``@recyclable``: wrapping, binding and the whole path of one call.

::

    f(*args, **kw)
      └─ no active pool, or RECYCLABLE_DISABLE true? → f(*args, **kw), nothing else
           └─ bind arguments (defaults applied) → CallKey (action, code, argument digests)
                └─ pool.lookup(key)      verified entry? → return the stored result
                     └─ pool.claim(key)  another caller computing it? → wait for its result,
                          │              take over if it died, compute after a timeout
                          └─ f runs           an exception propagates; nothing is stored
                               └─ pool.store_result  blobs → (arguments unchanged? result
                                    survives a round trip?) → marker → manifest → release
                                    the claim → return the value as a hit would load it

A hit and a miss give back the same: a miss returns the stored result as a
hit would load it (see `Pool.store_result`), and arguments declared with
``mutates=`` are put back in place from the stored state on both paths (see
`recyclable.mutation`).

Built on ``wrapt.FunctionWrapper`` so that functions, instance, class and
static methods, nested and async functions keep their signature, docstring
and binding.  The wrapper pickles by reference (module + qualified name), so a
decorated module-level function can be sent to a process pool.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

import wrapt

from recyclable import _context, _env, mutation, valuewatch
from recyclable._context import active_pool
from recyclable.callkey import ActionSpec, CallKey
from recyclable.pool import Pool

__all__ = ["RecyclableFunction", "recyclable"]

logger = logging.getLogger("recyclable")
_INFO = logging.INFO

# Bound once: looking ``get`` up on the ContextVar on every call costs more
# than the read itself, and the no-pool path is nothing but that read.
_active_pool_get = active_pool.get

F = TypeVar("F", bound=Callable[..., Any])


class RecyclableFunction(wrapt.FunctionWrapper):  # type: ignore[type-arg]
    """A function decorated with ``@recyclable``; call it like the original.

    Attributes:
        __recyclable__: the `ActionSpec` (plugin, action name, version, ignored arguments).

    """

    @property
    def __recyclable__(self) -> ActionSpec:
        spec: ActionSpec = self._self_recyclable
        return spec

    @__recyclable__.setter
    def __recyclable__(self, spec: ActionSpec) -> None:
        self._self_recyclable = spec

    def __reduce_ex__(self, protocol: Any) -> str:
        # Pickle by reference, like the plain function would be: the receiving
        # process imports the module and finds this same wrapper there.
        return str(self.__qualname__)


def _recycled_call(
    spec: ActionSpec,
    pool: Pool,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    implicit: Implicit | None = None,
) -> Any:
    """The path of one call while a pool is active (see the module docstring)."""
    if _env.recycling_disabled():
        return wrapped(*args, **kwargs)
    if implicit is None and instance is None:
        # A plain function: bind and key here, one frame fewer on every call.
        bound = spec.bind(args, kwargs)
        if bound is None:
            return wrapped(*args, **kwargs)  # the call itself raises Python's TypeError
        callkey: CallKey | None = spec.key_for(bound)
    else:
        callkey = _key(spec, instance, args, kwargs, implicit)
    if callkey is None:
        return wrapped(*args, **kwargs)
    if spec.is_async:
        return _call_async(spec, pool, callkey, wrapped, args, kwargs)
    steps = pool.steps
    # Recorded, but made the parent of nested calls only if it computes: a
    # loaded call runs no code that could make one.
    step = steps.record(callkey, callkey.bound)
    token = None
    try:
        hit = pool.lookup(callkey)
        if hit is not None:
            steps.loaded(step, hit.value, hit.manifest, hit.size, hit.saved)
            if logger.isEnabledFor(_INFO):
                _log_hit(pool, callkey, hit.manifest)
            if spec.mutates:
                return mutation.replay(spec, callkey.bound, hit.value)
            return hit.value
        claim = pool.claim(callkey)
        if claim.result is not None:
            steps.loaded(step, claim.result.value, claim.result.manifest, claim.result.size)
            _log_hit(pool, callkey, claim.result.manifest)
            return mutation.replay(spec, callkey.bound, claim.result.value)
        token = steps.enter(step)
        try:
            _log_miss(pool, callkey, step.depth)
            start = time.perf_counter()
            try:
                result = wrapped(*args, **kwargs)
            finally:
                valuewatch.refresh(callkey.watches)  # what the step did to values it read
            seconds = time.perf_counter() - start
            steps.returned(step, result, seconds)
            result = _keep(spec, pool, callkey, result, seconds)
            steps.handed_back(step, result)
        finally:
            pool.release(claim)
        return result
    except BaseException as exc:
        steps.failed(step, exc)
        raise
    finally:
        # A loaded step was never entered and has nothing pending: `end` would do nothing.
        if token is not None or step.state == "running":
            steps.end(step, token)


def _keep(spec: ActionSpec, pool: Pool, callkey: CallKey, result: Any, seconds: float) -> Any:
    """Store a computed result unless the call changed an argument; return what a hit would."""
    watch = mutation.Watch(spec, callkey)  # re-hashes large arguments while the result is written
    value = mutation.record(spec, callkey.bound, result)
    if value is mutation.UNSTORABLE:
        return result
    stored, returned = pool.store_result(callkey, value, seconds, gate=watch.unchanged)
    if not stored:
        return result
    return mutation.replay(spec, callkey.bound, returned)


async def _call_async(
    spec: ActionSpec,
    pool: Pool,
    callkey: CallKey,
    wrapped: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    steps = pool.steps
    step, token = steps.begin(callkey, callkey.bound)
    try:
        hit = pool.lookup(callkey)
        if hit is not None:
            steps.loaded(step, hit.value, hit.manifest, hit.size)
            _log_hit(pool, callkey, hit.manifest)
            return mutation.replay(spec, callkey.bound, hit.value)
        # Waiting for another caller blocks: do it off the event loop.
        claim = await asyncio.to_thread(pool.claim, callkey)
        if claim.result is not None:
            steps.loaded(step, claim.result.value, claim.result.manifest, claim.result.size)
            _log_hit(pool, callkey, claim.result.manifest)
            return mutation.replay(spec, callkey.bound, claim.result.value)
        try:
            _log_miss(pool, callkey, step.depth)
            start = time.perf_counter()
            try:
                result = await wrapped(*args, **kwargs)
            finally:
                valuewatch.refresh(callkey.watches)
            seconds = time.perf_counter() - start
            steps.returned(step, result, seconds)
            result = _keep(spec, pool, callkey, result, seconds)
            steps.handed_back(step, result)
        finally:
            pool.release(claim)
        return result
    except BaseException as exc:
        steps.failed(step, exc)
        raise
    finally:
        steps.end(step, token)


def _key(
    spec: ActionSpec,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    implicit: Implicit | None = None,
) -> CallKey | None:
    # The arguments a decorated partial or callable instance adds itself.
    if implicit is not None:
        args = (*implicit[0], *args)
        kwargs = {**implicit[1], **kwargs}
    # wrapt hands methods over with their instance (or class, for class
    # methods) split off; put it back so the arguments bind to the plain
    # function's signature and `obj.f(x)` and `Class.f(obj, x)` share a key.
    if instance is not None:
        args = (instance, *args)
    bound = spec.bind(args, kwargs)
    if bound is None:
        return None  # the call itself raises Python's TypeError
    return spec.key_for(bound)


# While `_context.live` is empty no context anywhere has a pool active, and a
# call is the plain call after one global read (of this very set object),
# without reading the ContextVar, which is most of what the no-pool path
# costs.  A pool's activation is in the set before the pool becomes active and
# leaves it only when no context can see that pool any more (see _context).
# This marker keeps the read on until the first call with no pool has been
# noted, once per process.
_NOTE_PENDING = 0  # never the id of an object
_maybe_active = _context.live
_maybe_active.add(_NOTE_PENDING)


def _note_no_pool(spec: ActionSpec) -> None:
    """Log once per process that a decorated call ran with no pool (a worker the pool missed)."""
    try:
        _maybe_active.remove(_NOTE_PENDING)  # atomic: one thread notes it
    except KeyError:
        return
    logger.info(
        "%s ran with no active pool: nothing is recycled in this process until a pool is "
        "entered (noted once). Steps sent to worker threads or processes need the pool sent "
        "along: submit recyclable.bind(step), or use recyclable.recycling(executor)",
        spec.action,
    )


def _log_hit(pool: Pool, callkey: CallKey, manifest: Mapping[str, Any]) -> None:
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "loaded %s (key %s) from pool %s: computed %s in %.3f s",
            callkey.action,
            callkey.key[:12],
            pool.name,
            manifest.get("created", "earlier"),
            float(manifest.get("compute_seconds", 0.0)),
        )


def _log_miss(pool: Pool, callkey: CallKey, depth: int = 0) -> None:
    if logger.isEnabledFor(logging.INFO):
        # Comparing with stored calls reads manifests: bounded, and only when
        # someone is listening.
        why = pool.explain_key(callkey, limit=2000)
        if depth == 0 and why.startswith("new call"):
            # On a resume the pipeline's own call was never stored (it failed):
            # say that its stored steps still load, lest it read as a full recompute.
            why += "; the recyclable steps it calls are still loaded where stored"
        logger.info("computing %s (key %s): %s", callkey.action, callkey.key[:12], why)


@overload
def recyclable(func: F) -> F: ...


@overload
def recyclable(
    func: None = None,
    *,
    name: str | None = None,
    plugin: str | None = None,
    version: str | int | None = None,
    ignore: Iterable[str] = (),
    files: Iterable[str] = (),
    mutates: Iterable[str] = (),
) -> Callable[[F], F]: ...


def recyclable(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    plugin: str | None = None,
    version: str | int | None = None,
    ignore: Iterable[str] = (),
    files: Iterable[str] = (),
    mutates: Iterable[str] = (),
) -> Any:
    """Make a function's results recyclable while a pool is active.

    With no active pool (or with ``RECYCLABLE_DISABLE`` true) the function is
    called as if undecorated.  With a pool active (``with pool:``), each call's
    arguments are fingerprinted; a stored result for the same call is loaded
    instead of running the function, and a new result is stored.

    Args:
        func: the function (when used bare, ``@recyclable``).
        name: the action's name in keys and logs; defaults to the qualified name.
        plugin: the plugin's name; defaults to the top-level package.
        version: pin the action's version: the key then uses it instead of a
            fingerprint of the code, so edits do not invalidate stored results
            until you change it.
        ignore: parameter names left out of the key (e.g. ``threads``, a logger).
        files: parameter names whose values are paths to input files or
            directories, keyed by content (see `recyclable.InputFile`).
        mutates: parameter names whose objects the function changes in place
            (``"self"`` for a ``fit`` method): their state after the call is
            stored with the result and restored in place on a hit.  An
            argument that changes without being named here makes the result
            not stored, with a `NotRecyclableWarning`.

    Raises:
        TypeError: the decorated object is not callable, or an option has the wrong type.
        ValueError: ``ignore`` names a parameter the function does not have.

    Example:
        >>> from recyclable import recyclable
        >>> @recyclable
        ... def denoise(reads, min_quality=20):
        ...     return [r for r in reads if r >= min_quality]
        >>> denoise([10, 30])          # no active pool: a plain call
        [30]

    """
    _check_options(
        name=name, plugin=plugin, version=version, ignore=ignore, files=files, mutates=mutates
    )
    ignored = (ignore,) if isinstance(ignore, str) else tuple(ignore)
    file_params = (files,) if isinstance(files, str) else tuple(files)
    mutated = (mutates,) if isinstance(mutates, str) else tuple(mutates)

    def decorate(target: Callable[..., Any]) -> Any:
        if not callable(target) and not isinstance(target, (classmethod, staticmethod)):
            raise TypeError(
                f"@recyclable must decorate a function or method, got "
                f"{type(target).__name__} {target!r}"
            )
        plain, implicit = _underlying(target, top=True)
        try:
            inspect.signature(plain)
        except (TypeError, ValueError):
            raise TypeError(
                f"@recyclable cannot read the signature of {type(target).__name__} {target!r}; "
                "wrap it in a def with named parameters and decorate that"
            ) from None
        spec = ActionSpec(
            plain,
            name=name,
            plugin=plugin,
            version=None if version is None else str(version),
            ignore=ignored,
            files=file_params,
            mutates=mutated,
        )

        def wrapper(
            wrapped: Callable[..., Any],
            instance: Any,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            # The hot path when recycling is off: one global read while no
            # context has a pool, else one ContextVar read (and, once per
            # process, a note that nothing is recycled).
            if not _maybe_active:
                return wrapped(*args, **kwargs)
            pool = _active_pool_get()
            if pool is None:
                if _NOTE_PENDING in _maybe_active:
                    _note_no_pool(spec)
                return wrapped(*args, **kwargs)
            return _recycled_call(spec, pool, wrapped, instance, args, kwargs, implicit)

        decorated = RecyclableFunction(target, wrapper)
        decorated.__recyclable__ = spec
        # Arguments a partial or callable instance adds (pool.explain needs them too).
        decorated._self_recyclable_implicit = implicit  # type: ignore[attr-defined]
        if isinstance(target, (types.FunctionType, classmethod, staticmethod)):
            # Methods reached through an instance find the spec on the function.
            target.__recyclable__ = spec  # type: ignore[union-attr]
        if isinstance(target, types.FunctionType) and not hasattr(target, "__self__"):
            # wrapt looks up ``__self__`` on every call of an unbound wrapper, to
            # bind a wrapped bound method; on a plain function that raises and
            # clears an AttributeError (about 3,700 instructions, half of what
            # the wrapper costs).  None gives the very call the failed lookup
            # falls back to: the wrapper with no instance.
            target.__self__ = None  # type: ignore[attr-defined]
        return decorated

    if func is not None:
        return decorate(func)
    return decorate


Implicit = tuple[tuple[Any, ...], dict[str, Any]]


def _underlying(target: Any, *, top: bool) -> tuple[Any, Implicit | None]:
    """The function whose signature and code make the key, and the arguments ``target`` adds.

    A bound method binds to its function with the instance as ``self`` (wrapt
    hands the instance over at the top level), so the instance's state is in
    every call's key; a partial adds its arguments; a callable instance binds
    to its class's ``__call__`` with itself as ``self``.
    """
    if isinstance(target, (classmethod, staticmethod)):
        return target.__func__, None
    if isinstance(target, types.MethodType):
        return target.__func__, None if top else ((target.__self__,), {})
    if isinstance(target, functools.partial):
        inner, added = _underlying(target.func, top=False)
        args, kwargs = added or ((), {})
        return inner, ((*args, *target.args), {**kwargs, **target.keywords})
    if isinstance(target, (types.FunctionType, type)) or hasattr(target, "__wrapped__"):
        return target, None
    call = getattr(type(target), "__call__", None)  # noqa: B004 - the class's own __call__
    if isinstance(call, types.FunctionType):
        return call, ((target,), {})
    return target, None  # a builtin: its own signature, its name and the Python version


def _check_options(
    *,
    name: object,
    plugin: object,
    version: object,
    ignore: object,
    files: object,
    mutates: object,
) -> None:
    for option, value in (("name", name), ("plugin", plugin)):
        if value is not None and (not isinstance(value, str) or not value):
            raise TypeError(
                f"@recyclable({option}=...) expects a non-empty str, got "
                f"{type(value).__name__} {value!r}"
            )
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int))):
        raise TypeError(
            f"@recyclable(version=...) expects a str or int, got {type(version).__name__} "
            f"{version!r}; e.g. version='2'"
        )
    for option, names in (("ignore", ignore), ("files", files), ("mutates", mutates)):
        if isinstance(names, str):
            continue
        try:
            items = list(names)  # type: ignore[call-overload]
        except TypeError:
            raise TypeError(
                f"@recyclable({option}=...) expects parameter names, got "
                f"{type(names).__name__} {names!r}; e.g. {option}=['reads']"
            ) from None
        bad = [item for item in items if not isinstance(item, str)]
        if bad:
            raise TypeError(
                f"@recyclable({option}=...) expects parameter names as str, got {bad!r}"
            )
