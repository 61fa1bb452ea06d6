"""Input files hashed by content, with a stat-keyed memo so a file seen before is not re-read.

An argument is treated as an input file when the action says so, in either of
two documented ways:

* ``@recyclable(files=["reads", "metadata"])`` names parameters whose values
  are paths (``str`` or ``os.PathLike``), or lists/tuples of paths, or None;
* the caller wraps a path in `InputFile` (anywhere inside an argument), or the
  parameter is annotated ``InputFile`` / ``list[InputFile]``.

A file's fingerprint is its content (xxh3_128 in 1 MiB chunks), not its name:
the same data at another path is the same input.  A directory's fingerprint is
the sorted set of ``(relative path, content digest)`` of the files under it.

Any other `os.PathLike` argument (``pathlib.Path`` and friends) that names an
existing file or directory is keyed by its text and its content too (see
`recyclable.fingerprint`); leave an output path out with ``ignore=``.

The memo is keyed by (real path, device, inode, size, mtime_ns, ctime_ns): a
same-size rewrite whose mtime was put back still changes the ctime.  A file whose
mtime is within `RACY_SECONDS` of now is never memoised: it could still be
changing within the filesystem's timestamp granularity, and a stale memo would
be a wrong hit.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import xxhash

__all__ = ["InputFile", "file_digest"]

RACY_SECONDS = 2.0
_CHUNK = 1024 * 1024
_MEMO_LIMIT = 100_000

_memo: dict[tuple[str, int, int, int, int, int], bytes] = {}
_memo_lock = threading.Lock()


class InputFile(os.PathLike[str]):
    """A path whose content, not its name, is part of a call's key.

    Pass one as an argument (``denoise(InputFile("reads.fastq"))``) or annotate
    a parameter with it.  It behaves as a path for the function: ``open()``,
    ``os.fspath`` and ``pathlib.Path`` accept it.

    Args:
        path: the file or directory.

    Raises:
        TypeError: ``path`` is not a str or os.PathLike.
    """

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"InputFile(path=...) expects a str or os.PathLike, got {type(path).__name__} "
                f"{path!r}; pass the path of the file"
            )
        self.path = os.fspath(path)

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"InputFile({self.path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InputFile) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (InputFile, (self.path,))


def file_digest(path: str | os.PathLike[str]) -> bytes:
    """Digest of a file's content, or of a directory's files and their relative paths.

    Raises:
        FileNotFoundError: the path does not exist.
        IsADirectoryError, PermissionError, OSError: it cannot be read.
    """
    target = os.fspath(path)
    info = os.stat(target)
    if stat.S_ISDIR(info.st_mode):
        return _directory_digest(Path(target))
    return _content_digest(target, info)


def _content_digest(path: str, info: os.stat_result) -> bytes:
    memo_key = (
        os.path.realpath(path),
        info.st_dev,
        info.st_ino,
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
    )
    digest = _memo.get(memo_key)
    if digest is not None:
        return digest
    hasher = xxhash.xxh3_128(b"file\x00")
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        while True:
            got = handle.readinto(buffer)
            if not got:
                break
            hasher.update(view[:got])
        after = os.fstat(handle.fileno())
    digest = hasher.digest()
    changed = (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
    )
    racy = time.time() - info.st_mtime_ns / 1e9 < RACY_SECONDS
    if not changed and not racy:
        with _memo_lock:
            if len(_memo) >= _MEMO_LIMIT:
                _memo.clear()
            _memo[memo_key] = digest
    return digest


def _directory_digest(root: Path) -> bytes:
    hasher = xxhash.xxh3_128(b"directory\x00")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for file in files:
        relative = file.relative_to(root).as_posix().encode("utf-8", "surrogateescape")
        hasher.update(len(relative).to_bytes(4, "little") + relative)
        hasher.update(_content_digest(str(file), file.stat()))
    return hasher.digest()
