"""The write side's atomic step, and what a writer trusts of the blobs it has just written."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import xxhash

from recyclable import Cache, RecyclableWarning, _crashpoints, recyclable
from recyclable.store.publish import Publisher, creation_mark, map_own, rename_noreplace

RUNS: list[str] = []
MiB = 1 << 20
RENAMES = Publisher().renames  # renameat2 is available (Linux with glibc 2.28 or later)


@recyclable
def ramp(n: int, tag: str = "") -> np.ndarray:
    """A large result that depends on ``n`` only (``tag`` changes the key, not the bytes)."""
    RUNS.append(tag)
    return np.arange(n, dtype=np.float64)


def setup_function() -> None:
    RUNS.clear()


def _blob(cache: Cache) -> Path:
    blobs = [p for p in (cache.path / "objects").rglob("*") if p.is_file()]
    return max(blobs, key=lambda p: p.stat().st_size)


def _has_xattrs(directory: Path) -> bool:
    probe = directory / "xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


@pytest.fixture
def large_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Sizes of every buffer of 1 MiB or more hashed with xxh3_128 (at once or streamed)."""
    seen: list[int] = []
    for name in ("xxh3_128_digest", "xxh3_128_hexdigest"):
        original = getattr(xxhash, name)

        def counting(
            data: object, *rest: object, _original: Callable[..., object] = original
        ) -> object:
            size = memoryview(data).nbytes  # type: ignore[arg-type]
            if size >= MiB:
                seen.append(size)
            return _original(data, *rest)

        monkeypatch.setattr(xxhash, name, counting)
    streaming = xxhash.xxh3_128

    class Counted:
        """A streamed hash counts as one hash of all the bytes it was fed."""

        def __init__(self) -> None:
            self.hasher = streaming()
            self.size = 0

        def update(self, data: object) -> None:
            self.size += memoryview(data).nbytes  # type: ignore[arg-type]
            self.hasher.update(data)  # type: ignore[arg-type]

        def digest(self) -> bytes:
            if self.size >= MiB:
                seen.append(self.size)
            return self.hasher.digest()

    monkeypatch.setattr(xxhash, "xxh3_128", Counted)
    yield seen


def test_rename_noreplace_moves_only_to_a_free_name(tmp_path: Path) -> None:
    """A rename never replaces an existing file; the source stays when the name is taken."""
    if not RENAMES:
        pytest.skip("this system has no renameat2(RENAME_NOREPLACE); the link path is tested below")
    first, second, final = tmp_path / "a", tmp_path / "b", tmp_path / "final"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    assert rename_noreplace(str(first), str(final)) is True
    assert not first.exists()
    assert rename_noreplace(str(second), str(final)) is False
    assert final.read_bytes() == b"first"
    assert second.read_bytes() == b"second"


def test_rename_noreplace_reports_a_missing_directory(tmp_path: Path) -> None:
    """Any failure other than "the name is taken" is an OSError, not a silent loss."""
    staged = tmp_path / "a"
    staged.write_bytes(b"x")
    if not RENAMES:
        pytest.skip("this system has no renameat2(RENAME_NOREPLACE)")
    with pytest.raises(FileNotFoundError):
        rename_noreplace(str(staged), str(tmp_path / "missing" / "final"))
    assert staged.exists()


@pytest.mark.parametrize("renames", [True, False], ids=["renameat2", "link"])
def test_first_writer_wins_and_no_staging_name_stays(tmp_path: Path, renames: bool) -> None:
    """Both publishing paths keep the first file, tell the loser, and remove every staging name."""
    publisher = Publisher(renames=renames)
    final = tmp_path / "final"
    staged = []
    for text in (b"winner", b"loser"):
        path = tmp_path / f"staged-{text.decode()}"
        path.write_bytes(text)
        staged.append(path)
    assert publisher.publish(staged[0], final) is True
    assert publisher.publish(staged[1], final) is False
    assert final.read_bytes() == b"winner"
    assert not any(path.exists() for path in staged)


