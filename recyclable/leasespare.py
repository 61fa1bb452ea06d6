"""Lease files made once and linked into place for each claim, so a miss frees no inode.

A lease made with ``O_CREAT | O_EXCL`` and deleted at release costs each miss
a new inode and a freed one.  On ext4 without a journal a new file costs more
the more inodes were freed in the last minute or so (the allocator checks
every recently freed inode of the block group and skips it): measured here
39 µs per create on a quiet filesystem, 205 µs after 1,000 deletions and 1 ms
after 5,000.  A run of many misses would make every miss slower than the one
before it, through its own leases.

So a lease file is made once, as a *spare*: a staging file in ``tmp/`` named
by `temp_name`, so that garbage collection knows its writer and removes it
at once if that writer was killed.  Each claim writes the holder's record
into the spare (before anyone can see it) and hard-links it at the lease's
path; the link is the claim, as exclusive as ``O_CREAT | O_EXCL`` (it fails
when the path exists).  Releasing unlinks the lease's path and keeps the
spare, with its inode, for the next claim.  Spares are removed when a pool
of the cache is left and at exit, so a finished run leaves nothing in
``tmp/``.  Where the filesystem makes no hard links, each lease is a file of
its own made at its path with ``O_CREAT | O_EXCL`` (`Spares.create_at`).
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable
from pathlib import Path

from recyclable.store.local import temp_name

__all__ = ["Spare", "Spares", "link_spare"]


class Spare:
    """One lease file: its name, its open descriptor and its inode.

    The descriptor stays open from creation to removal: it pins the inode
    (no other file gets its number while a lease links to it) and the
    heartbeat renews the mtime through it.  ``kept`` tells a spare (named in
    ``tmp/``, kept between claims) from a file made at the lease's own path.
    """

    __slots__ = ("fd", "identity", "kept", "path", "size")

    def __init__(self, path: Path, fd: int, *, kept: bool = True) -> None:
        self.path = path
        self.fd = fd
        self.kept = kept
        info = os.fstat(fd)
        self.identity = (info.st_dev, info.st_ino)
        self.size = info.st_size

    def fill(self, record: bytes) -> None:
        """Write ``record`` as the file's whole content (this also stamps the heartbeat)."""
        view = memoryview(record)
        offset = 0
        while offset < len(view):
            offset += os.pwrite(self.fd, view[offset:], offset)
        if self.size > len(view):
            os.ftruncate(self.fd, len(view))  # a longer earlier record's tail
        self.size = len(view)

    def remove(self) -> None:
        """Delete the file's name and close the descriptor."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self.close()

    def close(self) -> None:
        """Close the descriptor (after any unlink: until then it pins the inode)."""
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Spares:
    """The idle lease files of one cache, kept for its next claims.

    Not thread-safe on its own: `recyclable.lease.Leases` calls it under its lock.

    Args:
        tmp: the cache's staging directory.
        file_mode: permission bits of a new lease file.
        exact_mode: set ``file_mode`` regardless of the umask (shared caches).
        make_dirs: creates a missing directory with the cache's modes.

    """

    def __init__(
        self,
        tmp: Path,
        *,
        file_mode: int,
        exact_mode: bool,
        make_dirs: Callable[[Path], None],
    ) -> None:
        self.tmp = tmp
        self.file_mode = file_mode
        self.exact_mode = exact_mode
        self._make_dirs = make_dirs
        self._idle: list[Spare] = []
        #: False once this filesystem refused a hard link: leases are then made in place.
        self.linkable = True
        # At exit, or when the cache object goes first, the idle files go too
        # (a process that never leaves its pool, or uses none, still leaves none).
        weakref.finalize(self, _remove_all, self._idle)

    def take(self) -> Spare:
        """An idle spare, or a new one; raises OSError when none can be made."""
        if self._idle:
            return self._idle.pop()
        spare = self._create(self.tmp / temp_name("lease"), kept=True)
        if spare is None:  # a random name already taken: never in practice
            raise FileExistsError(f"lease file name in use in {self.tmp}")
        return spare

    def create_at(self, path: Path, record: bytes) -> Spare | None:
        """A lease file made at ``path`` itself, holding ``record``; None when ``path`` exists.

        For a filesystem without hard links.  The record is written after the
        file is made, so a reader may find it empty: `holder_is_dead` then
        judges it by its heartbeat alone.
        """
        spare = self._create(path, kept=False)
        if spare is not None:
            try:
                spare.fill(record)
            except OSError:
                spare.remove()
                raise
        return spare

    def _create(self, path: Path, *, kept: bool) -> Spare | None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            try:
                fd = os.open(path, flags, self.file_mode)
            except FileNotFoundError:
                self._make_dirs(path.parent)
                fd = os.open(path, flags, self.file_mode)
        except FileExistsError:
            return None
        try:
            if self.exact_mode:
                os.fchmod(fd, self.file_mode)
            return Spare(path, fd, kept=kept)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise

    def give_back(self, spare: Spare) -> None:
        """Keep ``spare`` for a later claim (it links to no lease any more)."""
        self._idle.append(spare)

    def drop(self) -> None:
        """Remove every idle spare (a pool was left)."""
        _remove_all(self._idle)

    def forget_after_fork(self) -> None:
        """In a forked child: close the parent's spares without removing them (they stay its)."""
        idle = self._idle[:]
        self._idle.clear()  # the same list: the finalizer holds it
        for spare in idle:
            spare.close()


def link_spare(spare: Spare, path: Path, make_dirs: Callable[[Path], None]) -> bool:
    """Hard-link ``spare`` at ``path``: True when linked, False when ``path`` exists.

    Raises FileNotFoundError when the spare itself is gone (garbage collection
    in another process removes a spare idle for longer than its grace), and
    OSError when no link can be made (a read-only or full cache; an errno in
    `recyclable.store.publish.NO_LINKS` where the filesystem makes no hard links).
    """
    try:
        os.link(spare.path, path)
    except FileExistsError:
        return False
    except FileNotFoundError:
        if not os.path.lexists(spare.path):
            raise
        make_dirs(path.parent)
        try:
            os.link(spare.path, path)
        except FileExistsError:
            return False
    return True


def _remove_all(idle: list[Spare]) -> None:
    spares = idle[:]
    idle.clear()  # in place: `Spares` and its finalizer share the list
    for spare in spares:
        spare.remove()
