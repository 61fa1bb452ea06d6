"""Cache: a directory of stored calls, its options, its pools, garbage collection.

What makes a directory a cache (its VERSION file, layout, owner, pool
names) is `recyclable.cachedir`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import warnings
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from recyclable.cachedir import (
    CACHE_FORMAT,
    POOL_NAME_RE,
    check_owner,
    default_cache_path,
    open_or_create,
    open_remote,
    remote_leases,
    validate_pool_name,
)
from recyclable.collect import GarbageReport, collect_garbage
from recyclable.collect_remote import collect_remote_garbage
from recyclable.errors import (
    CacheIOError,
    CacheLocationError,
    ConfigurationError,
    PoolExistsError,
    PoolNotFoundError,
    RecyclableError,
    RecyclableWarning,
)
from recyclable.lease import DEFAULT_LEASE_STALE, DEFAULT_LEASE_TIMEOUT, Leases
from recyclable.pool import Pool
from recyclable.scan import ProgressHook, Tally
from recyclable.store.base import Store
from recyclable.store.local import LocalStore
from recyclable.store.location import local_path, remote_url
from recyclable.verify import VerifyReport, verify_store

if TYPE_CHECKING:
    from recyclable.handle import PoolHandle

__all__ = [
    "CACHE_FORMAT",
    "POOL_NAME_RE",
    "Cache",
    "GarbageReport",
    "VerifyReport",
    "default_cache_path",
    "validate_pool_name",
]

#: Staged files and unreferenced blobs younger than this are left alone by
#: garbage collection: a running writer may be about to publish them.
DEFAULT_GRACE_SECONDS = 600.0

_MMAP_MODES = ("r", "c", None)
# Errors of a cache that can be read but not written: a pool that cannot be
# created still serves what is stored.
_UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)


class Cache:
    """A cache directory holding stored results shared by named pools.

    Args:
        path: the cache directory; created (private to the user) when absent.
            Defaults to ``$RECYCLABLE_CACHE`` or the user cache directory.
            An object-store URL (``"s3://bucket/prefix"``, any fsspec
            protocol but ``file``) keeps the cache there instead (see
            ``docs/distributed.md``; needs ``recyclable[s3]`` for S3).
        durable: fsync every write before publishing it (slower; survives
            power loss, not only process crashes).
        mmap: how large stored arrays are loaded: ``"r"`` memory-mapped
            read-only (default), ``"c"`` memory-mapped copy-on-write
            (writable, changes stay in memory), ``None`` read into memory.
            Object stores always read into memory.  A miss returns its
            result the same way (mapped from the blobs it just wrote), so
            the first run and a re-run see the same arrays.
        storage_options: for an object-store URL, options for its fsspec
            filesystem (e.g. ``{"endpoint_url": ...}``).  Prefer credentials
            from the environment: options that look secret are never copied
            into a pool handle (see `Cache.handle`).

        verify_loads: ``"once"`` (default) hashes each large blob the first time it
            is loaded and remembers the verdict until the file changes;
            ``"always"`` hashes on every load (see `recyclable.verdict` for
            the trade-off).  Pickle streams are hashed on every load either way.
        shared: create the cache for a group of users: directories
            group-writable and setgid, files group-writable.  Only a shared
            cache may be opened by a user who does not own it.
        secret: sign every manifest with an HMAC under this key and refuse
            entries that are unsigned or signed with another key.  Stored
            results are unpickled, which can run code: use a secret whenever
            someone else can write to the cache directory.
        lease_timeout: seconds a call waits for another live process computing
            the same call before computing it itself.
        lease_stale: seconds without a heartbeat after which a process on
            another host computing a call is considered dead.

    Attributes:
        path: the cache directory (a `Path`), or the URL (a str) of an object-store cache.
        url: the location as a str: the absolute directory, or the URL.
        store: where the bytes live (`LocalStore` or `FsspecStore`).

    Raises:
        TypeError: an argument has the wrong type.
        CacheLocationError: the path is a file, or a non-empty directory that is not a cache.
        CacheFormatError: the cache was written by a newer version of recyclable.
        ConfigurationError: ``storage_options`` given for a local directory.
        MissingDependencyError: an object-store URL whose fsspec backend is not installed.
        CachePermissionError: the cache belongs to another user and is not shared.
        CacheIOError: the cache cannot be created or read (full disk, read-only
            filesystem, permissions, a path such as ``/proc/x``); the message says
            what to free, fix or pass.

    Security:
        Loading a stored result unpickles it.  Anyone who can write to the
        cache directory can therefore make your process run their code.  A
        private cache (the default, mode 0700) is safe; for a shared one,
        give every trusted user the same ``secret``.

    Example:
        >>> from recyclable import Cache
        >>> cache = Cache("/tmp/my-cache")                 # doctest: +SKIP
        >>> pool = cache.create_pool("analysis", reuse=True)  # doctest: +SKIP

    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        durable: bool = False,
        mmap: str | None = "r",
        verify_loads: str = "once",
        shared: bool = False,
        secret: str | bytes | None = None,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
        lease_stale: float = DEFAULT_LEASE_STALE,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"Cache(path=...) expects a str or os.PathLike, got {type(path).__name__} "
                f"{path!r}; pass a directory path, or None for the default cache"
            )
        if mmap not in _MMAP_MODES:
            raise ConfigurationError(
                f"Cache(mmap=...) got {mmap!r}; use 'r' (read-only map), "
                "'c' (copy-on-write map) or None (load into memory)"
            )
        if verify_loads not in ("once", "always"):
            raise ConfigurationError(
                f"Cache(verify_loads=...) got {verify_loads!r}; use 'once' (verify each "
                "blob once and remember it) or 'always' (hash on every load)"
            )
        self.verify_loads = verify_loads
        self.durable = bool(durable)
        self.mmap = mmap
        self.secret = _check_secret(secret)
        self.shared = bool(shared)
        self._pools: dict[str, Pool] = {}
        self.storage_options = dict(storage_options or {})
        timeout = _check_seconds("lease_timeout", lease_timeout)
        stale = _check_seconds("lease_stale", lease_stale)
        url = remote_url(path)
        if url is not None:
            self.path: Path | str = url
            self.url = url
            self.read_only = False
            try:
                self.store: Store
                self.store, self.format = open_remote(
                    url, self.storage_options, durable=self.durable
                )
            except RecyclableError:
                raise
            except OSError as exc:
                raise CacheIOError.from_os_error(exc, "open the cache", url) from None
            self.leases = remote_leases(url, timeout=timeout, stale=stale)
            return
        if storage_options:
            raise ConfigurationError(
                f"Cache(storage_options=...) applies to object-store URLs, but {path!r} is a "
                "local path; drop storage_options, or use a URL such as 's3://bucket/prefix'"
            )
        local = Path(local_path(path)).expanduser() if path is not None else default_cache_path()
        root = local.absolute()
        self.path = root
        self.url = str(root)
        try:
            self.format, marked_shared = open_or_create(
                root, durable=self.durable, shared=self.shared
            )
            if check_owner(root) or marked_shared:
                self.shared = True
        except RecyclableError:
            raise
        except OSError as exc:
            doing = "open the cache" if (root / "VERSION").is_file() else "create a cache"
            raise CacheIOError.from_os_error(exc, doing, root) from None
        self.read_only = not os.access(root, os.W_OK)
        local_store = LocalStore(root, durable=self.durable, shared=self.shared)
        self.store = local_store
        self.leases = Leases(
            root,
            timeout=timeout,
            stale=stale,
            file_mode=local_store.file_mode,
            exact_mode=local_store.shared,
            make_dirs=local_store.make_dirs,
        )

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r})"

    # --- location and format ----------------------------------------------------------

    # --- pools ------------------------------------------------------------------------

    def create_pool(self, name: str, reuse: bool = False) -> Pool:
        """Create a pool, or open an existing one when ``reuse`` is true.

        Args:
            name: letters, digits, ``_``, ``-`` and ``.``; starts with a letter
                or digit; at most 200 characters.
            reuse: open the pool if it already exists instead of raising.

        Raises:
            PoolNameError: the name is not valid.
            PoolExistsError: the pool exists and ``reuse`` is false.
            CacheIOError: the pool cannot be created; with ``reuse`` only for
                errors other than a read-only, full or unwritable cache, which
                warn instead (the pool then loads stored results, keeps nothing).

        """
        validate_pool_name(name)
        try:
            created = self.store.create_pool(name)
        except OSError as exc:
            if exc.errno not in _UNWRITABLE or not reuse:
                raise CacheIOError.from_os_error(exc, f"create pool {name!r}", self.path) from None
            # A read-only or full cache: lookups work across the whole cache,
            # so the pool still serves stored results; it just cannot record
            # anything.
            warnings.warn(
                f"recyclable: cannot create pool {name!r} in cache {self.path} "
                f"({exc.strerror}); stored results are loaded but new ones are not kept",
                RecyclableWarning,
                stacklevel=2,
            )
            return self._pool_object(name)
        if not created and not reuse:
            raise PoolExistsError(
                f"pool {name!r} already exists in cache {self.path}; pass reuse=True to "
                "resume with it, or choose another name"
            )
        return self._pool_object(name)

    def pool(self, name: str) -> Pool:
        """Open an existing pool.

        Raises:
            PoolNameError: the name is not valid.
            PoolNotFoundError: no pool of that name exists.

        """
        validate_pool_name(name)
        if not self.store.pool_exists(name):
            known = ", ".join(self.pools()) or "none"
            raise PoolNotFoundError(
                f"no pool {name!r} in cache {self.path} (pools: {known}); create it with "
                f"cache.create_pool({name!r})"
            )
        return self._pool_object(name)

    def _pool_object(self, name: str) -> Pool:
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = Pool(self, name)
        return pool

    def pools(self) -> list[str]:
        """The names of the cache's pools, sorted."""
        with self._io("list the pools"):
            return self.store.list_pools()

    def remove_pool(self, name: str, *, grace: float = DEFAULT_GRACE_SECONDS) -> GarbageReport:
        """Remove a pool and reclaim the entries and data no other pool uses.

        Raises:
            PoolNotFoundError: no pool of that name exists.
            CacheIOError: the cache cannot be written (read-only, permissions).

        """
        validate_pool_name(name)
        with self._io(f"remove pool {name!r}"):
            aside = self.store.detach_pool(name)
        if aside is None:
            raise PoolNotFoundError(f"no pool {name!r} in cache {self.path} to remove")
        removed = self._pools.pop(name, None)
        if removed is not None:
            # Its markers are gone: a later hit through the same object must add them again.
            removed._marked.clear()
        with self._io(f"remove pool {name!r}"):
            self.store.remove_tree(aside)
        return self.garbage_collect(grace=grace)

    @contextlib.contextmanager
    def _io(self, doing: str) -> Iterator[None]:
        """Turn a system error on the cache's own files into a `CacheIOError` saying what to do."""
        try:
            yield
        except RecyclableError:
            raise
        except OSError as exc:
            raise CacheIOError.from_os_error(exc, doing, self.path) from None

    # --- handles for other processes --------------------------------------------------

    def handle(self, pool: str) -> PoolHandle:
        """A small picklable value that re-opens this cache's pool ``pool`` in any process.

        The handle holds the location, the pool name and the options, never
        credentials: storage options that look secret (keys, secrets, tokens,
        passwords) are left out, and workers take theirs from their own
        environment.

        Raises:
            PoolNameError: the name is not valid.

        Example:
            >>> handle = cache.handle("analysis")            # doctest: +SKIP
            >>> with handle.open():                          # in a worker process
            ...     step(data)

        """
        from recyclable.handle import PoolHandle

        return PoolHandle.for_cache(self, validate_pool_name(pool))

    @classmethod
    def from_handle(cls, handle: PoolHandle) -> Cache:
        """The cache a handle names, opened once per process and then reused.

        Raises:
            TypeError: ``handle`` is not a `PoolHandle`.

        """
        from recyclable.handle import PoolHandle

        if not isinstance(handle, PoolHandle):
            raise TypeError(
                f"Cache.from_handle(handle=...) expects a PoolHandle, got "
                f"{type(handle).__name__} {handle!r}; make one with cache.handle(pool_name)"
            )
        return handle.open_cache()

    @property
    def local_store(self) -> LocalStore:
        """The store of a local cache; tools that need files fail clearly on an object store.

        Raises:
            CacheLocationError: the cache is in an object store.
        """
        if not isinstance(self.store, LocalStore):
            raise CacheLocationError(
                f"cache {self.path} is in an object store; run records and the cache tools "
                "work on local cache directories only"
            )
        return self.store

    def _local_root(self) -> Path:
        """The cache directory; an operation that needs one fails clearly on an object store."""
        if not isinstance(self.path, Path):
            raise CacheLocationError(
                f"cache {self.path} is in an object store; this operation works on local "
                "cache directories only"
            )
        return self.path

    # --- garbage collection -----------------------------------------------------------

    def garbage_collect(
        self,
        *,
        grace: float = DEFAULT_GRACE_SECONDS,
        dry_run: bool = False,
        protect: Collection[str] = (),
        progress: ProgressHook | None = None,
        removed: list[str] | None = None,
        tally: Tally | None = None,
    ) -> GarbageReport:
        """Delete entries no pool references, unreferenced blobs and leftovers of dead writers.

        Never takes a lock and never runs by itself (not at process exit
        either); it cannot delete what a running writer has published or is
        about to publish.  The rules that guarantee it are listed in
        `recyclable.collect.collect_garbage`.

        Args:
            grace: age in seconds below which unreferenced blobs and staging files stay.
            dry_run: count what would be removed, remove nothing.
            protect: keys of entries to keep even though no pool references them.
            progress: told how far a long collection got (`recyclable.scan.ProgressHook`).
            removed: when given, the keys of the entries removed are appended to it.
            tally: when given, filled with the sizes the collection saw (local caches).

        Returns:
            What was removed (or, in a dry run, would be).

        Raises:
            TypeError: ``grace`` is not a number.
            CacheIOError: the cache cannot be written (read-only, permissions);
                a dry run needs only read access.

        """
        grace = _check_seconds("grace", grace)
        with self._io("collect garbage"):
            if isinstance(self.store, LocalStore):
                return collect_garbage(
                    self.store,
                    self.leases,
                    grace=grace,
                    dry_run=dry_run,
                    protect=protect,
                    progress=progress,
                    removed=removed,
                    tally=tally,
                )
            from recyclable.store.remote import FsspecStore

            return collect_remote_garbage(
                cast(FsspecStore, self.store), grace=grace, dry_run=dry_run, protect=protect
            )

    # --- verification -----------------------------------------------------------------

    def verify(self, *, progress: ProgressHook | None = None) -> VerifyReport:
        """Check every entry: manifest checksum (and signature), every blob's size and checksum.

        Damaged entries are moved to quarantine, exactly as a load would, and
        dropped from their pools, so the next call of the same step recomputes
        it.  Nothing is unpickled, so verifying runs no stored code.

        Args:
            progress: told how far a long verification got (`recyclable.scan.ProgressHook`).

        Returns:
            A `VerifyReport`; its ``damaged`` list names each quarantined entry and why.

        """
        with self._io("verify the cache"):
            report = verify_store(self.store, self.secret, progress=progress)
        if report.damaged:
            # Their markers are gone: a later hit through a pool object must add them again.
            for pool in self._pools.values():
                pool._marked.clear()
        return report


def _check_secret(secret: object) -> bytes | None:
    if secret is None:
        return None
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes):
        raise TypeError(
            f"Cache(secret=...) expects str or bytes, got {type(secret).__name__}; pass the "
            "shared key, e.g. secret=os.environ['RECYCLABLE_SECRET']"
        )
    if not secret:
        raise ConfigurationError(
            "Cache(secret=...) got an empty secret; pass a non-empty key, or None for "
            "unsigned entries"
        )
    return secret


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} expects a number of seconds, got {type(value).__name__} {value!r}; "
            f"e.g. {name}=60"
        )
    if not value >= 0:
        raise ConfigurationError(f"{name} must be zero or more seconds, got {value!r}")
    return float(value)
