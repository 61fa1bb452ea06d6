"""Bad environments: read-only caches, full disks, permissions, durability, signing, verify."""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pipeline_actions as actions
import pytest

from recyclable import Cache, CachePermissionError, RecyclableWarning, recyclable
from recyclable.manifest import load_manifest

IS_ROOT = os.geteuid() == 0


def _mount(*args: str) -> bool:
    proc = subprocess.run(["mount", *args], capture_output=True, check=False)
    return proc.returncode == 0


@contextlib.contextmanager
def read_only_view(source: Path, target: Path) -> Iterator[Path]:
    """``source`` seen read-only at ``target``: a read-only bind mount as root, chmod otherwise."""
    if not IS_ROOT:
        modes = {p: p.stat().st_mode for p in [source, *source.rglob("*")] if p.is_dir()}
        for path in modes:
            path.chmod(0o555)
        try:
            yield source
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    target.mkdir()
    if not _mount("--bind", str(source), str(target)):
        pytest.skip("running as root (chmod cannot deny root) and bind mounts are not permitted")
    try:
        if not _mount("-o", "remount,ro,bind", str(target)):
            pytest.skip("running as root and a bind mount cannot be made read-only here")
        yield target
    finally:
        subprocess.run(["umount", "--lazy", str(target)], check=True)  # results may map files


