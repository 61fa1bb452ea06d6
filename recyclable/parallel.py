"""Recycling in worker threads and processes: `bind` and wrappers for executors and clients.

The active pool is a ContextVar.  It does not cross process boundaries, and
thread pools (``concurrent.futures``, Dask's workers, joblib's threading
backend) do not copy the submitting context into their threads, so a step
submitted as-is runs with no pool and silently does not recycle.

`bind` fixes that in one place: it captures the caller's active pool as a
picklable `PoolHandle` when the work is submitted, and activates the pool
around the call wherever the call runs.  The wrappers below bind for you::

    with cache.create_pool("run", reuse=True):
        with recycling(ProcessPoolExecutor()) as executor:
            results = list(executor.map(denoise, samples))

    with cache.create_pool("run", reuse=True):
        results = recycling(Parallel(n_jobs=4))(delayed(denoise)(s) for s in samples)

    with cache.create_pool("run", reuse=True):
        futures = recycling(dask_client).map(denoise, samples)

The lookup happens inside the worker, so any step of a graph can resume,
whatever engine runs it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import Any, Generic, ParamSpec, TypeVar

from recyclable._context import current_pool
from recyclable.handle import PoolHandle
from recyclable.pool import Pool

__all__ = [
    "BoundCall",
    "RecyclingClient",
    "RecyclingExecutor",
    "RecyclingParallel",
    "bind",
    "recycling",
]

P = ParamSpec("P")
R = TypeVar("R")


class BoundCall(Generic[P, R]):
    """A callable that runs ``fn`` with a captured pool active; pickles to ``(fn, handle)``.

    Made by `bind`.  Calling it opens the pool named by its handle (once per
    process) and runs ``fn`` inside ``with pool:``.  With no handle (nothing
    was active at bind time) it calls ``fn`` as is.

    Attributes:
        fn: the function to call; it must pickle for process-based engines
            (module-level functions and ``@recyclable`` actions do).
        handle: the captured pool, or None.

    """

    def __init__(self, fn: Callable[P, R], handle: PoolHandle | None) -> None:
        # Engines name tasks and progress bars after the function; its
        # attribute dict is not copied (it could shadow ours).
        functools.update_wrapper(self, fn, updated=())
        self.fn = fn
        self.handle = handle

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` with the captured pool active."""
        if self.handle is None:
            return self.fn(*args, **kwargs)
        with self.handle.open():
            return self.fn(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        # Only the function and the handle travel; update_wrapper's copies of
        # the function's attributes are rebuilt on the other side.
        return (BoundCall, (self.fn, self.handle))

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        # The same function bound to another pool is another task.
        return ("recyclable.BoundCall", self.fn, self.handle)

    def __repr__(self) -> str:
        where = "no pool" if self.handle is None else f"pool {self.handle.pool!r}"
        return f"<bound to {where}: {self.fn!r}>"


def bind(fn: Callable[P, R], *, pool: Pool | PoolHandle | None = None) -> BoundCall[P, R]:
    """Capture the active pool now; the returned callable activates it wherever it runs.

    Use it when submitting a step to any engine that runs it in another
    thread or process (``concurrent.futures``, joblib, Dask, Parsl, Ray, ...).
    The returned callable pickles as the function plus a small `PoolHandle`.

    Args:
        fn: the function to call; typically a ``@recyclable`` action, or a
            function that calls some.  Must pickle for process-based engines.
        pool: the pool to activate instead of the one active now (a `Pool`
            or a `PoolHandle`).

    Returns:
        A `BoundCall`; calling it calls ``fn`` with the same arguments.  With
        no pool active and none given it calls ``fn`` plainly.  An already
        bound callable is returned as is unless ``pool`` is given.

    Raises:
        TypeError: ``fn`` is not callable, or ``pool`` is neither a Pool nor a PoolHandle.

    Example:
        >>> from concurrent.futures import ProcessPoolExecutor
        >>> with cache.create_pool("run", reuse=True):          # doctest: +SKIP
        ...     with ProcessPoolExecutor() as executor:
        ...         future = executor.submit(bind(denoise), reads)

    """
    if not callable(fn):
        raise TypeError(
            f"bind(fn=...) expects a callable, got {type(fn).__name__} {fn!r}; pass the "
            "function itself, e.g. bind(denoise), not its result"
        )
    if isinstance(fn, BoundCall) and pool is None:
        return fn
    if pool is None:
        pool = current_pool()
    if pool is None:
        handle = None
    elif isinstance(pool, PoolHandle):
        handle = pool
    elif isinstance(pool, Pool):
        handle = PoolHandle.of(pool)
    else:
        raise TypeError(
            f"bind(pool=...) expects a Pool or a PoolHandle, got {type(pool).__name__} "
            f"{pool!r}; pass cache.create_pool(name, reuse=True) or cache.handle(name)"
        )
    return BoundCall(fn, handle)


class RecyclingExecutor(Executor):
    """A ``concurrent.futures`` executor whose every submitted call recycles.

    Each `submit` and `map` binds the function to the pool active at that
    moment (see `bind`); everything else is the wrapped executor's.

    Args:
        executor: a ``ThreadPoolExecutor``, ``ProcessPoolExecutor`` or any
            other `concurrent.futures.Executor`.

    Raises:
        TypeError: ``executor`` is not a ``concurrent.futures.Executor``.

    Example:
        >>> with cache.create_pool("run", reuse=True):                 # doctest: +SKIP
        ...     with RecyclingExecutor(ProcessPoolExecutor(2)) as executor:
        ...         tables = list(executor.map(feature_table, samples))

    """

    def __init__(self, executor: Executor) -> None:
        if not isinstance(executor, Executor):
            raise TypeError(
                f"RecyclingExecutor(executor=...) expects a concurrent.futures.Executor, got "
                f"{type(executor).__name__} {executor!r}; for Dask use RecyclingClient"
            )
        self.executor = executor

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """Submit ``fn(*args, **kwargs)`` bound to the active pool."""
        return self.executor.submit(bind(fn), *args, **kwargs)

    def map(
        self,
        fn: Callable[..., R],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
    ) -> Iterator[R]:
        """``executor.map`` with ``fn`` bound to the active pool."""
        return self.executor.map(bind(fn), *iterables, timeout=timeout, chunksize=chunksize)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the wrapped executor down."""
        self.executor.shutdown(wait=wait, cancel_futures=cancel_futures)


class RecyclingClient:
    """A Dask ``distributed.Client`` whose `submit` and `map` recycle; all else is the client's.

    Args:
        client: a ``distributed.Client`` (or anything with Dask's ``submit``
            and ``map`` signatures).

    Example:
        >>> client = RecyclingClient(Client(cluster))            # doctest: +SKIP
        >>> with cache.create_pool("run", reuse=True):
        ...     futures = client.map(denoise, samples)
        >>> results = client.gather(futures)

    """

    def __init__(self, client: Any) -> None:
        if not (
            callable(getattr(client, "submit", None)) and callable(getattr(client, "map", None))
        ):
            raise TypeError(
                f"RecyclingClient(client=...) expects a dask.distributed.Client, got "
                f"{type(client).__name__} {client!r}"
            )
        self.client = client

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """``client.submit`` with ``fn`` bound to the active pool."""
        return self.client.submit(bind(fn), *args, **kwargs)

    def map(self, fn: Callable[..., Any], /, *iterables: Any, **kwargs: Any) -> Any:
        """``client.map`` with ``fn`` bound to the active pool."""
        return self.client.map(bind(fn), *iterables, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def __enter__(self) -> RecyclingClient:
        self.client.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.__exit__(*exc_info)


class RecyclingParallel:
    """A ``joblib.Parallel`` whose every task recycles.

    joblib takes tasks from the iterable lazily, partly from its own
    dispatch threads, where no pool is active; so the pool is captured when
    the wrapper is *called* and every task is bound to it as it is taken.

    Args:
        parallel: a ``joblib.Parallel``.

    Example:
        >>> from joblib import Parallel, delayed                          # doctest: +SKIP
        >>> with cache.create_pool("run", reuse=True):
        ...     tables = recycling(Parallel(n_jobs=2))(delayed(feature_table)(s) for s in samples)

    """

    def __init__(self, parallel: Any) -> None:
        self.parallel = parallel

    def __call__(self, iterable: Iterable[tuple[Callable[..., Any], Any, Any]]) -> Any:
        """Run the ``joblib.delayed`` tasks of ``iterable`` with the active pool."""
        pool = current_pool()
        if pool is None:
            return self.parallel(iterable)
        handle = PoolHandle.of(pool)

        def bound_tasks() -> Iterator[tuple[Callable[..., Any], Any, Any]]:
            for fn, args, kwargs in iterable:
                yield bind(fn, pool=handle), args, kwargs

        return self.parallel(bound_tasks())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parallel, name)


def _is_joblib_parallel(engine: Any) -> bool:
    joblib = sys.modules.get("joblib")
    return joblib is not None and isinstance(engine, joblib.Parallel)


def recycling(engine: Any) -> Any:
    """Wrap an executor, a Dask client or a joblib ``Parallel`` so everything run by it recycles.

    Args:
        engine: a ``concurrent.futures.Executor`` (returns a `RecyclingExecutor`),
            a Dask ``distributed.Client`` (returns a `RecyclingClient`) or a
            ``joblib.Parallel`` (returns a `RecyclingParallel`).

    Raises:
        TypeError: ``engine`` is none of these.

    Example:
        >>> with cache.create_pool("run", reuse=True):                 # doctest: +SKIP
        ...     with recycling(ProcessPoolExecutor(4)) as executor:
        ...         outputs = list(executor.map(step, inputs))

    """
    if isinstance(engine, Executor):
        return RecyclingExecutor(engine)
    if _is_joblib_parallel(engine):
        return RecyclingParallel(engine)
    if callable(getattr(engine, "submit", None)) and callable(getattr(engine, "map", None)):
        return RecyclingClient(engine)
    raise TypeError(
        f"recycling(engine=...) expects a concurrent.futures.Executor, a "
        f"dask.distributed.Client or a joblib.Parallel, got {type(engine).__name__} "
        f"{engine!r}; for anything else submit recyclable.bind(fn)"
    )
