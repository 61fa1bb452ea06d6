"""The local store's write side: staging files, their atomic publish, writing blobs.

Every write goes to a uniquely named file in ``<root>/tmp`` (same filesystem,
named by `temp_name` after its writer) and becomes visible through one atomic
step (`recyclable.store.publish.Publisher`).  `LocalWriter` is a base class of
`recyclable.store.local.LocalStore`, not a separate object, so a write costs
no call more than it did as the store's own methods.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recyclable import _crashpoints, verdict
from recyclable._crashpoints import crash_point
from recyclable._proc import own_identity, same_process
from recyclable.store.publish import Publisher, untouched_since_written
from recyclable.store.publish import creation_mark as _mark

__all__ = [
    "PREALLOCATE_MIN",
    "WRITE_PIECE",
    "LocalWriter",
    "preallocate",
    "temp_name",
    "temp_writer",
    "write_new_file",
    "writer_state",
]

_HOST = socket.gethostname().replace(os.sep, "_")[:64] or "host"

#: New files at least this large get their blocks allocated before they are
#: written (`preallocate`).  Measured on ext4 (64 MiB results, alternating
#: rounds on a loaded 2-core VM), a write into blocks allocated up front
#: costs 13-15 % less than one into delayed allocation, which reserves space
#: page by page as the data is copied in.
PREALLOCATE_MIN = 1 << 20

#: Files are written at most this many bytes per ``write`` call.  On this
#: VM (virtio-balloon, free page reporting from order 9, ext4 on Linux 6.18)
#: a 64 MiB file written in one call spent its time in the kernel's copy into
#: new page-cache folios and measured 8-12x slower at times than in 1 MiB
#: pieces: consistent with 2 MiB folios taken from free blocks whose memory
#: the host must fault in again, where smaller folios come from blocks still
#: backed.  Where new pages are cheap the pieces cost within 5 % of one call,
#: and a piece is still in the CPU cache when a ``hasher`` reads it.
WRITE_PIECE = 1 << 20

# What fallocate says where a filesystem (NFS, FUSE, ZFS) or kernel cannot:
# the file is then written as it would have been without it.
_NO_FALLOCATE = frozenset(
    {errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL, errno.ENODEV, errno.EPERM}
)


def _load_fallocate() -> Any:
    # Not os.posix_fallocate: where the filesystem cannot, glibc's emulates it
    # by writing a byte into every block, which costs more than it saves.
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    func = getattr(libc, "fallocate64", None) or getattr(libc, "fallocate", None)
    if func is None:
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    func.restype = ctypes.c_int
    return func


_fallocate = _load_fallocate()


def preallocate(fd: int, size: int, path: Path | str | None = None) -> None:
    """Allocate the blocks of a new file's ``size`` bytes before they are written.

    Does nothing where the system or the filesystem cannot (the write then
    allocates as usual).

    Raises:
        OSError: the disk or the quota has no room for ``size`` bytes (the
            write would have failed the same way, after copying part of them).

    """
    if _fallocate is None or _fallocate(fd, 0, 0, size) == 0:
        return
    code = ctypes.get_errno()
    if code in _NO_FALLOCATE or code == errno.EINTR:
        return
    raise OSError(code, os.strerror(code), None if path is None else str(path))


def write_new_file(
    path: Path,
    chunks: Sequence[Any],
    *,
    mode: int = 0o644,
    exact_mode: bool = False,
    fsync: bool = False,
    midway: Callable[[], None] | None = None,
    finish: Callable[[int], None] | None = None,
    hasher: Callable[[memoryview], object] | None = None,
) -> None:
    """Create ``path`` (it must not exist) holding every byte of ``chunks``; on failure remove it.

    A file of `PREALLOCATE_MIN` bytes or more has its blocks allocated first
    (`preallocate`), so a full disk fails it before any byte is copied.  The
    bytes go out in pieces of at most `WRITE_PIECE`.

    Args:
        path: the new file.
        chunks: buffers written one after the other.
        mode: its permission bits.
        exact_mode: set ``mode`` regardless of the umask (shared caches).
        fsync: flush the data to disk before closing.
        midway: called once half of the first chunk is written (crash-point tests).
        finish: called with the open descriptor after the data is written.
        hasher: called with each piece, in order, right before it is
            written: the hash brings the piece into the CPU cache, and the
            kernel's copy into the page cache then reads it from there.
            Measured on a 2-CPU AMD Zen 3 VM, 64 MiB in 1 MiB pieces: 12.9 ms
            written alone, 12.4 ms hashed before each write, 15.1 ms hashed
            after each, 16.0 ms hashed in a pass of its own.  (An Intel Xeon
            VM measured otherwise: see `recyclable.store.publish.write_hashing`.)
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        if exact_mode:
            os.fchmod(fd, mode)
        size = sum(memoryview(chunk).nbytes for chunk in chunks)
        if size >= PREALLOCATE_MIN:
            preallocate(fd, size, path)
        for chunk in chunks:
            view = memoryview(chunk).cast("B")
            if midway is not None and view.nbytes > 1:
                _write_pieces(fd, view[: view.nbytes // 2], hasher)
                midway()
                midway = None
                view = view[view.nbytes // 2 :]
            _write_pieces(fd, view, hasher)
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


def _write_pieces(fd: int, view: memoryview, hasher: Callable[[memoryview], object] | None) -> None:
    for start in range(0, view.nbytes, WRITE_PIECE):
        piece = view[start : start + WRITE_PIECE]
        if hasher is not None:
            hasher(piece)  # first: the write then copies from the CPU cache
        _write_view(fd, piece)


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


def _mid_blob() -> None:
    crash_point("mid-blob")


class LocalWriter:
    """Staging, publishing and writing blobs and manifests: the half of `LocalStore` a miss uses."""

    # Set by `LocalStore.__init__`.
    durable: bool
    shared: bool
    file_mode: int
    dir_mode: int
    objects: Path
    tmp: Path
    _known_dirs: set[str]
    _created: dict[str, tuple[int, int]]
    _publisher: Publisher

    if TYPE_CHECKING:

        def blob_path(self, digest: str) -> Path:
            """`LocalStore.blob_path`."""

        def manifest_path(self, key: str) -> Path:
            """`LocalStore.manifest_path`."""

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
        hasher: Callable[[memoryview], object] | None = None,
    ) -> tuple[Path, tuple[int, int] | None]:
        """Write ``chunks`` to a new staging file; remove it again on any failure.

        With ``digest`` (the xxh3_128 the caller computed over the same bytes)
        the file is stamped as verified, so the first load need not hash it.
        With ``creation_mark`` its mtime is set one nanosecond before the time
        the kernel stamped: any later touch (``utime`` to the current time) then
        changes it, which tells `delete_blob` that another writer uses the blob.
        ``hasher`` is given every piece written (`write_new_file`).

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
            # Split the write in two only where a crash test watches the point.
            midway=_mid_blob if label == "blob" and _crashpoints.hook is not None else None,
            finish=stamp,
            hasher=hasher,
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

    # --- manifests --------------------------------------------------------------------

    def publish_manifest(self, key: str, data: bytes) -> bool:
        """Publish a manifest atomically; False when another writer's manifest won."""
        staged = self._write_temp("manifest", [data])[0]
        crash_point("before-publish")
        return self._publish(staged, self.manifest_path(key))
