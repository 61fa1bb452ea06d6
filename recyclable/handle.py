"""PoolHandle: a small picklable value that re-opens the same pool in any process.

The active pool lives in a ContextVar, which does not cross process
boundaries (and many engines do not copy contexts into their threads either).
A handle is what crosses instead: the cache's location, the pool's name and
the cache options — never credentials.  Opening a handle in a process opens
the cache once and reuses it for every later handle of the same cache, so a
worker that runs a thousand tasks opens one connection to an object store.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recyclable import _env
from recyclable.errors import ConfigurationError

if TYPE_CHECKING:
    from recyclable.cache import Cache
    from recyclable.pool import Pool

__all__ = ["PoolHandle", "public_storage_options"]

# Option names that carry secrets in fsspec backends (s3fs key/secret/token,
# adlfs account_key/sas_token/connection_string, gcsfs token, ...).  They
# never enter a handle: workers read credentials from their own environment.
_SECRET_OPTION = re.compile(
    r"secret|token|passw|credential|private|signature|connection_string|account_key"
    r"|access_key|^key$|_key$|^sas",
    re.IGNORECASE,
)

_CacheKey = tuple[str, bool, "str | None", str, str, bool]

# Caches opened (or handed out) in this process, by location and options.
_caches: dict[_CacheKey, Cache] = {}
_caches_lock = threading.Lock()


def _forget_caches() -> None:
    # A forked child must not share its parent's connections to a store.
    _caches.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_caches)


def public_storage_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` without the entries that look secret (recursively, for nested dicts)."""
    kept: dict[str, Any] = {}
    for name, value in options.items():
        if _SECRET_OPTION.search(str(name)):
            continue
        kept[str(name)] = public_storage_options(value) if isinstance(value, Mapping) else value
    return kept


def _public_url(url: str) -> str:
    """``url`` without a password in its authority part."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class PoolHandle:
    """Where a pool lives, as a small picklable value; `open` it in any process.

    Make one with `Cache.handle` or `PoolHandle.of`; `recyclable.bind` makes
    one for you.  It pickles to a few hundred bytes and holds no credentials.

    Attributes:
        url: the cache's location: an absolute directory or an object-store URL.
        pool: the pool's name.
        durable: the cache's ``durable`` option.
        mmap: the cache's ``mmap`` option.
        options: the non-secret storage options, as canonical JSON.
        verify_loads: the cache's ``verify_loads`` option.
        signed: whether the cache signs its entries.  The secret itself never
            travels: a worker opening a signed cache reads it from its own
            ``RECYCLABLE_SECRET`` environment variable.

    Example:
        >>> handle = cache.handle("analysis")       # doctest: +SKIP
        >>> def step_in_worker(x):                  # runs in another process
        ...     with handle.open():
        ...         return denoise(x)

    """

    url: str
    pool: str
    durable: bool = False
    mmap: str | None = "r"
    options: str = "{}"
    verify_loads: str = "once"
    signed: bool = False

    def __post_init__(self) -> None:
        for name in ("url", "pool", "options"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(
                    f"PoolHandle({name}=...) expects a str, got {type(value).__name__} "
                    f"{value!r}; make handles with cache.handle(pool_name)"
                )

    @classmethod
    def for_cache(cls, cache: Cache, pool: str) -> PoolHandle:
        """The handle of pool ``pool`` in ``cache`` (registering ``cache`` for reuse here).

        Raises:
            ConfigurationError: a storage option cannot be represented in JSON.

        """
        public = public_storage_options(cache.storage_options)
        try:
            options = json.dumps(public, sort_keys=True, separators=(",", ":"))
        except TypeError as exc:
            raise ConfigurationError(
                f"the storage options of cache {cache.url} cannot travel to other processes "
                f"({exc}); pass plain values (str, numbers, bools, lists, dicts) in "
                "storage_options, or configure the filesystem through environment variables"
            ) from None
        handle = cls(
            _public_url(cache.url),
            pool,
            cache.durable,
            cache.mmap,
            options,
            cache.verify_loads,
            cache.secret is not None,
        )
        with _caches_lock:
            # In this process the handle opens the very cache it came from, so
            # threads share one connection and one set of pool statistics.
            _caches.setdefault(handle._cache_key(), cache)
        return handle

    @classmethod
    def of(cls, pool: Pool) -> PoolHandle:
        """The handle of an open pool.

        Raises:
            TypeError: ``pool`` is not a `Pool`.

        """
        from recyclable.pool import Pool

        if not isinstance(pool, Pool):
            raise TypeError(
                f"PoolHandle.of(pool=...) expects a Pool, got {type(pool).__name__} {pool!r}; "
                "open one with cache.create_pool(name, reuse=True)"
            )
        return cls.for_cache(pool.cache, pool.name)

    @property
    def storage_options(self) -> dict[str, Any]:
        """The non-secret storage options the worker opens the store with."""
        options: dict[str, Any] = json.loads(self.options)
        return options

    def _cache_key(self) -> _CacheKey:
        return (self.url, self.durable, self.mmap, self.options, self.verify_loads, self.signed)

    def open_cache(self) -> Cache:
        """The cache this handle names: opened on first use in a process, then reused.

        Raises:
            ConfigurationError: the cache signs its entries and ``RECYCLABLE_SECRET``
                is not set in this process's environment.
        """
        key = self._cache_key()
        with _caches_lock:
            cache = _caches.get(key)
        if cache is not None:
            return cache
        from recyclable.cache import Cache

        secret = _env.cache_secret() if self.signed else None
        if self.signed and secret is None:
            raise ConfigurationError(
                f"the cache {self.url} of pool {self.pool!r} signs its entries, but "
                f"{_env.SECRET_VAR} is not set in this process's environment; set it to the "
                "same secret as the submitting process (it is never sent with the handle)"
            )
        opened = Cache(
            self.url,
            durable=self.durable,
            mmap=self.mmap,
            verify_loads=self.verify_loads,
            secret=secret,
            storage_options=self.storage_options or None,
        )
        with _caches_lock:
            return _caches.setdefault(key, opened)

    def open(self) -> Pool:
        """The pool this handle names (created if it was removed meanwhile); use ``with``.

        Raises:
            CacheLocationError: the location is not (or no longer) a usable cache.
            MissingDependencyError: the object-store backend is not installed here.

        """
        return self.open_cache().create_pool(self.pool, reuse=True)
