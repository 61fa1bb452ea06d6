"""Large staging files get their blocks before their bytes and go out in pieces."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import pytest
from filesystems import small_tmpfs

from recyclable.store.localwrite import PREALLOCATE_MIN, WRITE_PIECE, preallocate, write_new_file

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fallocate is Linux's")


@linux_only
def test_blocks_are_allocated_before_any_byte_is_written(tmp_path: Path) -> None:
    """After `preallocate` a new, still empty file already has its size and its blocks."""
    path = tmp_path / "blob"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        preallocate(fd, 4 * PREALLOCATE_MIN, path)
        info = os.fstat(fd)
    finally:
        os.close(fd)
    assert info.st_size == 4 * PREALLOCATE_MIN
    assert info.st_blocks * 512 >= 4 * PREALLOCATE_MIN


def test_a_large_file_is_written_whole_and_exact(tmp_path: Path) -> None:
    """A preallocated file holds exactly the bytes written, in order, and no more."""
    first = os.urandom(PREALLOCATE_MIN)
    second = os.urandom(PREALLOCATE_MIN // 2 + 3)
    path = tmp_path / "blob"
    write_new_file(path, [first, memoryview(second)])
    assert path.read_bytes() == first + second


@linux_only
def test_a_full_disk_fails_before_copying_and_leaves_nothing(tmp_path: Path) -> None:
    """A file larger than the free space is refused with ENOSPC naming it; no file remains."""
    with small_tmpfs(tmp_path / "small", "2m") as small:
        path = small / "blob"
        with pytest.raises(OSError) as raised:
            write_new_file(path, [bytes(4 * PREALLOCATE_MIN)])
        assert raised.value.errno == errno.ENOSPC
        assert raised.value.filename == str(path)
        assert list(small.iterdir()) == []


def test_a_file_goes_out_in_pieces_each_seen_by_the_hasher(tmp_path: Path) -> None:
    """No write call exceeds WRITE_PIECE, and the hasher sees every byte once, in order."""
    data = [os.urandom(2 * WRITE_PIECE + 5), os.urandom(3), os.urandom(WRITE_PIECE)]
    pieces: list[bytes] = []
    path = tmp_path / "blob"
    write_new_file(path, data, hasher=lambda piece: pieces.append(bytes(piece)))
    assert path.read_bytes() == b"".join(data)
    assert b"".join(pieces) == b"".join(data)
    assert max(len(piece) for piece in pieces) == WRITE_PIECE
    assert len(pieces) == 3 + 1 + 1  # 2 full pieces and 5 bytes, 3 bytes, 1 full piece


def test_the_hasher_sees_the_bytes_around_a_crash_point_split(tmp_path: Path) -> None:
    """A write split in two for a crash point still hands the hasher the whole buffer."""
    data = os.urandom(WRITE_PIECE + 7)
    seen = bytearray()
    halves: list[int] = []
    write_new_file(
        tmp_path / "blob",
        [data],
        midway=lambda: halves.append(len(seen)),
        hasher=seen.extend,
    )
    assert bytes(seen) == data
    assert halves == [len(data) // 2]  # the hasher had exactly the first half at the split
