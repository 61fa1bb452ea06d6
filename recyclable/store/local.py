"""The local POSIX store: where a cache's bytes live on a local or shared filesystem.

Every write goes to a uniquely named file in ``<root>/tmp`` (same filesystem)
and becomes visible through one atomic step: ``os.link`` for manifests (first
writer wins, a loser keeps the winner's file) and blobs (content-addressed,
so any winner is as good as another), ``os.replace`` where a filesystem has no
hard links.  Readers therefore never see a partly written file under a
published name.  No lock is taken anywhere.

The store knows nothing about Python values or manifest contents.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import secrets
import shutil
import socket
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["LocalStore"]

_HOST = socket.gethostname().replace(os.sep, "_")[:64] or "host"
_MKDIR_ATTEMPTS = 5


def _shard(name: str) -> str:
    return name[:2]


def temp_name(label: str) -> str:
    """A staging file name that says who wrote it: host, pid and a random part."""
    return f"{label}.{_HOST}.{os.getpid()}.{secrets.token_hex(6)}.tmp"


class LocalStore:
    """Bytes on a POSIX filesystem under one cache root.

    Args:
        root: the cache directory (already created and validated by `Cache`).
        durable: fsync data, manifests and directories before publishing.

    """

    def __init__(self, root: Path, *, durable: bool = False) -> None:
        self.root = root
        self.durable = durable
        self.objects = root / "objects"
        self.entries = root / "entries"
        self.pools = root / "pools"
        self.tmp = root / "tmp"
        self.quarantine = root / "quarantine"
        self._known_dirs: set[str] = set()

    # --- staging and publishing -------------------------------------------------------

    def _ensure_dir(self, path: Path) -> None:
        text = str(path)
        if text not in self._known_dirs:
            path.mkdir(parents=True, exist_ok=True)
            self._known_dirs.add(text)

    def _write_temp(self, label: str, chunks: Sequence[Any]) -> Path:
        """Write ``chunks`` to a new staging file; remove it again on any failure."""
        self._ensure_dir(self.tmp)
        path = self.tmp / temp_name(label)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            for chunk in chunks:
                view = memoryview(chunk).cast("B")
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            if self.durable:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        os.close(fd)
        return path

    def _publish(self, staged: Path, final: Path) -> bool:
        """Make ``staged`` visible as ``final``; False when ``final`` already existed."""
        self._ensure_dir(final.parent)
        try:
            os.link(staged, final)
            won = True
        except FileExistsError:
            won = False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                with contextlib.suppress(OSError):
                    os.unlink(staged)
                raise
            # No hard links here: check-then-replace.  For content-addressed
            # blobs any winner is correct; for manifests the loser's file is a
            # complete, equally valid entry for the same key.
            won = not final.exists()
            os.replace(staged, final)
            staged = final
        if staged != final:
            with contextlib.suppress(OSError):
                os.unlink(staged)
        if self.durable:
            self._fsync_dir(final.parent)
        return won

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- blobs ------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where the blob with this digest lives."""
        return self.objects / _shard(digest) / digest

    def write_blob(self, digest: str, chunks: Sequence[Any]) -> None:
        """Store a blob under its digest unless an identical one is already there.

        An existing blob has its mtime refreshed, which tells garbage collection
        that a writer is about to reference it again.
        """
        final = self.blob_path(digest)
        try:
            os.utime(final)
            return
        except FileNotFoundError:
            pass
        staged = self._write_temp("blob", chunks)
        self._publish(staged, final)

    def blob_size(self, digest: str) -> int | None:
        """The size of a stored blob, or None when it is missing."""
        try:
            return os.stat(self.blob_path(digest)).st_size
        except FileNotFoundError:
            return None

    def read_blob(self, digest: str, *, mmap_mode: str | None) -> memoryview | bytearray | None:
        """A blob's bytes: memory-mapped (``"r"`` read-only, ``"c"`` copy-on-write) or read.

        Read into memory (``mmap_mode=None``) the bytes are a writable
        bytearray, so arrays built on them are writable like computed ones.
        """
        path = self.blob_path(digest)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            size = os.fstat(fd).st_size
            if mmap_mode is None or size == 0:
                data = bytearray(size)
                view = memoryview(data)
                while view:
                    got = os.readv(fd, [view])
                    if got == 0:
                        break  # shrank under us: the size check will reject it
                    view = view[got:]
                return data
            access = mmap.ACCESS_READ if mmap_mode == "r" else mmap.ACCESS_COPY
            mapped = mmap.mmap(fd, size, access=access)
            return memoryview(mapped)
        finally:
            os.close(fd)

    def quarantine_blob(self, digest: str) -> None:
        """Move a blob that failed verification out of the way, so it is written afresh."""
        self._move_to_quarantine(self.blob_path(digest), f"blob-{digest}")

    def iter_blobs(self) -> Iterator[tuple[str, os.stat_result]]:
        """Every stored blob's digest and stat (for garbage collection)."""
        for shard in _scandir(self.objects):
            for entry in _scandir(shard.path):
                with contextlib.suppress(FileNotFoundError):
                    yield entry.name, entry.stat()

    def delete_blob_if_idle(self, digest: str, older_than: float) -> bool:
        """Delete a blob unless it was touched after ``older_than`` (epoch seconds).

        The blob is first renamed aside, then its mtime checked again: a writer
        that refreshed it in between gets it back, one that comes later finds it
        gone and writes it anew.
        """
        path = self.blob_path(digest)
        self._ensure_dir(self.tmp)
        aside = self.tmp / temp_name(f"gc-{digest}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        if os.stat(aside).st_mtime > older_than:
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
            os.unlink(aside)
            return False
        os.unlink(aside)
        return True

    # --- manifests --------------------------------------------------------------------

    def manifest_path(self, key: str) -> Path:
        """Where the manifest of this key lives."""
        return self.entries / _shard(key) / f"{key}.json"

    def read_manifest(self, key: str) -> bytes | None:
        """The manifest's bytes, or None when no entry is published for ``key``."""
        try:
            with open(self.manifest_path(key), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def publish_manifest(self, key: str, data: bytes) -> bool:
        """Publish a manifest atomically; False when another writer's manifest won."""
        staged = self._write_temp("manifest", [data])
        return self._publish(staged, self.manifest_path(key))

    def delete_manifest(self, key: str) -> None:
        """Remove a manifest (an entry no pool references any more)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.manifest_path(key))

    def quarantine_manifest(self, key: str) -> None:
        """Move a manifest that failed verification out of the way."""
        self._move_to_quarantine(self.manifest_path(key), f"entry-{key}.json")

    def iter_manifest_keys(self) -> Iterator[str]:
        """The keys of every published manifest."""
        for shard in _scandir(self.entries):
            for entry in _scandir(shard.path):
                if entry.name.endswith(".json"):
                    yield entry.name[: -len(".json")]

    def _move_to_quarantine(self, path: Path, label: str) -> None:
        self._ensure_dir(self.quarantine)
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, self.quarantine / temp_name(label))

    # --- pools and their membership markers -------------------------------------------

    def pool_dir(self, pool: str) -> Path:
        """The directory of a pool's membership markers."""
        return self.pools / pool

    def create_pool(self, pool: str) -> bool:
        """Create a pool; False when it already existed."""
        self._ensure_dir(self.pools)
        try:
            self.pool_dir(pool).mkdir()
        except FileExistsError:
            return False
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
        return os.path.exists(self.pool_dir(pool) / _shard(key) / key)

    def add_marker(self, pool: str, key: str) -> None:
        """Record that ``pool`` holds ``key`` (an empty file; creating it twice is harmless)."""
        shard = self.pool_dir(pool) / _shard(key)
        path = shard / key
        for _ in range(_MKDIR_ATTEMPTS):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
                break
            except FileNotFoundError:
                # A finishing run may remove the pool's empty directories
                # (remove_pool_if_empty) between our mkdir and open: redo both.
                shard.mkdir(parents=True, exist_ok=True)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
        if self.durable:
            self._fsync_dir(shard)

    def iter_markers(self, pool: str) -> Iterator[str]:
        """The keys a pool holds."""
        for shard in _scandir(self.pool_dir(pool)):
            # Dot-directories (``.runs``) hold bookkeeping, never markers.
            if shard.is_dir() and not shard.name.startswith("."):
                for entry in _scandir(shard.path):
                    yield entry.name

    def remove_marker(self, pool: str, key: str) -> None:
        """Drop ``key`` from ``pool`` (the entry itself stays until garbage collection)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pool_dir(pool) / _shard(key) / key)

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
