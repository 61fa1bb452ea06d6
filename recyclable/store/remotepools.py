"""Pools, their membership markers and staging leftovers on an object store.

An object store has no directories: a pool is an empty ``pools/<pool>/.pool``
object and each member an empty marker object beside it.  Without a rename
nothing here is one atomic step; each method says what it guarantees instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from recyclable.store.remotebase import ObjectStat, ObjectStoreBase, shard_of, upload_time

__all__ = ["ObjectStorePools"]

_POOL_SENTINEL = ".pool"


class ObjectStorePools(ObjectStoreBase):
    """Pools, markers and ``tmp/`` leftovers (see `FsspecStore` for the arguments)."""

    # --- pools and their membership markers -------------------------------------------

    def _pool_prefix(self, pool: str) -> str:
        return f"{self._pools}/{pool}"

    def create_pool(self, pool: str) -> bool:
        """Create a pool; False when it already existed.

        An object store has no empty directories, so a pool is made visible by
        an empty ``pools/<pool>/.pool`` object (the local store ignores it).
        """
        path = f"{self._pool_prefix(pool)}/{_POOL_SENTINEL}"
        if not self.conditional_create:
            if self.pool_exists(pool):
                return False
            self._put(path, b"")
            return True
        try:
            self.fs.pipe_file(path, b"", mode="create")
        except FileExistsError:
            return False
        return True

    def pool_exists(self, pool: str) -> bool:
        """True when the pool exists."""
        return self._info(f"{self._pool_prefix(pool)}/{_POOL_SENTINEL}") is not None

    def list_pools(self) -> list[str]:
        """Names of every pool, sorted."""
        try:
            found = self._listing(lambda: self.fs.ls(self._pools, detail=False))
        except FileNotFoundError:
            return []
        return sorted(str(path).rstrip("/").rsplit("/", 1)[-1] for path in found)

    def marker_path(self, pool: str, key: str) -> str:
        """Where the marker saying ``pool`` holds ``key`` lives."""
        return f"{self._pools}/{pool}/{shard_of(key)}/{key}"

    def has_marker(self, pool: str, key: str) -> bool:
        """True when ``key`` belongs to ``pool``."""
        return self._info(self.marker_path(pool, key)) is not None

    def add_marker(self, pool: str, key: str) -> None:
        """Record that ``pool`` holds ``key`` (an empty object; creating it twice is harmless)."""
        self._put(self.marker_path(pool, key), b"")

    def remove_marker(self, pool: str, key: str) -> None:
        """Forget that ``pool`` holds ``key``."""
        self._remove(self.marker_path(pool, key))

    def _marker_paths(self, pool: str) -> list[str]:
        prefix = self._pool_prefix(pool)
        try:
            found = self._listing(lambda: self.fs.find(prefix))
        except FileNotFoundError:
            return []
        # Markers sit one shard level down; the pool's own sentinel does not.
        return [path for path in found if path[len(prefix) + 1 :].count("/") == 1]

    def iter_markers(self, pool: str) -> Iterator[str]:
        """The keys a pool holds."""
        for path in self._marker_paths(pool):
            yield path.rsplit("/", 1)[-1]

    def detach_pool(self, pool: str) -> list[str] | None:
        """Take a pool out of sight; return the markers it had, for `remove_tree`.

        Without a rename this is not one atomic step: the markers are listed
        first and only those are deleted later, so markers a concurrent
        re-creation of the pool adds afterwards survive.
        """
        if not self.pool_exists(pool):
            return None
        markers = self._marker_paths(pool)
        self._remove(f"{self._pool_prefix(pool)}/{_POOL_SENTINEL}")
        return markers

    # --- staging leftovers ------------------------------------------------------------

    def iter_temp(self) -> Iterator[tuple[str, ObjectStat]]:
        """Leftover probe objects under ``tmp/`` (uploads are never staged here)."""
        try:
            found = self._listing(lambda: self.fs.find(self._tmp, detail=True))
        except FileNotFoundError:
            return
        for path, info in found.items():
            yield path, ObjectStat(int(info.get("size", 0)), upload_time(info))

    def remove_tree(self, path: str | list[str]) -> None:
        """Delete a leftover object, or the list of markers `detach_pool` returned."""
        paths = [path] if isinstance(path, str) else list(path)
        if paths:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(paths)
