"""The write side's atomic step and what a writer knows of the blobs it has just written.

Publishing moves a complete staging file to its final name so that readers see
either no file or the whole one, and a file already there is never replaced:
for a manifest the first writer wins, for a blob any winner holds the same
bytes.  On Linux that is one ``renameat2(RENAME_NOREPLACE)``; where the kernel
or the filesystem lacks it (NFS, FUSE, other systems) it is ``os.link`` and
``os.unlink`` of the staging name, and where there are no hard links,
check-then-``os.replace``.  Python has no binding for ``renameat2``, so it is
called through ``ctypes`` (the wrapper is a few lines; no package is worth a
dependency for it).

A blob this process has just created is its own bytes: the writer hashed them
in memory to name the blob.  While its file is still the very one written (the
same inode and size, and the mtime set at creation, which any write or touch
changes) the writer maps it back without hashing it again or asking its
extended attribute (`map_own`), and stamps the checksum verdict once, when it
refreshes the blob just before publishing the manifest.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import xxhash

if TYPE_CHECKING:
    from recyclable.store.base import Store
    from recyclable.store.local import LocalStore

__all__ = [
    "NO_LINKS",
    "Publisher",
    "creation_mark",
    "load_written",
    "map_own",
    "rename_noreplace",
    "untouched_since_written",
    "write_blobs",
    "write_hashing",
]

#: Buffers at least this large are hashed as they are written to a local
#: store (`write_hashing`): their blob's name is needed only to publish it.
HASH_WHILE_WRITING = 1 << 20

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
# What renameat2 says when this kernel or filesystem cannot do it.
_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})
#: What os.link says where a filesystem has no hard links (ENOSYS: a FUSE
#: filesystem that leaves the operation out).
NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS})


def _load_renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library older than glibc 2.28
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_renameat2 = _load_renameat2()


def rename_noreplace(source: str, target: str) -> bool | None:
    """Rename ``source`` to ``target`` unless ``target`` exists, atomically.

    Returns:
        True when renamed, False when ``target`` already existed (``source``
        is left in place), None when this system or filesystem cannot rename
        without replacing.

    Raises:
        OSError: any other failure (a missing directory, a full disk, permissions).

    """
    if _renameat2 is None:
        return None
    if _renameat2(
        _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
    ):
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            return False
        if code in _UNSUPPORTED:
            return None
        raise OSError(code, os.strerror(code), source, None, target)
    return True


class Publisher:
    """Publishes staging files of one store; remembers whether ``renameat2`` works there.

    Args:
        renames: try ``renameat2(RENAME_NOREPLACE)`` first (False: links only,
            as where the filesystem refuses it).

    """

    def __init__(self, *, renames: bool = True) -> None:
        self.renames = renames and _renameat2 is not None

    def publish(self, staged: Path, final: Path) -> bool:
        """Make ``staged`` visible as ``final``; False when ``final`` already existed.

        The staging name is gone afterwards, whoever won.
        """
        if self.renames:
            try:
                moved = rename_noreplace(str(staged), str(final))
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(staged)
                raise
            if moved is not None:
                if not moved:
                    with contextlib.suppress(OSError):
                        os.unlink(staged)
                return moved
            self.renames = False  # this filesystem cannot: links from now on
        return _link_then_unlink(staged, final)


def _link_then_unlink(staged: Path, final: Path) -> bool:
    try:
        os.link(staged, final)
        won = True
    except FileExistsError:
        won = False
    except OSError as exc:
        if exc.errno not in NO_LINKS:
            with contextlib.suppress(OSError):
                os.unlink(staged)
            raise
        # No hard links here: check-then-replace.  For content-addressed
        # blobs any winner is correct; for manifests the loser's file is a
        # complete, equally valid entry for the same key.
        won = not final.exists()
        os.replace(staged, final)
        return won
    with contextlib.suppress(OSError):
        os.unlink(staged)
    return won


def map_own(path: str, size: int, identity: tuple[int, int], mmap_mode: str) -> memoryview | None:
    """Map a blob this process created, if its file is still the one written; else None.

    ``identity`` is the (inode, mtime in ns) the file had once written.  Its
    bytes were hashed in memory to name it, so while the inode, the size
    and the mtime are those (every write and every touch changes the mtime)
    mapping it needs neither a hash nor a look at its checksum verdict.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (info.st_ino, info.st_mtime_ns) != identity or info.st_size != size or size == 0:
            return None
        access = mmap.ACCESS_READ if mmap_mode == "r" else mmap.ACCESS_COPY
        return memoryview(mmap.mmap(fd, size, access=access))
    finally:
        os.close(fd)


