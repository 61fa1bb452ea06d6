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
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

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
from recyclable.runs import live_run_keys
from recyclable.store.local import LocalStore, temp_name

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
_LAYOUT = ("objects", "entries", "pools", "tmp", "quarantine")


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
        durable: fsync every write before publishing it (slower; survives
            power loss, not only process crashes).
        mmap: how large stored arrays are loaded: ``"r"`` memory-mapped
            read-only (default), ``"c"`` memory-mapped copy-on-write
            (writable, changes stay in memory), ``None`` read into memory.

    Raises:
        CacheLocationError: the path is a file, or a non-empty directory that is not a cache.
        CacheFormatError: the cache was written by a newer version of recyclable.

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
        self.path = Path(path).expanduser() if path is not None else default_cache_path()
        self.path = self.path.absolute()
        self.durable = bool(durable)
        self.mmap = mmap
        self.format = self._open_or_create()
        self.store = LocalStore(self.path, durable=self.durable)
        self._pools: dict[str, Pool] = {}

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r})"

    # --- location and format ----------------------------------------------------------

    def _open_or_create(self) -> int:
        path = self.path
        if path.exists() and not path.is_dir():
            raise CacheLocationError(
                f"cache path {path} is a file, not a directory; choose a directory path "
                "(it will be created) or remove the file"
            )
        version_file = path / "VERSION"
        if not version_file.exists():
            # Only the store's own directories: another process is creating
            # this cache right now, and creating it again is harmless.
            if path.is_dir() and not {p.name for p in path.iterdir()} <= set(_LAYOUT):
                raise CacheLocationError(
                    f"{path} is a non-empty directory but not a recyclable cache (it has no "
                    "VERSION file); choose an empty or new directory for the cache"
                )
            self._create(path)
        return self._read_format(version_file)

    @staticmethod
    def _create(path: Path) -> None:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for sub in _LAYOUT:
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

    # --- garbage collection -----------------------------------------------------------

    def garbage_collect(
        self,
        *,
        grace: float = DEFAULT_GRACE_SECONDS,
        dry_run: bool = False,
        protect: Collection[str] = (),
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
            protect: keys of entries to keep even though no pool references them.

        """
        store = self.store
        started = time.time()
        cutoff = started - grace
        manifests = list(store.iter_manifest_keys())
        referenced: set[str] = set()
        for pool in store.list_pools():
            referenced.update(store.iter_markers(pool))
        # A live run notes a key before looking it up, so an entry it is
        # loading right now stays even if another run just dropped its marker.
        referenced.update(live_run_keys(store))
        referenced.update(protect)
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


def _blobs_of(manifest: dict[str, object]) -> set[str]:
    blobs: set[str] = set()
    stream = manifest.get("stream")
    if isinstance(stream, dict) and "inline" not in stream and "digest" in stream:
        blobs.add(str(stream["digest"]))
    buffers = manifest.get("buffers")
    if isinstance(buffers, list):
        blobs.update(str(info["digest"]) for info in buffers if isinstance(info, dict))
    return blobs


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
