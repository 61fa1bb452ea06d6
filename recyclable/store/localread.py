"""The hit path's read of a published manifest: one ``open``, one ``read``, one ``close``.

A hit's first file operation is reading the entry's manifest, a file of a
few hundred bytes that is never rewritten once published.  Reading it costs
three system calls here.  Finding the end of the file costs a fourth: an
``fstat`` (which also builds a ``stat_result``, measured at about twice a
``read`` that returns nothing) or a second ``read``.  Neither is needed: a
``read`` of a regular file returns fewer bytes than asked only at its end on
Linux and every POSIX filesystem in use, and the manifest's checksum catches
any file that came back short anyway.  A caller whose manifest fails its
checks reads it again with `LocalStore.read_manifest`, which reads to the
end, before judging it (so a filesystem that does return short reads costs
a re-read, never a quarantined entry).
"""

from __future__ import annotations

import os

__all__ = ["FIRST_READ", "read_small_file"]

#: Bytes asked for by the first ``read``: more than any manifest with an inline
#: pickle stream holds, so one ``read`` takes all of it.
FIRST_READ = 1 << 16

_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def read_small_file(path: str) -> bytes | None:
    """The bytes of the file at ``path`` from one ``read`` (more only if it fills the buffer).

    Returns:
        The file's bytes, or None when it does not exist.

    Raises:
        OSError: the file exists but cannot be read.

    """
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        return None
    try:
        data = os.read(fd, FIRST_READ)
        if len(data) == FIRST_READ:  # a large manifest: read on to the end
            chunks = [data]
            while chunk := os.read(fd, FIRST_READ):
                chunks.append(chunk)
            data = b"".join(chunks)
    finally:
        os.close(fd)
    return data
