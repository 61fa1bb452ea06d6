"""Remembered checksum verdicts, so a large blob is verified once, not on every hit.

Verifying a blob means hashing all of it (xxh3_128 at about memory
bandwidth): 6-7 ms for 64 MiB, which would be most of the cost of a hit.  A
verdict records that the blob with this name (its expected digest) was seen to
hash correctly at a given size and modification time:

* in this process, keyed by (device, inode, size, mtime_ns, ctime_ns);
* across processes, in an extended attribute ``user.recyclable.verified`` on
  the blob file holding ``<digest>:<size>:<mtime_ns>``, set by the writer when
  it publishes the blob (it has just hashed the same bytes) or by the first
  reader that verifies it.

Any ordinary write to the file changes its mtime (and ctime), which voids the
verdict: the next load hashes it again.  What a verdict cannot catch is damage
that leaves the mtime alone, such as silent corruption on the disk or a
deliberate edit that restores the old mtime; `Cache(verify_loads="always")` hashes on
every load for those who want that guarantee, and ``Cache.verify()`` checks
every blob.  Where extended attributes are not supported only the in-process
verdict applies.
"""

from __future__ import annotations

import os
import threading

__all__ = ["known_good", "stamp"]

_ATTRIBUTE = "user.recyclable.verified"
_LIMIT = 100_000

_seen: dict[tuple[int, int, int, int, int], str] = {}
_lock = threading.Lock()


def _value(digest: str, info: os.stat_result) -> bytes:
    return f"{digest}:{info.st_size}:{info.st_mtime_ns}".encode()


def _identity(info: os.stat_result) -> tuple[int, int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def known_good(fd: int, digest: str, info: os.stat_result) -> bool:
    """True when the open blob ``fd`` (stat ``info``) was already seen to hash to ``digest``."""
    if _seen.get(_identity(info)) == digest:
        return True
    try:
        return os.getxattr(fd, _ATTRIBUTE) == _value(digest, info)
    except (OSError, AttributeError):
        return False


def stamp(fd: int, digest: str, info: os.stat_result, *, persist: bool = True) -> None:
    """Record that the open blob ``fd`` (stat ``info``) hashes to ``digest``."""
    with _lock:
        if len(_seen) >= _LIMIT:
            _seen.clear()
        # setxattr changes the ctime, so remember the identity the file has afterwards.
        _seen[_identity(info)] = digest
    if not persist:
        return
    try:
        os.setxattr(fd, _ATTRIBUTE, _value(digest, info))
        after = os.fstat(fd)
    except (OSError, AttributeError):
        return  # no xattrs here (or a read-only cache): the in-process verdict still holds
    with _lock:
        _seen[_identity(after)] = digest