def test_map_own_maps_only_the_file_as_written(tmp_path: Path) -> None:
    """The writer's own file maps unhashed; once anything writes to it, it is not trusted."""
    path = tmp_path / "blob"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"a" * 4096)
    identity = creation_mark(fd)
    os.close(fd)
    view = map_own(str(path), 4096, identity, "r")
    assert view is not None and bytes(view) == b"a" * 4096
    assert map_own(str(path), 4095, identity, "r") is None  # not the size the manifest says
    with open(path, "r+b") as handle:
        handle.write(b"b")
    assert map_own(str(path), 4096, identity, "r") is None


def test_a_new_blob_carries_a_verdict_for_its_final_mtime(cache: Cache) -> None:
    """The verdict is stamped after the refresh, so it holds for the blob as published."""
    if not _has_xattrs(cache.path):
        pytest.skip("this filesystem has no extended attributes")
    with cache.create_pool("p"):
        expected = ramp(300_000)
    blob = _blob(cache)
    info = blob.stat()
    digest = xxhash.xxh3_128_hexdigest(np.asarray(expected))
    assert blob.name == digest
    stamp = os.getxattr(blob, "user.recyclable.verified")
    assert stamp == f"{digest}:{info.st_size}:{info.st_mtime_ns}".encode()


def test_a_blob_changed_before_the_refresh_is_not_vouched_for(cache: Cache) -> None:
    """Bytes written to a new blob by anyone else before publishing are caught on the next load."""

    def damage(point: str) -> None:
        if point == "after-blob":
            with open(_blob(cache), "r+b") as handle:
                handle.seek(8 * 1000)
                handle.write(b"\x7f" * 8)

    _crashpoints.hook = damage
    try:
        with cache.create_pool("p"):
            ramp(300_000, "first")
    finally:
        _crashpoints.hook = None
    with (
        pytest.warns(RecyclableWarning, match="fails its checksum"),
        cache.create_pool("p", reuse=True),
    ):
        again = ramp(300_000, "first")
    assert again[1000] == 1000.0
    assert RUNS == ["first", "first"]


@pytest.mark.parametrize(
    "options",
    [{}, {"secret": b"k"}, {"verify_loads": "always"}],
    ids=["default", "secret", "always"],
)
def test_a_miss_hashes_its_result_once(
    tmp_path: Path, options: dict[str, object], large_hashes: list[int]
) -> None:
    """The blob's name is its checksum: a miss hashes the result once, whatever the cache."""
    cache = Cache(tmp_path / "c", **options)  # type: ignore[arg-type]
    with cache.create_pool("p"):
        ramp(300_000)
    assert large_hashes == [300_000 * 8]


def test_a_hit_still_hashes_under_secret(tmp_path: Path, large_hashes: list[int]) -> None:
    """Loads keep their verification: a signed cache hashes the blob on every hit."""
    cache = Cache(tmp_path / "c", secret=b"k")
    with cache.create_pool("p"):
        ramp(300_000)
    large_hashes.clear()
    with cache.create_pool("p", reuse=True) as pool:
        ramp(300_000)
    assert pool.stats.loaded == 1
    assert large_hashes == [300_000 * 8]


def test_a_reused_blob_keeps_its_verdict_through_the_store(
    cache: Cache, large_hashes: list[int]
) -> None:
    """Storing bytes already in the cache under a new key hashes them once, in memory."""
    with cache.create_pool("p"):
        ramp(300_000, "first")
        ramp(300_000, "second")  # a new key, the same result bytes: the blob is reused
    assert RUNS == ["first", "second"]
    assert large_hashes == [300_000 * 8, 300_000 * 8]


@pytest.mark.parametrize("renames", [True, False], ids=["renameat2", "link"])
def test_a_failed_publish_leaves_no_staging_file(tmp_path: Path, renames: bool) -> None:
    """A publish that fails (here: no such directory) raises and removes its staging file."""
    staged = tmp_path / "staged"
    staged.write_bytes(b"x")
    with pytest.raises(FileNotFoundError):
        Publisher(renames=renames).publish(staged, tmp_path / "missing" / "final")
    assert not staged.exists()
