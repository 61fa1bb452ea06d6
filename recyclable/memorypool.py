"""A memory's pool in this process: opened once per process, laid out again if removed.

`Opened` is what `recyclable.Memory` and each `MemorizedFunc` hold: the pool
given at construction, or the one a `PoolHandle` opens in this process (a
forked child opens its own).  joblib.Memory users clear a cache with
``shutil.rmtree(location)`` and keep using the memory, so `Opened.revived`
lays a removed cache directory out again and hands every memory and cached
function of the process on it a new store.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from recyclable.cache import Cache
from recyclable.handle import PoolHandle
from recyclable.pool import Pool

__all__ = ["Opened", "reopened"]

logger = logging.getLogger("recyclable")


class Opened:
    """The pool of a handle in this process: the one given here, else opened once per process."""

    def __init__(self, handle: PoolHandle | None, pool: Pool | None = None) -> None:
        self.handle = handle
        self.pool = pool
        self.pid = os.getpid()
        # Which re-layout of the cache directory this pool's store has seen.
        self.layout = _layouts.get(pool.cache.url, 0) if pool is not None else 0

    def get(self) -> Pool:
        """The pool, opened from the handle on first use in this process."""
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
