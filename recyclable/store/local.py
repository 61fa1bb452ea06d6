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
import logging
import mmap
import os
import secrets
import shutil
import socket
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import xxhash

from recyclable import verdict
from recyclable._crashpoints import crash_point
from recyclable._proc import own_identity, same_process
from recyclable.store.localread import read_small_file
from recyclable.store.publish import Publisher, untouched_since_written
from recyclable.store.publish import creation_mark as _mark

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


_HOST = socket.gethostname().replace(os.sep, "_")[:64] or "host"
_MKDIR_ATTEMPTS = 5


def _shard(name: str) -> str:
    return name[:2]


def write_new_file(
    path: Path,
    chunks: Sequence[Any],
    *,
    mode: int = 0o644,
    exact_mode: bool = False,
    fsync: bool = False,
    midway: Callable[[], None] | None = None,
    finish: Callable[[int], None] | None = None,
) -> None:
    """Create ``path`` (it must not exist) holding every byte of ``chunks``; on failure remove it.

    Args:
        path: the new file.
        chunks: buffers written one after the other.
        mode: its permission bits.
        exact_mode: set ``mode`` regardless of the umask (shared caches).
        fsync: flush the data to disk before closing.
        midway: called once half of the first chunk is written (crash-point tests).
        finish: called with the open descriptor after the data is written.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        if exact_mode:
            os.fchmod(fd, mode)
        for chunk in chunks:
            view = memoryview(chunk).cast("B")
            if midway is not None and view.nbytes > 1:
                _write_view(fd, view[: view.nbytes // 2])
                midway()
                midway = None
                view = view[view.nbytes // 2 :]
            _write_view(fd, view)
        if fsync:
            os.fsync(fd)
        if finish is not None:
            finish(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


def _write_view(fd: int, view: memoryview) -> None:
    # os.write may write fewer bytes than asked: loop until all are out.
    while view:
        view = view[os.write(fd, view) :]


def temp_name(label: str) -> str:
    """A staging file name that says who wrote it: host, pid, the pid's start time, a random part.

    ``<label>.<host>.<pid>.<random>-<start>.tmp``; the start time (hex clock
    ticks since boot) tells the writer from a later process with its pid.
    """
    start = own_identity()[1]
    stamp = "" if start is None else f"-{start:x}"
    return f"{label}.{_HOST}.{os.getpid()}.{secrets.token_hex(6)}{stamp}.tmp"


def temp_writer(name: str) -> tuple[str, int] | None:
    """The (host, pid) a staging name made by `temp_name` records, or None for another name."""
    parts = name.rsplit(".", 3)
    if len(parts) != 4 or parts[3] != "tmp" or not parts[1].isdigit():
        return None
    rest = parts[0]
    # The label may contain dots, the host too: only our own host can be recognised.
    if not rest.endswith("." + _HOST):
        return ("", int(parts[1]))
    return (_HOST, int(parts[1]))


def _temp_start(name: str) -> int | None:
    """The writer's start time a name made by `temp_name` records, or None (older names)."""
    parts = name.rsplit(".", 2)
    _, dash, start = (parts[1] if len(parts) == 3 else "").partition("-")
    try:
        return int(start, 16) if dash else None
    except ValueError:
        return None


def writer_state(name: str) -> str:
    """Whether the writer of a staging file runs: ``"live"``, ``"dead"`` or ``"unknown"``.

    Only a process of this host can be judged; ``"unknown"`` covers other
    hosts and names not made by `temp_name`.  A name of our own pid written
    by an earlier process (a re-run container entrypoint is pid 1 again) is
    dead.
    """
    writer = temp_writer(name)
    if writer is None or writer[0] != _HOST:
        return "unknown"
    return "dead" if same_process(writer[1], _temp_start(name)) is False else "live"