@contextlib.contextmanager
def small_filesystem(target: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``target`` (needs root)."""
    target.mkdir()
    if not IS_ROOT or not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)):
        pytest.skip(
            "a small tmpfs cannot be mounted here (needs root); the full-disk path is "
            "covered by the injected ENOSPC in tests/unit/test_damaged_entries.py"
        )
    try:
        yield target
    finally:
        subprocess.run(["umount", "--lazy", str(target)], check=True)  # results may map files


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# --- read-only cache ------------------------------------------------------------------


def test_read_only_cache_loads_and_skips_stores_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loads work; new results are returned, not stored, with a single warning; nothing raises."""
    log = tmp_path / "log"
    monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
    source = tmp_path / "cache"
    with Cache(source).create_pool("p"):
        actions.square(1)
        actions.square(2)
    assert len(_files(source / "entries")) == 2
    with read_only_view(source, tmp_path / "ro") as view:
        cache = Cache(view)
        assert cache.read_only
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with cache.create_pool("p", reuse=True):
                first = actions.square(1)
                actions.square(3)
                actions.square(4)
            with cache.create_pool("fresh", reuse=True):
                again = actions.square(2)
        stored_after = [p.relative_to(view) for p in _files(view)]
    messages = [str(w.message) for w in caught if issubclass(w.category, RecyclableWarning)]
    assert first["square"] == 1 and again["square"] == 4
    assert sum("read-only" in m for m in messages) == 1
    assert sum("cannot create pool 'fresh'" in m for m in messages) == 1
    assert actions.executions(log) == ["square:1", "square:2", "square:3", "square:4"]
    assert stored_after == [p.relative_to(source) for p in _files(source)]


def test_read_only_cache_with_a_damaged_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupt entry in a read-only cache is a warned miss, recomputed, and left in place."""
    log = tmp_path / "log"
    monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
    source = tmp_path / "cache"
    with Cache(source).create_pool("p"):
        actions.square(7)
    (blob,) = _files(source / "objects")
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    with (
        read_only_view(source, tmp_path / "ro") as view,
        pytest.warns(RecyclableWarning) as record,
        Cache(view).create_pool("p", reuse=True),
    ):
        result = actions.square(7)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "fails its checksum" in messages[0] and "read-only" in messages[1]
    assert result["square"] == 49
    np.testing.assert_array_equal(result["pad"], np.full(10_000, 7))  # type: ignore[arg-type]
    assert actions.executions(log) == ["square:7", "square:7"]
    assert blob.read_bytes() == bytes(data)


# --- full disk ------------------------------------------------------------------------


def test_full_disk_returns_the_result_and_keeps_what_was_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC on a real small filesystem: result returned, one warning, no debris, nothing lost."""
    runs: list[int] = []

    @recyclable
    def two_arrays(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        runs.append(seed)
        rng = np.random.default_rng(seed)
        return rng.random(n), rng.random(n)

    with small_filesystem(tmp_path / "small", "3m") as root:
        cache = Cache(root / "cache")
        pool = cache.create_pool("p")
        with pool:
            kept = two_arrays(1, 20_000)  # 2 x 160 KB: fits
        with pytest.warns(RecyclableWarning, match="No space left") as record, pool:
            big = two_arrays(2, 250_000)  # 2 x 2 MB: the second blob does not fit
            bigger = two_arrays(3, 250_000)
        assert len(record) == 1
        np.testing.assert_array_equal(big[1], np.random.default_rng(2).random(500_000)[250_000:])
        assert bigger[0].shape == (250_000,)
        # The failed stores left nothing: no staging file, no blob, no manifest, no marker.
        assert _files(cache.path / "tmp") == []
        assert len(_files(cache.path / "objects")) == 2
        assert len(_files(cache.path / "entries")) == 1
        assert len(pool) == 1
        with pool:
            again = two_arrays(1, 20_000)
        np.testing.assert_array_equal(again[0], kept[0])
        assert runs == [1, 2, 3]
        assert cache.verify().ok


# --- permissions and trust ------------------------------------------------------------


def test_shared_cache_is_group_writable_and_setgid(tmp_path: Path) -> None:
    """shared=True: directories 2770, files 664, whatever the umask; recorded in VERSION."""
    old = os.umask(0o077)
    try:
        cache = Cache(tmp_path / "shared", shared=True)
        with cache.create_pool("p"):
            actions.square(1)
    finally:
        os.umask(old)
    for directory in [cache.path, *[p for p in cache.path.rglob("*") if p.is_dir()]]:
        assert directory.stat().st_mode & 0o7777 == 0o2770, directory
    files = _files(cache.path)
    # A blob, a manifest, the pool's marker and VERSION: the loop below checks real files.
    kinds = {path.relative_to(cache.path).parts[0] for path in files}
    assert kinds == {"objects", "entries", "pools", "VERSION"}, files
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o664, path
    assert "shared: true" in (cache.path / "VERSION").read_text()
    assert Cache(cache.path).shared


def test_private_cache_files_are_not_group_writable(tmp_path: Path) -> None:
    """A private cache is 0700 and so are its directories; its files are not group-writable."""
    cache = Cache(tmp_path / "private")
    with cache.create_pool("p"):
        actions.square(1)
    for directory in [cache.path, *[p for p in cache.path.rglob("*") if p.is_dir()]]:
        assert directory.stat().st_mode & 0o077 == 0, directory
    files = _files(cache.path)
    kinds = {path.relative_to(cache.path).parts[0] for path in files}
    assert kinds == {"objects", "entries", "pools", "VERSION"}, files
    for path in files:
        assert path.stat().st_mode & 0o022 == 0, path


@pytest.mark.skipif(not IS_ROOT, reason="changing a directory's owner needs root")
def test_cache_of_another_user_is_refused_unless_shared(tmp_path: Path) -> None:
    """A private cache owned by someone else is refused with the fix; a shared one opens."""
    private = Cache(tmp_path / "theirs").path
    shared = Cache(tmp_path / "group", shared=True).path
    os.chown(private, 4242, -1)
    os.chown(shared, 4242, -1)
    with pytest.raises(CachePermissionError, match=r"user id 4242.*shared=True") as info:
        Cache(private)
    assert isinstance(info.value, PermissionError)
    assert Cache(shared).shared


def test_durable_cache_fsyncs_data_manifest_and_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """durable=True fsyncs every staged file and every directory a name is added to."""
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to name the synced files")
    monkeypatch.setattr("recyclable.store.local.os.fsync", recording_fsync)
    plain = Cache(tmp_path / "plain")
    with plain.create_pool("p"):
        actions.square(2)
    assert synced == []

    cache = Cache(tmp_path / "durable", durable=True)
    synced.clear()
    with cache.create_pool("p"):
        actions.square(2)
    root = str(cache.path)
    (blob,) = _files(cache.path / "objects")
    (manifest,) = _files(cache.path / "entries")
    (marker,) = _files(cache.path / "pools")
    staged = [Path(p).name.split(".")[0] for p in synced if p.startswith(f"{root}/tmp/")]
    assert "blob" in staged and "manifest" in staged
    for directory in (blob.parent, manifest.parent, marker.parent, cache.path / "pools"):
        assert str(directory) in synced, directory
    assert synced.index(str(blob.parent)) < synced.index(str(manifest.parent))


# --- signed entries -------------------------------------------------------------------


def test_signed_entries_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a secret, manifests carry an HMAC and load; a large pickle stream carries a MAC too."""
    log = tmp_path / "log"
    monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
    runs: list[int] = []

    @recyclable
    def many_strings(n: int) -> list[str]:
        runs.append(n)
        return [f"item-{i}" for i in range(n)]  # a pickle stream too large to inline

    cache = Cache(tmp_path / "c", secret="s3cret")
    with cache.create_pool("p"):
        actions.square(1)
        many_strings(5000)
    with cache.create_pool("p", reuse=True):
        assert actions.square(1)["square"] == 1
        assert many_strings(5000)[-1] == "item-4999"
    assert actions.executions(log) == ["square:1"]
    assert runs == [5000]
    manifests = [p.read_bytes() for p in _files(cache.path / "entries")]
    assert all(b" hmac-sha256:" in m.split(b"\n", 1)[0] for m in manifests)
    assert sum(b'"mac":' in m for m in manifests) == 1
    assert cache.verify().ok


@pytest.mark.parametrize(
    ("writer_secret", "reason"),
    [(None, "unsigned"), ("other key", "signature mismatch")],
)
def test_unsigned_or_mis_signed_entries_are_refused_then_healed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer_secret: str | None, reason: str
) -> None:
    """A reader with a secret refuses entries it did not sign: a warned miss, then a signed hit."""
    log = tmp_path / "log"
    monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
    with Cache(tmp_path / "c", secret=writer_secret).create_pool("p"):
        actions.square(3)
    cache = Cache(tmp_path / "c", secret=b"my key")
    with pytest.warns(RecyclableWarning, match=reason), cache.create_pool("p", reuse=True):
        assert actions.square(3)["square"] == 9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with cache.create_pool("p", reuse=True):
            assert actions.square(3)["square"] == 9
    assert actions.executions(log) == ["square:3", "square:3"]


def test_forged_manifest_with_a_valid_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone who rewrites a manifest and its checksum cannot make a signing reader accept it."""
    import xxhash

    log = tmp_path / "log"
    monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
    cache = Cache(tmp_path / "c", secret="k")
    with cache.create_pool("p"):
        actions.square(4)
    (path,) = _files(cache.path / "entries")
    header, payload = path.read_bytes().split(b"\n", 1)
    forged = payload.replace(b'"compute_seconds":', b'"compute_seconds":1e9,"x":')
    magic = header.rsplit(b" ", 2)[0]
    path.write_bytes(magic + b" " + xxhash.xxh3_128_hexdigest(forged).encode() + b"\n" + forged)
    with pytest.warns(RecyclableWarning, match="unsigned"), cache.create_pool("p", reuse=True):
        actions.square(4)
    assert actions.executions(log) == ["square:4", "square:4"]


def test_bad_options_are_clear_errors(tmp_path: Path) -> None:
    """A secret or timeout of the wrong type names the argument, the type and the fix."""
    with pytest.raises(TypeError, match=r"secret=.*int"):
        Cache(tmp_path / "c", secret=123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty secret"):
        Cache(tmp_path / "c", secret="")
    with pytest.raises(TypeError, match=r"lease_timeout.*str"):
        Cache(tmp_path / "c", lease_timeout="60")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lease_stale must be zero or more"):
        Cache(tmp_path / "c", lease_stale=-1)


# --- verify ---------------------------------------------------------------------------


def test_verify_reports_and_quarantines_damaged_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify() checksums every blob, names each damaged entry, quarantines it, and the
    next call recomputes it quietly."""
    log = tmp_path / "log"
    monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(log))
    cache = Cache(tmp_path / "c")
    with cache.create_pool("p"):
        for x in range(4):
            actions.square(x)
    clean = cache.verify()
    assert (clean.ok, clean.entries, clean.blobs, clean.bytes) == (True, 4, 4, 4 * 80_000)

    key1, digest1 = _entry_of(cache, 1)
    key2, _ = _entry_of(cache, 2)
    blob = cache.store.blob_path(digest1)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    manifest = cache.store.manifest_path(key2)
    manifest.write_bytes(manifest.read_bytes()[:-3])
    report = cache.verify()
    assert not report.ok
    reasons = dict(report.damaged)
    assert set(reasons) == {key1, key2}
    assert "fails its checksum" in reasons[key1]
    assert "checksum mismatch" in reasons[key2]
    assert len(list((cache.path / "quarantine").iterdir())) == 3  # two manifests, one blob
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with cache.create_pool("p", reuse=True):
            results = [actions.square(x)["square"] for x in range(4)]
    assert results == [0, 1, 4, 9]
    assert sorted(actions.executions(log)) == sorted(
        ["square:0", "square:1", "square:2", "square:3", "square:1", "square:2"]
    )
    assert cache.verify().ok


def _entry_of(cache: Cache, x: int) -> tuple[str, str]:
    """The key and blob digest of the stored square(x), found by reading the stored pad."""
    for path in _files(cache.path / "entries"):
        body = load_manifest(path.read_bytes())
        digest = str(body["buffers"][0]["digest"])
        head = cache.store.blob_path(digest).read_bytes()[:8]
        if int(np.frombuffer(head, dtype=np.int64)[0]) == x:
            return path.name[: -len(".json")], digest
    raise AssertionError(f"no stored entry for square({x})")
