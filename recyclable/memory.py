"""`Memory`: joblib.Memory's interface on a pool, for libraries that take a ``memory=``.

scikit-learn's ``Pipeline`` (also nested in a ``FeatureUnion`` or a
``ColumnTransformer``), ``AgglomerativeClustering`` and ``OPTICS``, and many
scientific packages built the same way, accept any object with a ``cache``
method and call ``memory.cache(func)(...)``.  A `Memory` answers
those calls from a recyclable pool::

    pipe = Pipeline([...], memory=recyclable.Memory("cache_path"))
    pipe = Pipeline([...], memory=pool.memory())

Each cached function is an ``@recyclable`` action (`recyclable.decorator`):
the same key (code identity, bound argument values, ``ignore=``), the same
lookup, single-flight claim and atomic store.  The memory carries a
`PoolHandle`, not an open pool, so it needs no ``with pool:`` block, works in
worker processes and pickles (never with a secret).  While a cached function
runs, its pool is active, so the ``@recyclable`` steps it calls recycle too.

Maintenance (``clear``, ``reduce_size``) only removes this pool's markers and
then collects garbage, so entries another pool keeps are never lost and a
running writer is never hurt (`Cache.garbage_collect`).
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from recyclable.cache import Cache, GarbageReport
from recyclable.errors import ConfigurationError
from recyclable.handle import PoolHandle
from recyclable.manifest import Manifest
from recyclable.memorized import MemorizedFunc, NotMemorizedFunc, created_at, entry_size
from recyclable.memorypool import Opened, reopened
from recyclable.pool import Pool
from recyclable.store.local import LocalStore

__all__ = ["MemorizedFunc", "Memory", "NotMemorizedFunc"]

logger = logging.getLogger("recyclable")

# joblib's mmap modes and what they become.  "r+" and "w+" would let a caller
# write into stored data, changing a result for every later run: refused.
_MMAP_MODES: Mapping[str | None, str | None] = {None: None, "r": "r", "c": "c"}
# Cache(...) options a Memory passes on; `mmap` is spelled mmap_mode here.
_CACHE_OPTIONS = frozenset(
    {"durable", "verify_loads", "shared", "secret", "lease_timeout", "lease_stale",
     "storage_options"}
)  # fmt: skip
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_UNSET: Any = False  # joblib's "use the memory's mmap_mode" is False
# joblib's compressor names, accepted in compress= as it accepts them.
_COMPRESSORS = frozenset({"zlib", "gzip", "bz2", "lzma", "xz", "lz4"})
# The folder a Memory creates inside a directory that holds other files.
SUBFOLDER = "recyclable"


def _check_mmap(mode: object, where: str) -> str | None:
    if mode not in _MMAP_MODES:
        raise ConfigurationError(
            f"{where} got {mode!r}; use None (load into memory), 'r' (read-only map) or "
            "'c' (copy-on-write map). 'r+' and 'w+' would write into stored results, which "
            "recyclable never allows: use 'c' to modify loaded arrays"
        )
    return _MMAP_MODES[mode]  # type: ignore[index]


def _check_joblib_options(
    compress: object, backend: object, backend_options: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """Check joblib's storage options; return the ``backend_options`` recyclable reads.

    ``compress`` is accepted (joblib code passes it routinely) but not
    honoured: results are stored uncompressed so large arrays load
    memory-mapped and identical data is stored once.  Leaving it out changes
    no result, only the size on disk, so it is logged, not refused.
    """
    if not _valid_compress(compress):
        raise ConfigurationError(
            f"Memory(compress=...) got {type(compress).__name__} {compress!r}; joblib takes "
            "a bool, an int 0-9, a compressor name or a (name, level) tuple. recyclable "
            "stores results uncompressed either way (arrays load memory-mapped): pass "
            "compress=False, or keep the cache on a compressing filesystem"
        )
    if compress not in (False, 0, None):
        logger.info(
            "Memory(compress=%r): recyclable stores results uncompressed (large arrays "
            "load memory-mapped, identical data is stored once); compress is ignored",
            compress,
        )
    if backend != "local":
        raise ConfigurationError(
            f"Memory(backend=...) got {backend!r}; recyclable picks the store from the "
            "location: pass a directory, or an object-store URL such as 's3://bucket/prefix'"
        )
    options = dict(backend_options or {})
    unknown = sorted(set(options) - {"compress", "mmap_mode"})
    if unknown:
        raise ConfigurationError(
            f"Memory(backend_options=...) got {unknown} in {backend_options!r}; recyclable "
            "reads only 'mmap_mode' and 'compress' there (as joblib's local store): pass "
            "mmap_mode= directly, and storage_options={...} for an object-store URL"
        )
    if "compress" in options:
        _check_joblib_options(options["compress"], backend, None)
    return options


def _valid_compress(compress: object) -> bool:
    if compress is None or isinstance(compress, bool):
        return True
    if isinstance(compress, int):
        return 0 <= compress <= 9
    if isinstance(compress, str):
        return compress in _COMPRESSORS
    return (
        isinstance(compress, tuple)
        and len(compress) == 2
        and compress[0] in _COMPRESSORS
        and isinstance(compress[1], int)
    )


def _open_cache(location: object, mmap: str | None, options: dict[str, Any]) -> Cache:
    unknown = sorted(set(options) - _CACHE_OPTIONS)
    if unknown:
        hint = "; use mmap_mode=" if "mmap" in unknown else ""
        raise TypeError(
            f"Memory() got unexpected option(s) {unknown}{hint}; it takes joblib's "
            f"location, mmap_mode, verbose, compress, backend, backend_options, and the "
            f"Cache options {sorted(_CACHE_OPTIONS)}"
        )
    if isinstance(location, Cache):
        if options:
            raise ConfigurationError(
                f"Memory(location=<Cache>) got Cache options {sorted(options)}; they belong "
                "to the Cache: pass them to Cache(...), or pass a path to Memory"
            )
        return reopened(location, mmap)
    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(
            f"Memory(location=...) expects None, a path, a Cache or a Pool, got "
            f"{type(location).__name__} {location!r}; e.g. Memory('cache_path')"
        )
    return Cache(_cache_dir(location), mmap=mmap, **options)


def _cache_dir(location: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """Where a Memory keeps its cache: ``location`` itself, or a folder inside it.

    A recyclable cache, an empty or a new directory (and an object-store URL)
    is the cache itself.  A directory already holding other files (a
    project's folder, a test's tmpdir, a joblib cache) gets a ``recyclable``
    folder inside it, as joblib.Memory keeps its ``joblib`` folder: the
    files there are never touched.
    """
    path = os.fspath(location)
    if "://" in str(path) or not os.path.isdir(path):
        return location
    if os.path.exists(os.path.join(path, "VERSION")) or not os.listdir(path):
        return location
    inner = os.path.join(path, SUBFOLDER)
    logger.debug("Memory(%r): the directory holds other files; caching in %s", path, inner)
    return inner


class Memory:
    """joblib.Memory's interface on a recyclable pool: pass it wherever a ``memory=`` is taken.

    The arguments up to ``backend_options`` are joblib's, in joblib's order.

    Args:
        location: a cache directory (created if absent; a directory that
            already holds other files gets a ``recyclable`` folder inside it),
            an object-store URL, a `Cache`, a `Pool`, or None for no caching
            at all (as in joblib).
        backend: only ``"local"`` is accepted; the location picks the store.
        mmap_mode: how large stored arrays are loaded: None (into memory,
            joblib's default), ``"r"`` (read-only map) or ``"c"`` (copy-on-write).
            A `Cache` or `Pool` given as ``location`` keeps its own ``mmap``
            unless this is given.
        compress: accepted in joblib's spellings and not honoured: results
            are stored uncompressed (so large arrays load memory-mapped).
        verbose: accepted for joblib compatibility; recyclable never prints,
            it logs to ``logging.getLogger("recyclable")``.
        backend_options: joblib's ``mmap_mode`` and ``compress`` keys only.
        pool: the pool that keeps the results (ignored when ``location`` is a Pool).
        **cache_options: `Cache` options: ``durable``, ``verify_loads``,
            ``shared``, ``secret``, ``lease_timeout``, ``lease_stale``,
            ``storage_options``.

    Attributes:
        location: the location given (a Cache or Pool is recorded by its cache's URL).
        mmap_mode: the memory's mmap mode.

    Raises:
        ConfigurationError: an option joblib has that recyclable does not honour.
        TypeError: an argument of the wrong type, or an unknown option.
        PoolNameError: ``pool`` is not a valid pool name.

    Example:
        >>> from sklearn.pipeline import Pipeline                    # doctest: +SKIP
        >>> pipe = Pipeline([("pca", PCA()), ("svc", SVC())],
        ...                 memory=recyclable.Memory("cache_path"))
        >>> pipe.fit(X, y)        # a second fit, in any process, loads the fitted PCA

    """

    def __init__(
        self,
        location: str | os.PathLike[str] | Cache | Pool | None = None,
        backend: str = "local",
        mmap_mode: str | None = _UNSET,
        compress: bool | int = False,
        verbose: int | None = 0,
        backend_options: Mapping[str, Any] | None = None,
        *,
        pool: str = "memory",
        **cache_options: Any,
    ) -> None:
        joblib_options = _check_joblib_options(compress, backend, backend_options)
        if "mmap_mode" in joblib_options:  # joblib lets backend_options override mmap_mode
            mmap_mode = joblib_options["mmap_mode"]
        if mmap_mode is _UNSET:
            own = location.cache if isinstance(location, Pool) else location
            mmap_mode = own.mmap if isinstance(own, Cache) else None
        mmap = _check_mmap(mmap_mode, "Memory(mmap_mode=...)")
        self.mmap_mode = mmap
        self.verbose = verbose
        self._handle: PoolHandle | None = None
        self._opened = Opened(None)
        # The same pool opened with another mmap mode, for cache(mmap_mode=...).
        self._siblings: dict[str | None, Pool] = {}
        if location is None:
            unknown = sorted(set(cache_options) - _CACHE_OPTIONS)
            if unknown:
                raise TypeError(f"Memory() got unexpected option(s) {unknown}")
            self.location: Any = None
            return
        if isinstance(location, Pool):
            if cache_options:
                raise ConfigurationError(
                    f"Memory(location=<Pool>) got Cache options {sorted(cache_options)}; "
                    "they belong to the pool's Cache"
                )
            opened = location
            if location.cache.mmap != mmap:
                opened = reopened(location.cache, mmap).create_pool(location.name, reuse=True)
            self.location = location.cache.url
        else:
            cache = _open_cache(location, mmap, cache_options)
            opened = cache.create_pool(pool, reuse=True)
            self.location = cache.url if isinstance(location, Cache) else location
        self._handle = PoolHandle.of(opened)
        self._opened = Opened(self._handle, opened)

    @classmethod
    def _restore(
        cls, location: Any, handle: PoolHandle | None, mmap_mode: str | None, verbose: Any
    ) -> Memory:
        memory = cls.__new__(cls)
        memory.location = location
        memory.mmap_mode = mmap_mode
        memory.verbose = verbose
        memory._handle = handle
        memory._opened = Opened(handle)
        memory._siblings = {}
        return memory

    def __reduce__(self) -> tuple[Any, ...]:
        # The handle names the pool without credentials; the worker opens it there.
        return (Memory._restore, (self.location, self._handle, self.mmap_mode, self.verbose))

    def __recyclable_fingerprint__(self) -> object:
        # Where results are cached never changes them: a step that receives a
        # memory (a nested Pipeline, say) keys the same for every location.
        return ("recyclable.Memory", self.location is None)

    def __repr__(self) -> str:
        where = "" if self._handle is None else f", pool={self._handle.pool!r}"
        return f"Memory(location={self.location!r}{where})"

    @property
    def pool(self) -> Pool | None:
        """The pool results are kept in (opened in this process), or None without a location."""
        return self._opened.get() if self._handle is not None else None

    @property
    def handle(self) -> PoolHandle | None:
        """The picklable handle of the pool, or None without a location."""
        return self._handle

    def cache(
        self,
        func: Callable[..., Any] | None = None,
        ignore: Iterable[str] | None = None,
        verbose: int | None = None,
        mmap_mode: str | None = _UNSET,
        cache_validation_callback: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Any:
        """Return ``func`` cached in this memory's pool (or, without ``func``, a decorator).

        Args:
            func: the function to cache.  Without it, returns a decorator taking it.
            ignore: parameter names left out of the key.
            verbose: accepted for joblib compatibility; messages go to logging.
            mmap_mode: this function's mmap mode; by default the memory's.
            cache_validation_callback: called with a stored result's metadata
                (``duration``, ``time``, ``input_args``) before it is used; when
                it returns False the entry is dropped and the call recomputed
                (`joblib.expires_after`-style callbacks work).

        Returns:
            A `MemorizedFunc`, or a `NotMemorizedFunc` when ``location`` is None.

        Raises:
            ValueError: ``ignore`` names a parameter ``func`` does not have, or
                ``cache_validation_callback`` is not callable.
            ConfigurationError: an mmap mode recyclable refuses.

        Example:
            >>> @memory.cache(ignore=["n_jobs"])                   # doctest: +SKIP
            ... def embed(X, n_components, n_jobs=1): ...

        """
        if cache_validation_callback is not None and not callable(cache_validation_callback):
            raise ValueError(  # worded as joblib's, which code may match
                f"cache_validation_callback needs to be callable. Got "
                f"{cache_validation_callback!r} ({type(cache_validation_callback).__name__}); "
                "pass a function taking the stored result's metadata, e.g. "
                "joblib.expires_after(days=1)"
            )
        if func is None:
            return functools.partial(
                self.cache,
                ignore=ignore,
                verbose=verbose,
                mmap_mode=mmap_mode,
                cache_validation_callback=cache_validation_callback,
            )
        if isinstance(func, (MemorizedFunc, NotMemorizedFunc)):
            func = func.func
        if self._handle is None:
            return NotMemorizedFunc(func)
        handle = self._handle
        before = self._opened.pool
        opened = self._opened.revived()
        if opened is not before:  # opened anew (a removed cache laid out again, a fork)
            self._siblings.clear()
        if mmap_mode is not _UNSET:
            mode = _check_mmap(mmap_mode, "cache(mmap_mode=...)")
            if mode != handle.mmap:
                if mode not in self._siblings:
                    sibling = reopened(opened.cache, mode).create_pool(handle.pool, reuse=True)
                    self._siblings[mode] = sibling
                opened = self._siblings[mode]
                handle = PoolHandle.of(opened)
        return MemorizedFunc(
            func,
            handle,
            pool=opened,
            ignore=ignore,
            cache_validation_callback=cache_validation_callback,
            verbose=verbose,
        )

    def eval(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``func(*args, **kwargs)`` through this memory: loaded if stored, else computed."""
        return self.cache(func)(*args, **kwargs)

    def clear(self, warn: bool = True) -> None:
        """Drop everything this memory's pool holds; entries other pools keep stay.

        Args:
            warn: accepted for joblib compatibility (the clearing is logged).

        """
        if self._handle is None:
            return
        cache = self._opened.revived().cache
        logger.info("clearing pool %s of cache %s", self._handle.pool, cache.url)
        if self._handle.pool in cache.pools():
            cache.remove_pool(self._handle.pool)
        cache.create_pool(self._handle.pool, reuse=True)

    def reduce_size(
        self,
        bytes_limit: int | str | None = None,
        items_limit: int | None = None,
        age_limit: datetime.timedelta | None = None,
    ) -> GarbageReport | None:
        """Drop this pool's oldest results until it fits the limits; report what was collected.

        Results are ranked by when they were stored (recyclable records no
        access times); the newest are kept.  An entry another pool also keeps
        is only released from this pool.

        Args:
            bytes_limit: the pool's size limit, in bytes or as ``"10M"`` (K, M, G).
            items_limit: how many results to keep at most.
            age_limit: drop results stored longer ago than this.

        Returns:
            The garbage collection's report, or None when nothing was asked.

        Raises:
            ValueError: a negative or malformed limit.

        """
        limit = _parse_bytes(bytes_limit)
        if items_limit is not None and (isinstance(items_limit, bool) or items_limit < 0):
            raise ValueError(f"reduce_size(items_limit=...) got {items_limit!r}; use an int >= 0")
        if age_limit is not None and age_limit < datetime.timedelta(0):
            raise ValueError(  # worded as joblib's, which code may match
                f"reduce_size(age_limit=...) got {age_limit!r}; age_limit has to be a "
                "positive timedelta (or zero)"
            )
        if self._handle is None or (limit is None and items_limit is None and age_limit is None):
            return None
        pool = self._opened.revived()
        store = pool.cache.store
        now = time.time()
        entries = sorted(
            ((_stored_at(pool, m), entry_size(m), str(m["key"])) for m in pool.entries()),
            reverse=True,
        )
        total = 0
        # Newest first: once a limit is passed, every older entry is past it too,
        # so what stays is the newest run of entries, as in joblib.
        for kept, (stored, size, key) in enumerate(entries):
            total += size
            if (
                (items_limit is not None and kept >= items_limit)
                or (limit is not None and total > limit)
                or (age_limit is not None and now - stored > age_limit.total_seconds())
            ):
                store.remove_marker(pool.name, key)
        return pool.cache.garbage_collect()


def _parse_bytes(limit: int | str | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        return limit
    if isinstance(limit, str):
        match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)\s*", limit.upper())
        if match:
            return int(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(
        f"reduce_size(bytes_limit=...) got {limit!r}; use a number of bytes >= 0 or a "
        "str such as '500M' (units K, M, G)"
    )


def _stored_at(pool: Pool, manifest: Manifest) -> float:
    """When the pool took the entry: its marker's mtime on a local disk, else when stored."""
    store = pool.cache.store
    key = str(manifest["key"])
    if isinstance(store, LocalStore):
        try:
            return os.stat(store.pool_dir(pool.name) / key[:2] / key).st_mtime
        except OSError:
            pass
    return created_at(manifest)