class LocalStore:
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

    # --- staging and publishing -------------------------------------------------------

    def _ensure_dir(self, path: Path) -> None:
        text = str(path)
        if text not in self._known_dirs:
            self.make_dirs(path)
            self._known_dirs.add(text)

    def make_dirs(self, path: Path) -> None:
        """Create ``path`` and missing parents with the cache's directory mode.

        Under ``durable`` each new directory's parent is fsynced, so the new
        name survives a power loss along with the files later linked into it.
        """
        missing: list[Path] = []
        probe = path
        while not probe.is_dir():
            missing.append(probe)
            if probe.parent == probe:
                break
            probe = probe.parent
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=self.dir_mode)
            except FileExistsError:
                continue
            if self.shared:
                os.chmod(directory, self.dir_mode)  # the umask may have dropped group bits
            if self.durable:
                self._fsync_dir(directory.parent)

    def _write_temp(
        self,
        label: str,
        chunks: Sequence[Any],
        *,
        digest: str | None = None,
        creation_mark: bool = False,
    ) -> tuple[Path, tuple[int, int] | None]:
        """Write ``chunks`` to a new staging file; remove it again on any failure.

        With ``digest`` (the xxh3_128 the caller computed over the same bytes)
        the file is stamped as verified, so the first load need not hash it.
        With ``creation_mark`` its mtime is set one nanosecond before the time
        the kernel stamped: any later touch (``utime`` to the current time) then
        changes it, which tells `delete_blob` that another writer uses the blob.

        Returns:
            The staging path, and with ``creation_mark`` the (inode, mtime in
            ns) the file has once written (else None).

        """
        self._ensure_dir(self.tmp)
        path = self.tmp / temp_name(label)
        identity: list[tuple[int, int]] = []

        def stamp(fd: int) -> None:
            if creation_mark:
                identity.append(_mark(fd))
            if digest is not None:
                verdict.stamp(fd, digest, os.fstat(fd))

        write_new_file(
            path,
            chunks,
            mode=self.file_mode,
            exact_mode=self.shared,
            fsync=self.durable,
            midway=(lambda: crash_point("mid-blob")) if label == "blob" else None,
            finish=stamp,
        )
        return path, identity[0] if identity else None

    def _publish(self, staged: Path, final: Path) -> bool:
        """Make ``staged`` visible as ``final``; False when ``final`` already existed."""
        self._ensure_dir(final.parent)
        won = self._publisher.publish(staged, final)
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

    def write_blob(self, digest: str, chunks: Sequence[Any]) -> bool:
        """Store a blob under its digest unless an identical one is already there.

        An existing blob has its mtime refreshed (keeping its checksum
        verdict), which tells garbage collection that a writer is about to
        reference it again.  A new one is not stamped as verified yet: its
        writer knows its bytes (`publish.map_own`) and stamps the verdict
        once, when `touch_blob` refreshes it just before publishing.

        Returns:
            True when this call created the blob.

        """
        final = self.blob_path(digest)
        try:
            self._refresh(final, digest)
            return False
        except FileNotFoundError:
            pass
        except PermissionError:
            # Another member of a shared cache owns it: a fresh copy, swapped in
            # atomically, refreshes the mtime as well.
            os.replace(self._write_temp("blob", chunks, digest=digest)[0], final)
            return False
        staged, identity = self._write_temp("blob", chunks, creation_mark=True)
        won = self._publish(staged, final)
        if won and identity is not None:
            self._created[digest] = identity
        return won

    def touch_blob(self, digest: str) -> bool:
        """Refresh a blob's mtime (a writer is about to reference it); False when it is missing.

        A checksum verdict the blob held before the touch is carried over:
        refreshing the mtime does not change the bytes.  A blob this store
        wrote and nobody touched since is stamped as verified here, once.
        """
        try:
            self._refresh(self.blob_path(digest), digest)
        except FileNotFoundError:
            return False
        except PermissionError:
            return True  # shared cache, another user's blob: the post-publish check covers it
        return True

    def _refresh(self, path: Path, digest: str) -> None:
        """Touch an existing blob, keeping (or, for our own bytes, giving) its verdict.

        Raises FileNotFoundError when it is missing, PermissionError for another user's file.
        """
        fd = os.open(path, os.O_RDONLY)
        try:
            info = os.fstat(fd)
            good = untouched_since_written(info, self._created.get(digest)) or verdict.known_good(
                fd, digest, info
            )
            os.utime(fd)
            if good:
                verdict.stamp(fd, digest, os.fstat(fd))
        finally:
            os.close(fd)

    def delete_blob(self, digest: str) -> None:
        """Free a blob a failed store of this process created, unless another writer used it.

        Another writer that stores the same bytes meanwhile finds the blob
        present and refreshes its mtime (that writer's manifest may already be
        published).  So the blob is renamed aside and deleted only if it is
        still the very file this store created, untouched since; otherwise it
        is linked back.  A writer that touches it after the rename finds it
        missing and writes it again.  Blobs this process did not create are
        left to garbage collection.
        """
        identity = self._created.pop(digest, None)
        if identity is None:
            return
        self._ensure_dir(self.tmp)
        aside = self.tmp / temp_name(f"gc-{digest}")
        try:
            os.rename(self.blob_path(digest), aside)
        except FileNotFoundError:
            return
        try:
            info = os.stat(aside)
        except FileNotFoundError:
            return  # a reader linked it back and a collection finished it
        if (info.st_ino, info.st_mtime_ns) != identity:
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.blob_path(digest))
        os.unlink(aside)

    def forget_created(self, digests: Sequence[str]) -> None:
        """A store published the entry that uses these blobs: they are no longer ours to free."""
        for digest in digests:
            self._created.pop(digest, None)

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

    def publish_manifest(self, key: str, data: bytes) -> bool:
        """Publish a manifest atomically; False when another writer's manifest won."""
        staged = self._write_temp("manifest", [data])[0]
        crash_point("before-publish")
        return self._publish(staged, self.manifest_path(key))

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
