"""Cache: a directory of stored calls, its format VERSION, its pools, garbage collection.

A cache directory is recognised by its ``VERSION`` file.  Opening a
non-empty directory without one, a file, or a cache of a newer format is an
error; the library never wipes a directory it did not create.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from recyclable import _env
from recyclable.errors import (
    CacheFormatError,
    CacheLocationError,
    ConfigurationError,
    PoolExistsError,
    PoolNameError,
    PoolNotFoundError,
)
from recyclable.manifest import ManifestError, load_manifest
from recyclable.pool import Pool
from recyclable.store.base import Store
from recyclable.store.local import LocalStore, temp_name
from recyclable.store.location import local_path, remote_url

if TYPE_CHECKING:
    from recyclable.handle import PoolHandle

__all__ = ["CACHE_FORMAT", "Cache", "GarbageReport", "default_cache_path"]

#: The on-disk format this version writes and reads.
CACHE_FORMAT = 1
_VERSION_TEXT = f"recyclable cache\nformat: {CACHE_FORMAT}\n"
_VERSION_RE = re.compile(r"\Arecyclable cache\nformat: (\d+)\n")

#: Pool names: letters, digits, ``_``, ``-`` and ``.``, starting with a letter
#: or digit, at most 200 characters (so a pool is one portable directory name).
POOL_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,199}\Z")

#: Staged files and unreferenced blobs younger than this are left alone by
#: garbage collection: a running writer may be about to publish them.
DEFAULT_GRACE_SECONDS = 600.0

_MMAP_MODES = ("r", "c", None)


def default_cache_path() -> Path:
    """``$RECYCLABLE_CACHE`` if set, else the platform's per-user cache directory."""
    configured = _env.default_cache_dir()
    if configured is not None:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("recyclable", appauthor=False))


