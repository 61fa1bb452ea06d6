"""The local POSIX store: where a cache's bytes live on a local or shared filesystem.

Every write goes to a uniquely named file in ``<root>/tmp`` (same filesystem)
and becomes visible through one atomic step: ``os.link`` for manifests (first
writer wins, a loser keeps the winner's file) and blobs (content-addressed,
so any winner is as good as another), ``os.replace`` where a filesystem has no
hard links.  Readers therefore never see a partly written file under a
published name.  No lock is taken anywhere.

Staging, publishing and writing blobs are `recyclable.store.localwrite.LocalWriter`'s,
a base class of `LocalStore`.  The store knows nothing about Python values or
manifest contents.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import xxhash

from recyclable import verdict
from recyclable.store.localread import read_small_file
from recyclable.store.localwrite import (
    LocalWriter,
    temp_name,
    temp_writer,
    write_new_file,
    writer_state,
)
from recyclable.store.publish import Publisher

__all__ = [
    "DamagedBlob",
    "LocalStore",
    "temp_name",
    "temp_writer",
    "write_new_file",
    "writer_state",
]

logger = logging.getLogger("recyclable")


class DamagedBlob(Exception):
    """A blob is missing, has the wrong size or fails its checksum (internal: a warned miss)."""

    def __init__(self, digest: str, reason: str, *, present: bool) -> None:
        super().__init__(digest, reason, present)
        self.digest = digest
        self.reason = reason
        self.present = present

    def __str__(self) -> str:
        return f"blob {self.digest} {self.reason}"


_MKDIR_ATTEMPTS = 5


def _shard(name: str) -> str:
    return name[:2]


class LocalStore(LocalWriter):
    """Bytes on a POSIX filesystem under one cache root.

    Args:
        root: the cache directory (already created and validated by `Cache`).
        durable: fsync data, manifests and directories before publishing.
        shared: make new files group-writable and new directories
            group-writable and setgid, so a group of users can share the cache.

    """

    def __init__(self, root: Path, *, durable: bool = False, shared: bool = False) -> None:
        self.root = root
        self.durable = durable
        self.shared = shared
        self.file_mode = 0o664 if shared else 0o644
        self.dir_mode = 0o2770 if shared else 0o700
        self.objects = root / "objects"
        self.entries = root / "entries"
        self.pools = root / "pools"
        self.tmp = root / "tmp"
        self.quarantine = root / "quarantine"
        # Plain strings for the hit path: building pathlib paths costs more
        # than the system calls they name.
        self._entries_str = str(self.entries)
        self._objects_str = str(self.objects)
        self._pools_str = str(self.pools)
        self._known_dirs: set[str] = set()
        # Blobs this store created for a store in progress: digest -> (inode,
        # mtime in ns), so a failed store frees only what nobody touched since,
        # and the writer maps its own bytes back unhashed (`publish.map_own`).
        self._created: dict[str, tuple[int, int]] = {}
        self._publisher = Publisher()

    # --- blobs ------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where the blob with this digest lives."""
        return self.objects / _shard(digest) / digest

    def blob_size(self, digest: str) -> int | None:
        """The size of a stored blob, or None when it is missing."""
        try:
            return os.stat(self.blob_path(digest)).st_size
        except FileNotFoundError:
            return None

    def load_blob(
        self, digest: str, size: int, *, mmap_mode: str | None, trust_verdict: bool
    ) -> memoryview | bytearray:
        """A blob's bytes, checked against its expected size and its name (the digest).

        With ``trust_verdict`` a blob already seen to verify at its current
        size and mtime is not hashed again (see `recyclable.verdict`).

        Raises:
            DamagedBlob: the blob is missing, of another size, or fails its checksum.
        """
        path = f"{self._objects_str}/{digest[:2]}/{digest}"
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            # A published entry's blob may be set aside for a moment by a
            # garbage collection about to find it was refreshed: put it back
            # (or find that the collection already did) and look again.
            self._restore_from_collection(digest)
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                raise DamagedBlob(digest, "is missing", present=False) from None
        try:
            info = os.fstat(fd)
            if info.st_size != size:
                raise DamagedBlob(
                    digest, f"has {info.st_size} bytes, expected {size}", present=True
                )
            data = self._map_or_read(fd, size, mmap_mode)
            if trust_verdict and verdict.known_good(fd, digest, info):
                return data
            if xxhash.xxh3_128_hexdigest(data) != digest:
                raise DamagedBlob(digest, "fails its checksum", present=True)
            verdict.stamp(fd, digest, info, persist=trust_verdict)
            return data
        finally:
            os.close(fd)

    @staticmethod
    def _map_or_read(fd: int, size: int, mmap_mode: str | None) -> memoryview | bytearray:
        if mmap_mode is None or size == 0:
            data = bytearray(size)
            view = memoryview(data)
            while view:
                got = os.readv(fd, [view])
                if got == 0:
                    raise DamagedBlob("?", "shrank while being read", present=True)
                view = view[got:]
            return data
        access = mmap.ACCESS_READ if mmap_mode == "r" else mmap.ACCESS_COPY
        return memoryview(mmap.mmap(fd, size, access=access))

    def quarantine_blob(self, digest: str) -> None:
        """Move a blob that failed verification out of the way, so it is written afresh."""
        self._move_to_quarantine(self.blob_path(digest), f"blob-{digest}")

    def iter_blobs(self) -> Iterator[tuple[str, os.stat_result]]:
        """Every stored blob's digest and stat (for garbage collection)."""
        for shard in _scandir(self.objects):
            for entry in _scandir(shard.path):
                with contextlib.suppress(FileNotFoundError):
                    yield entry.name, entry.stat()

    def filesystem_now(self) -> float:
        """The current time as this filesystem stamps files (mtime of a fresh file).

        Kernels stamp files from a coarse clock (milliseconds behind
        ``time.time()``), network filesystems from the server's clock: ages of
        files must be judged against this, not the local clock.
        """
        self._ensure_dir(self.tmp)
        probe = self.tmp / temp_name("clock")
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.file_mode)
        try:
            return os.fstat(fd).st_mtime
        finally:
            os.close(fd)
            os.unlink(probe)

    def _restore_from_collection(self, digest: str) -> bool:
        """Link back a blob a collection has renamed aside; True when one was found."""
        prefix = f"gc-{digest}."
        for entry in _scandir(self.tmp):
            if entry.name.startswith(prefix):
                try:
                    os.link(entry.path, self.blob_path(digest))
                except FileExistsError:
                    return True
                except FileNotFoundError:
                    continue  # the collection finished with it meanwhile
                return True
        return False

    def set_blob_aside(self, digest: str) -> Path | None:
        """Rename a blob out of sight (first step of deleting it); None when it is missing."""
        path = self.blob_path(digest)
        self._ensure_dir(self.tmp)
        aside = self.tmp / temp_name(f"gc-{digest}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return None
        return aside

    def finish_blob_aside(
        self, digest: str, aside: Path, *, keep_if_touched_after: float, keep: bool
    ) -> bool:
        """Put a blob set aside back (kept, or touched since) or delete it; True when kept.

        A writer that refreshed the blob after it was judged old gets it back;
        one that comes later finds it gone and writes it anew.
        """
        try:
            touched = os.stat(aside).st_mtime >= keep_if_touched_after
        except FileNotFoundError:
            return True  # a reader linked it back and another collection finished it
        if keep or touched:
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.blob_path(digest))
            os.unlink(aside)
            return True
        os.unlink(aside)
        # A reader that found the blob missing meanwhile may have linked it back.
        return os.path.exists(self.blob_path(digest))

    # --- manifests --------------------------------------------------------------------

    def manifest_path(self, key: str) -> Path:
        """Where the manifest of this key lives."""
        return self.entries / _shard(key) / f"{key}.json"

    def read_manifest(self, key: str) -> bytes | None:
        """The manifest's bytes, or None when no entry is published for ``key``."""
        try:
            fd = os.open(f"{self._entries_str}/{key[:2]}/{key}.json", os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(fd)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def read_manifest_quick(self, key: str) -> bytes | None:
        """`read_manifest` in one ``read`` (the hit path): may be short where a filesystem is.

        A caller verifies the bytes (the checksum) and, when they fail, reads
        again with `read_manifest` before judging the entry; see
        `recyclable.store.localread`.
        """
        return read_small_file(f"{self._entries_str}/{key[:2]}/{key}.json")

    def delete_manifest(self, key: str) -> None:
        """Remove a manifest (an entry no pool references any more)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.manifest_path(key))

    def delete_manifest_unless(self, key: str, wanted: Callable[[], bool]) -> bool:
        """Remove a manifest unless ``wanted()`` says, once it is out of sight, to keep it.

        The manifest is renamed aside first and ``wanted`` asked afterwards, so
        a pool that marks the entry concurrently either is seen by ``wanted`` or
        finds the manifest gone (and stores the entry again).

        Returns:
            True when the manifest was removed.

        """
        self._ensure_dir(self.tmp)
        aside = self.tmp / temp_name(f"gc-entry-{key}")
        try:
            os.rename(self.manifest_path(key), aside)
        except FileNotFoundError:
            return False
        if wanted():
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.manifest_path(key))
            os.unlink(aside)
            return False
        os.unlink(aside)
        return True

    def quarantine_manifest(self, key: str, judged: bytes | None = None) -> bool:
        """Move a manifest that failed verification out of the way.

        Args:
            key: the entry's key.
            judged: the bytes that failed; when given, a manifest that changed
                since (a writer re-published the entry) is left in place.

        Returns:
            True when the manifest was moved.

        """
        path = self.manifest_path(key)
        if judged is not None:
            try:
                with open(path, "rb") as handle:
                    if handle.read() != judged:
                        return False
            except FileNotFoundError:
                return False
        return self._move_to_quarantine(path, f"entry-{key}.json")

    def iter_manifest_keys(self) -> Iterator[str]:
        """The keys of every published manifest."""
        for shard in _scandir(self.entries):
            for entry in _scandir(shard.path):
                if entry.name.endswith(".json"):
                    yield entry.name[: -len(".json")]

    def _move_to_quarantine(self, path: Path, label: str) -> bool:
        try:
            self._ensure_dir(self.quarantine)
            os.rename(path, self.quarantine / temp_name(label))
        except FileNotFoundError:
            return False
        except OSError as exc:
            # A read-only cache: the damaged file stays, every load still rejects it.
            logger.debug("cannot quarantine %s: %s", path, exc)
            return False
        return True

    # --- pools and their membership markers -------------------------------------------

    def pool_dir(self, pool: str) -> Path:
        """The directory of a pool's membership markers."""
        return self.pools / pool

    def create_pool(self, pool: str) -> bool:
        """Create a pool; False when it already existed."""
        self._ensure_dir(self.pools)
        try:
            self.pool_dir(pool).mkdir(mode=self.dir_mode)
        except FileExistsError:
            return False
        if self.shared:
            os.chmod(self.pool_dir(pool), self.dir_mode)
        if self.durable:
            self._fsync_dir(self.pools)
        return True

    def pool_exists(self, pool: str) -> bool:
        """True when the pool exists."""
        return self.pool_dir(pool).is_dir()

    def list_pools(self) -> list[str]:
        """Names of every pool, sorted."""
        return sorted(entry.name for entry in _scandir(self.pools) if entry.is_dir())

    def has_marker(self, pool: str, key: str) -> bool:
        """True when ``key`` belongs to ``pool``."""
        return os.path.exists(f"{self._pools_str}/{pool}/{key[:2]}/{key}")

    def add_marker(self, pool: str, key: str) -> None:
        """Record that ``pool`` holds ``key`` (an empty file; creating it twice is harmless)."""
        shard = self.pool_dir(pool) / _shard(key)
        path = shard / key
        # O_EXCL: only the creator sets the mode (another group member's
        # marker cannot be chmodded, and needs nothing).
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            for _ in range(_MKDIR_ATTEMPTS):
                try:
                    fd = os.open(path, flags, self.file_mode)
                    break
                except FileNotFoundError:
                    # A finishing run may remove the pool's empty directories
                    # (remove_pool_if_empty) between our mkdir and open: redo both.
                    self.make_dirs(shard)
            else:
                fd = os.open(path, flags, self.file_mode)
        except FileExistsError:
            return
        try:
            if self.shared:
                os.fchmod(fd, self.file_mode)  # the umask may have dropped group bits
        finally:
            os.close(fd)
        if self.durable:
            self._fsync_dir(shard)

    def remove_marker(self, pool: str, key: str) -> None:
        """Forget that ``pool`` holds ``key``."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pool_dir(pool) / _shard(key) / key)

    def marker_mtime(self, pool: str, key: str) -> float | None:
        """When a marker was created, or None when it is missing."""
        try:
            return os.stat(self.pool_dir(pool) / _shard(key) / key).st_mtime
        except FileNotFoundError:
            return None

    def iter_markers(self, pool: str) -> Iterator[str]:
        """The keys a pool holds."""
        for shard in _scandir(self.pool_dir(pool)):
            # Dot-directories (``.runs``) hold bookkeeping, never markers.
            if shard.is_dir() and not shard.name.startswith("."):
                for entry in _scandir(shard.path):
                    yield entry.name

    def remove_pool_if_empty(self, pool: str) -> bool:
        """Remove a pool that holds no marker and no run record; True when it is gone.

        Only ``rmdir`` is used, which fails on a non-empty directory: a writer
        that adds a marker meanwhile keeps the pool (``add_marker`` recreates
        directories it finds missing).
        """
        root = self.pool_dir(pool)
        for sub in _scandir(root):
            if sub.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.rmdir(sub.path)
        try:
            os.rmdir(root)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

    def detach_pool(self, pool: str) -> Path | None:
        """Atomically take a pool out of sight; return where its markers now are."""
        self._ensure_dir(self.tmp)
        aside = self.tmp / temp_name(f"pool-{pool}")
        try:
            os.rename(self.pool_dir(pool), aside)
        except FileNotFoundError:
            return None
        return aside

    # --- staging leftovers ------------------------------------------------------------

    def iter_temp(self) -> Iterator[tuple[Path, os.stat_result]]:
        """Every staging file or directory, with its stat (for garbage collection)."""
        for entry in _scandir(self.tmp):
            with contextlib.suppress(FileNotFoundError):
                yield Path(entry.path), entry.stat(follow_symlinks=False)

    @staticmethod
    def remove_tree(path: Path) -> None:
        """Delete a staging file or a detached directory."""
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISDIR(mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _scandir(path: Path | str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
