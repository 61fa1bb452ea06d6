"""The cache tools' fast pass: data files found without parsing, pool times, gc's deferred reads."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from recyclable import Cache, recyclable
from recyclable.maintenance import collect_garbage, list_entries, summarize_pools
from recyclable.scan import manifest_blobs, manifest_fields, read_file

DAY = 24 * 3600.0


@recyclable
def small(n: int) -> int:
    return n + 1


@recyclable
def large(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(20_000)


def _manifest(cache: Cache, key: str) -> Path:
    return cache.path / "entries" / key[:2] / f"{key}.json"  # type: ignore[operator]


def _age(cache: Cache, seconds: float) -> None:
    """Date every manifest and data file ``seconds`` back, as in a cache used for a while."""
    when = time.time() - seconds
    for sub in ("entries", "objects"):
        for path in (cache.path / sub).rglob("*"):  # type: ignore[operator]
            if path.is_file():
                os.utime(path, (when, when))


def test_manifest_blobs_of_inline_damaged_and_blob_entries(cache: Cache) -> None:
    """An inline entry has no data files, a blob entry its own, a damaged one is refused."""
    with cache.create_pool("p") as pool:
        small(1)
        large(1)
    by_action = {m["action"]: m for m in pool.entries()}
    inline = _manifest(cache, by_action["small"]["key"]).read_bytes()
    with_blob = _manifest(cache, by_action["large"]["key"]).read_bytes()
    assert manifest_blobs(inline) == set()
    blobs = manifest_blobs(with_blob)
    assert blobs is not None and len(blobs) == 1
    assert (cache.store.blob_path(next(iter(blobs)))).exists()  # type: ignore[attr-defined]
    torn = inline.replace(b'"buffers":[]', b'"buffers":[ ]')
    assert manifest_blobs(torn) is None
    assert manifest_blobs(inline[:-5]) is None


def test_read_file_reads_large_and_missing_files(tmp_path: Path) -> None:
    """A file larger than the first read comes back whole; a missing one is None."""
    data = os.urandom((1 << 16) + 12345)
    (tmp_path / "f").write_bytes(data)
    assert read_file(str(tmp_path / "f")) == data
    assert read_file(str(tmp_path / "missing")) is None


def test_pool_last_used_sees_a_marker_added_to_an_old_shard(cache: Cache) -> None:
    """last_used covers the newest marker, though markers themselves are not stat-ed."""
    pool = cache.create_pool("p")
    with pool:
        for n in range(40):
            small(n)
    root = cache.path / "pools" / "p"  # type: ignore[operator]
    old = time.time() - DAY
    for path in [root, *root.iterdir()]:
        os.utime(path, (old, old))
    before = summarize_pools(cache)[0].last_used
    assert before < time.time() - DAY / 2
    with pool:
        small(1000)
    newest = max(p.stat().st_mtime for p in root.glob("??/*"))
    after = summarize_pools(cache)[0]
    assert after.entries == 41
    assert after.last_used >= newest > before


def test_pools_and_show_count_each_entry_once_with_its_data(cache: Cache) -> None:
    """An entry two pools hold is counted in both; bytes cover the manifest and data file."""
    with cache.create_pool("a"):
        large(1)
        small(1)
    with cache.create_pool("b"):
        large(1)
    sizes = {p.name: p for p in summarize_pools(cache)}
    assert (sizes["a"].entries, sizes["b"].entries) == (2, 1)
    assert sizes["b"].bytes > 20_000 * 8
    shown = list_entries(cache, "b")
    assert [e.bytes for e in shown] == [sizes["b"].bytes]


def test_gc_keeps_old_data_files_of_pooled_entries_and_reclaims_unpooled(cache: Cache) -> None:
    """With every file a day old, gc reads the pooled manifests and spares their data files."""
    kept = cache.create_pool("kept")
    with kept:
        large(1)
    with cache.create_pool("gone") as gone:
        large(2)
    gone.remove()  # drops the pool's markers; its entry and data are now unreferenced
    with cache.create_pool("gone2") as gone2:
        large(3)
    for path in (cache.path / "pools" / "gone2").rglob("*"):  # type: ignore[operator]
        if path.is_file():
            path.unlink()
    _age(cache, DAY)
    report = collect_garbage(cache)
    assert report.garbage.entries == 1 and report.garbage.blobs == 1
    assert report.bytes_after > 20_000 * 8
    with kept:
        large(1)
    assert (kept.stats.loaded, kept.stats.computed) == (1, 1)  # the first run computed it
    with gone2:
        large(3)
    assert (gone2.stats.loaded, gone2.stats.computed) == (0, 2)


def test_manifest_fields_joins_both_lines_and_refuses_damage(cache: Cache) -> None:
    """Fields of both JSON lines come back as one dict; a torn or edited manifest is None."""
    with cache.create_pool("p") as pool:
        large(7)
    (stored,) = list(pool.entries())
    data = _manifest(cache, stored["key"]).read_bytes()
    fields = manifest_fields(data)
    assert fields is not None
    assert fields["key"] == stored["key"] and fields["action"] == "large"
    assert fields["stream"] == stored["stream"] and fields["created"] == stored["created"]
    assert manifest_fields(data[:-3]) is None
    assert manifest_fields(data.replace(b'"action":"large"', b'"action":"small"')) is None


def test_referenced_blobs_finds_every_data_file_of_sound_manifests(tmp_path: Path) -> None:
    """gc's pass finds the data files of plain and signed entries; none of inline or damaged."""
    from recyclable.manifest import load_manifest
    from recyclable.scan import blobs_of, referenced_blobs

    keys: list[str] = []
    expected: set[str] = set()
    for secret in (None, "s3cret"):
        cache = Cache(tmp_path / f"cache-{secret}", secret=secret)
        with cache.create_pool("p") as pool:
            small(1)
            large(1)
            large(2)
        entries = str(cache.path / "entries")  # type: ignore[operator]
        keys = [m["key"] for m in pool.entries()]
        expected = set()
        for key in keys:
            expected |= blobs_of(load_manifest(_manifest(cache, key).read_bytes()))
        assert len(expected) == 2
        sizes: dict[str, int] = {}
        found = referenced_blobs(entries, [*keys, "0" * 32], sizes)
        assert found == expected
        assert sizes == {k: _manifest(cache, k).stat().st_size for k in keys}
    # A damaged manifest protects nothing (verification quarantines it).
    by_key = {k: blobs_of(load_manifest(_manifest(cache, k).read_bytes())) for k in keys}
    victim = next(k for k in keys if by_key[k])
    damaged = _manifest(cache, victim)
    damaged.write_bytes(damaged.read_bytes()[:-3])
    assert referenced_blobs(entries, keys) == expected - by_key[victim]