@dataclass(frozen=True)
class GarbageReport:
    """What a garbage collection removed (or, in a dry run, would remove)."""

    entries: int
    blobs: int
    bytes: int
    temporary: int


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
            Object stores always read into memory.
        storage_options: for an object-store URL, options for its fsspec
            filesystem (e.g. ``{"endpoint_url": ...}``).  Prefer credentials
            from the environment: options that look secret are never copied
            into a pool handle (see `Cache.handle`).

    Attributes:
        path: the cache directory (a `Path`), or the URL (a str) of an object-store cache.
        url: the location as a str: the absolute directory, or the URL.
        store: where the bytes live (`LocalStore` or `FsspecStore`).

    Raises:
        CacheLocationError: the path is a file, or a non-empty directory that is not a cache.
        CacheFormatError: the cache was written by a newer version of recyclable.
        ConfigurationError: ``storage_options`` given for a local directory.
        MissingDependencyError: an object-store URL whose fsspec backend is not installed.

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
        self.durable = bool(durable)
        self.mmap = mmap
        self._pools: dict[str, Pool] = {}
        self.storage_options = dict(storage_options or {})
        url = remote_url(path)
        if url is not None:
            self.path: Path | str = url
            self.url = url
            self.store: Store = self._open_remote(url)
            return
        if storage_options:
            raise ConfigurationError(
                f"Cache(storage_options=...) applies to object-store URLs, but {path!r} is a "
                "local path; drop storage_options, or use a URL such as 's3://bucket/prefix'"
            )
        local = Path(local_path(path)).expanduser() if path is not None else default_cache_path()
        self.path = local.absolute()
        self.url = str(self.path)
        self.format = self._open_or_create()
        self.store = LocalStore(self.path, durable=self.durable)

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r})"

    # --- location and format ----------------------------------------------------------

    def _open_remote(self, url: str) -> Store:
        from recyclable.store.remote import open_fsspec_store

        store = open_fsspec_store(url, self.storage_options, durable=self.durable)
        text = store.read_version()
        if text is None:
            if not store.is_empty():
                raise CacheLocationError(
                    f"{url} holds objects but no recyclable VERSION: it is not a recyclable "
                    "cache; choose an empty or new prefix for the cache"
                )
            store.create_version(_VERSION_TEXT)
            text = store.read_version() or ""
        self.format = _check_format(text, f"{url}/VERSION", url)
        store.probe_conditional_create()
        return store

    def _open_or_create(self) -> int:
        path = self._local_root()
        if path.exists() and not path.is_dir():
            raise CacheLocationError(
                f"cache path {path} is a file, not a directory; choose a directory path "
                "(it will be created) or remove the file"
            )
        version_file = path / "VERSION"
        if not version_file.exists():
            if path.is_dir() and any(path.iterdir()):
                raise CacheLocationError(
                    f"{path} is a non-empty directory but not a recyclable cache (it has no "
                    "VERSION file); choose an empty or new directory for the cache"
                )
            self._create(path)
        return self._read_format(version_file)

    @staticmethod
    def _create(path: Path) -> None:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for sub in ("objects", "entries", "pools", "tmp", "quarantine"):
            (path / sub).mkdir(exist_ok=True)
        # Publish VERSION last and atomically: a concurrent opener sees either
        # no cache yet (and creates the same one) or a complete one.
        staged = path / "tmp" / temp_name("VERSION")
        staged.write_text(_VERSION_TEXT)
        try:
            os.link(staged, path / "VERSION")
        except FileExistsError:
            pass
        finally:
            staged.unlink()

    def _read_format(self, version_file: Path) -> int:
        text = version_file.read_text(errors="replace")
        match = _VERSION_RE.match(text)
        if match is None:
            raise CacheFormatError(
                f"{version_file} is not a recyclable VERSION file (it reads {text[:60]!r}); "
                "this directory was not made by recyclable, or the file was edited"
            )
        found = int(match.group(1))
        if found > CACHE_FORMAT:
            raise CacheFormatError(
                f"cache {self.path} has format {found}, but this version of recyclable "
                f"reads format {CACHE_FORMAT} or older; upgrade recyclable to a version "
                f"that reads format {found}, or use another cache directory"
            )
        return found

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

        """
        validate_pool_name(name)
        created = self.store.create_pool(name)
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
        return self.store.list_pools()

    def remove_pool(self, name: str, *, grace: float = DEFAULT_GRACE_SECONDS) -> GarbageReport:
        """Remove a pool and reclaim the entries and data no other pool uses.

        Raises:
            PoolNotFoundError: no pool of that name exists.

        """
        validate_pool_name(name)
        aside = self.store.detach_pool(name)
        if aside is None:
            raise PoolNotFoundError(f"no pool {name!r} in cache {self.path} to remove")
        self._pools.pop(name, None)
        self.store.remove_tree(aside)
        return self.garbage_collect(grace=grace)

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
        self, *, grace: float = DEFAULT_GRACE_SECONDS, dry_run: bool = False
    ) -> GarbageReport:
        """Delete entries no pool references, unreferenced blobs and staging leftovers.

        Never takes a lock.  Manifests are listed before pool markers, and
        writers create their marker before publishing, so an entry published
        into a live pool is always seen as referenced.  Blobs and staging files
        younger than ``grace`` seconds are kept: a writer may be about to
        publish the manifest that references them.

        Args:
            grace: age in seconds below which unreferenced blobs and staging files stay.
            dry_run: count what would be removed, remove nothing.

        """
        store = self.store
        started = time.time()
        cutoff = started - grace
        manifests = list(store.iter_manifest_keys())
        referenced: set[str] = set()
        for pool in store.list_pools():
            referenced.update(store.iter_markers(pool))
        entries_removed = 0
        live_blobs: set[str] = set()
        freed_blobs: set[str] = set()
        for key in manifests:
            data = store.read_manifest(key)
            blobs: set[str] = set()
            if data is not None:
                # A manifest that fails to parse is left for verification to
                # quarantine; its blobs are not protected by it.
                with contextlib.suppress(ManifestError):
                    blobs = _blobs_of(load_manifest(data))
            if key in referenced:
                live_blobs |= blobs
                continue
            if not dry_run:
                store.delete_manifest(key)
            entries_removed += 1
            freed_blobs |= blobs
        blobs_removed = 0
        bytes_removed = 0
        for digest, info in list(store.iter_blobs()):
            if digest in live_blobs:
                continue
            # Blobs of entries removed just now need no grace period: a writer
            # reusing one refreshes its mtime, which puts it past `started`.
            limit = started if digest in freed_blobs else cutoff
            if info.st_mtime > limit:
                continue
            if dry_run or store.delete_blob_if_idle(digest, limit):
                blobs_removed += 1
                bytes_removed += info.st_size
        temporary = 0
        for path, info in list(store.iter_temp()):
            if info.st_mtime <= cutoff:
                if not dry_run:
                    store.remove_tree(path)
                temporary += 1
        return GarbageReport(entries_removed, blobs_removed, bytes_removed, temporary)


def _blobs_of(manifest: Mapping[str, object]) -> set[str]:
    blobs: set[str] = set()
    stream = manifest.get("stream")
    if isinstance(stream, dict) and "inline" not in stream and "digest" in stream:
        blobs.add(str(stream["digest"]))
    buffers = manifest.get("buffers")
    if isinstance(buffers, list):
        blobs.update(str(info["digest"]) for info in buffers if isinstance(info, dict))
    return blobs


def _check_format(text: str, where: str, location: str) -> int:
    """The format number in a VERSION text; refuse what this version cannot read."""
    match = _VERSION_RE.match(text)
    if match is None:
        raise CacheFormatError(
            f"{where} is not a recyclable VERSION file (it reads {text[:60]!r}); "
            "this location was not made by recyclable, or the file was edited"
        )
    found = int(match.group(1))
    if found > CACHE_FORMAT:
        raise CacheFormatError(
            f"cache {location} has format {found}, but this version of recyclable "
            f"reads format {CACHE_FORMAT} or older; upgrade recyclable to a version "
            f"that reads format {found}, or use another cache location"
        )
    return found


def validate_pool_name(name: object) -> str:
    """Return ``name`` if it is a valid pool name.

    Raises:
        PoolNameError: it is not a str, or does not match the documented pattern.

    """
    if not isinstance(name, str):
        raise PoolNameError(
            f"pool name must be a str, got {type(name).__name__} {name!r}; "
            "use letters, digits, '_', '-' and '.'"
        )
    if not POOL_NAME_RE.match(name) or ".." in name:
        raise PoolNameError(
            f"invalid pool name {name!r}: use 1-200 letters, digits, '_', '-' and '.', "
            "starting with a letter or digit, with no path separators and no '..'"
        )
    return name