def load_written(
    store: LocalStore, digest: str, size: int, *, mmap_mode: str | None, trust_verdict: bool
) -> memoryview | bytearray:
    """A blob as a hit would load it, for the writer that has just written it.

    The writer's own bytes, untouched since, are mapped without a hash
    (`map_own`); any other blob (one that already existed, or was touched or
    rewritten since) is loaded and verified exactly as a hit loads it.
    """
    identity = store._created.get(digest)
    if identity is not None and mmap_mode is not None:
        data = map_own(str(store.blob_path(digest)), size, identity, mmap_mode)
        if data is not None:
            return data
    return store.load_blob(digest, size, mmap_mode=mmap_mode, trust_verdict=trust_verdict)


def untouched_since_written(info: os.stat_result, identity: tuple[int, int] | None) -> bool:
    """True when a blob's stat shows the very file this process wrote, unchanged since."""
    return identity is not None and (info.st_ino, info.st_mtime_ns) == identity


def creation_mark(fd: int) -> tuple[int, int]:
    """Set a new file's mtime one nanosecond before the kernel's stamp; return (inode, mtime).

    Any later touch (``utime`` to the current time) or write then changes the
    mtime, which tells a failed store's clean-up that another writer uses the
    blob, and tells the writer that the file is no longer only its own bytes.
    """
    info = os.fstat(fd)
    os.utime(fd, ns=(info.st_atime_ns, info.st_mtime_ns - 1))
    return info.st_ino, info.st_mtime_ns - 1


def write_hashing(store: LocalStore, buffer: memoryview) -> tuple[bytes, bool]:
    """Write a large buffer as a blob, each piece hashed before its write; return (digest, created).

    The name (the xxh3_128 of the bytes) is needed only to publish the staging
    file, so each piece is hashed right before it is written, and the write
    copies it from the CPU cache: one pass over the buffer's memory instead
    of two (`recyclable.store.localwrite.write_new_file`).
    (On a 2-CPU AMD Zen 3 VM a thread hashing beside the write measured
    slower: the concurrent pass over memory slowed the copy into the page
    cache by about as much as the hash costs.  On a 2-CPU Intel Xeon VM it
    measured the reverse: the hash before each piece added 3 ms to 13.3 ms
    of writing 64 MiB, a thread beside the write 0.2 ms.  One way serves
    all machines until the choice can be made from a measurement on each.)
    An identical blob already stored is kept, refreshed with its verdict,
    and the staging file dropped; on a write error (a full disk) such a blob
    still serves, as it would have without writing.
    """
    hasher = xxhash.xxh3_128()
    try:
        staged, identity = store._write_temp(
            "blob", [buffer], creation_mark=True, hasher=hasher.update
        )
    except OSError:
        whole = xxhash.xxh3_128_digest(buffer)
        if _reuse(store, whole.hex()):
            return whole, False
        raise
    raw = hasher.digest()
    digest = raw.hex()
    final = store.blob_path(digest)
    try:
        store._refresh(final, digest)  # an identical blob is already stored: it serves
    except FileNotFoundError:
        pass
    except PermissionError:
        # Another member of a shared cache owns it: our copy, swapped in
        # atomically, refreshes the mtime as well.
        os.replace(staged, final)
        return raw, False
    else:
        with contextlib.suppress(OSError):
            os.unlink(staged)
        return raw, False
    won = store._publish(staged, final)
    if won and identity is not None:
        store._created[digest] = identity
    return raw, won


def _reuse(store: LocalStore, digest: str) -> bool:
    """Refresh an identical blob already stored (keeping its verdict); False when there is none."""
    try:
        store._refresh(store.blob_path(digest), digest)
    except OSError:
        return False
    return True


def write_blobs(
    store: Store,
    buffers: list[memoryview],
    created: list[str],
    digests: list[bytes],
    *,
    local: bool,
) -> list[dict[str, Any]]:
    """Write each buffer as a blob named by its xxh3_128; return the manifest's blob infos.

    ``digests`` receives each buffer's digest, ``created`` the names of the
    blobs this call created (so a failed store can free them).  ``local``
    says the store is a `LocalStore`, whose large buffers are hashed as they
    are written.
    """
    infos = []
    for buffer in buffers:
        if local and buffer.nbytes >= HASH_WHILE_WRITING:
            raw, made = write_hashing(cast("LocalStore", store), buffer)
        else:
            raw = xxhash.xxh3_128_digest(buffer)
            made = store.write_blob(raw.hex(), [buffer])
        digests.append(raw)
        if made:
            created.append(raw.hex())
        infos.append({"digest": raw.hex(), "size": buffer.nbytes})
    return infos