def test_pools_and_info_leave_out_damaged_and_missing_entries(cache: Cache) -> None:
    """A torn manifest and a marker without an entry count in no pool; info counts the files."""
    from recyclable.maintenance import summarize_cache

    pool = cache.create_pool("p")
    with pool:
        for n in range(4):
            small(n)
        large(1)
    keys = sorted(pool.keys())
    before = {p.name: p for p in summarize_pools(cache)}["p"]
    assert before.entries == 5
    inline = next(k for k in keys if b'"buffers":[]' in _manifest(cache, k).read_bytes())
    torn = _manifest(cache, inline)
    torn_size = torn.stat().st_size
    torn.write_bytes(torn.read_bytes()[:-2])
    cache.store.add_marker("p", "f" * 32)  # type: ignore[attr-defined]
    after = summarize_pools(cache)[0]
    assert after.entries == 4
    assert after.bytes == before.bytes - torn_size
    info = summarize_cache(cache)
    files = [p for p in (cache.path / "entries").rglob("*.json")]  # type: ignore[operator]
    blobs = [p for p in (cache.path / "objects").rglob("*") if p.is_file()]  # type: ignore[operator]
    assert (info.entries, info.blobs) == (5, 1)
    assert info.bytes == sum(p.stat().st_size for p in files + blobs)
