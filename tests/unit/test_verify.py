"""`Cache.verify`: its quick check of entries without data files is never laxer than the rest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import xxhash
from forked_tool import ONE_PROCESS, SPLIT, needs_two_cores, run_tool

from recyclable import Cache, recyclable
from recyclable.manifest import ManifestError, load_manifest
from recyclable.verify import _blob_infos, _sound_inline


@recyclable
def small(n: int) -> int:
    return n + 1


def _manifests(cache: Cache) -> dict[str, Path]:
    root = cache.path / "entries"  # type: ignore[operator]
    return {p.name.removesuffix(".json"): p for p in root.glob("??/*.json")}


def _full_checks(data: bytes, key: str) -> bool:
    """What verification checks without the quick path: parse, key, data files."""
    try:
        manifest = load_manifest(data)
        if manifest.get("key") != key:
            return False
        _blob_infos(manifest)
    except (ManifestError, KeyError, TypeError, ValueError):
        return False
    return True


def _resealed(data: bytes, old: bytes, new: bytes) -> bytes:
    """``data`` with ``old`` replaced by ``new`` and a checksum that matches again."""
    payload = data.partition(b"\n")[2]
    payload = payload.replace(old, new, 1)
    return b"recyclable-manifest 1 " + xxhash.xxh3_128_hexdigest(payload).encode() + b"\n" + payload


@pytest.fixture
def stored(cache: Cache) -> tuple[str, bytes]:
    """One inline entry: its key and manifest bytes."""
    with cache.create_pool("p"):
        small(1)
    ((key, path),) = _manifests(cache).items()
    return key, path.read_bytes()


def test_a_sound_inline_entry_passes_the_quick_check(stored: tuple[str, bytes]) -> None:
    """The entries the library writes take the quick path (it would be useless otherwise)."""
    key, data = stored
    assert _sound_inline(data, key) and _full_checks(data, key)
    assert not _sound_inline(data, "0" * 32)  # filed under another key


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"buffers":[]', b'"buffers":[{"digest":"ab","size":1}]'),
        (b'"inline":', b'"inlined":'),
        (b'"compute_seconds":', b'"compute_seconds":"x",'),
        (b'"size":', b'"size":"'),
        (b'"stream":{', b'"stream":['),
        (b'"key":"', b'"key":"0'),
        (b"}}", b"}"),
        (b"\n{", b"\n\xff{"),
        (b'"action":', b'"acti\xc3\xb3n":'),
        (b"{", b" {"),
    ],
)
def test_quick_check_never_passes_what_the_full_checks_refuse(
    stored: tuple[str, bytes], old: bytes, new: bytes
) -> None:
    """Each edit (checksum made to match) passes the quick check only if the full checks pass."""
    key, data = stored
    edited = _resealed(data, old, new)
    assert edited != data
    if _sound_inline(edited, key):
        assert _full_checks(edited, key)
    assert not _sound_inline(data[:-3], key) and not _full_checks(data[:-3], key)


def test_verify_quarantines_damaged_inline_entries(cache: Cache) -> None:
    """A torn entry, one filed under another key and one with invalid UTF-8 are all reported."""
    with cache.create_pool("p") as pool:
        for n in range(5):
            small(n)
    paths = list(_manifests(cache).values())
    paths[0].write_bytes(paths[0].read_bytes()[:-4])
    paths[2].write_bytes(paths[1].read_bytes())
    paths[3].write_bytes(_resealed(paths[3].read_bytes(), b'"action":', b'"\xff":'))
    report = cache.verify()
    reasons = dict(report.damaged)
    names = {p.name.removesuffix(".json") for p in paths}
    assert len(names) == 5
    assert report.entries == 5 and len(reasons) == 3
    assert "checksum" in reasons[paths[0].name.removesuffix(".json")]
    assert "another key" in reasons[paths[2].name.removesuffix(".json")]
    assert "invalid JSON" in reasons[paths[3].name.removesuffix(".json")]
    assert set(_manifests(cache)) == names - set(reasons)
    computed = pool.stats.computed
    with pool:
        for n in range(5):
            assert small(n) == n + 1
    assert (pool.stats.loaded, pool.stats.computed - computed) == (2, 3)


@recyclable
def payload(n: int) -> bytes:
    return bytes([n]) * 50_000


def test_verify_reads_each_data_file_to_its_true_end(cache: Cache) -> None:
    """A data file one byte short, one byte long or of the right size but altered is damaged."""
    with cache.create_pool("p") as pool:
        for n in range(4):
            payload(n)
    blobs = sorted((cache.path / "objects").glob("??/*"))  # type: ignore[operator]
    assert len(blobs) == 4
    short, long, altered, sound = blobs
    short.write_bytes(short.read_bytes()[:-1])
    long.write_bytes(long.read_bytes() + b"\0")
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 1
    altered.write_bytes(bytes(data))
    report = cache.verify()
    reasons = sorted(reason for _, reason in report.damaged)
    assert report.entries == 4 and report.blobs == 4
    size = sound.stat().st_size
    assert reasons == sorted(
        [
            f"blob {short.name} has {size - 1} bytes, expected {size}",
            f"blob {long.name} has {size + 1} bytes, expected {size}",
            f"blob {altered.name} fails its checksum",
        ]
    )
    # The sound one is still there and loads; the other three are recomputed.
    computed = pool.stats.computed
    with pool:
        assert [payload(n) for n in range(4)] == [bytes([n]) * 50_000 for n in range(4)]
    assert (pool.stats.loaded, pool.stats.computed - computed) == (1, 3)


@recyclable
def twin(n: int) -> bytes:
    return b"shared" * 10_000  # one data file for every n


def test_verify_split_with_a_forked_child_finds_and_quarantines_the_same(
    cache: Cache, tmp_path: Path
) -> None:
    """Damage in either half is reported and quarantined as a single pass does it.

    Run as the command runs, in a new process (one thread: it may fork),
    on two copies of one damaged cache.
    """
    needs_two_cores()
    with cache.create_pool("p"):
        for n in range(12):
            small(n)
        for n in range(4):
            payload(n)
            twin(n)
    manifests = sorted(_manifests(cache).values())
    assert len(manifests) == 20
    torn = manifests[1::6]  # spread over both halves
    for path in torn:
        path.write_bytes(path.read_bytes()[:-3])
    blobs = sorted((cache.path / "objects").glob("??/*"))  # type: ignore[operator]
    assert len(blobs) == 5
    altered = blobs[::2]
    for blob in altered:
        data = bytearray(blob.read_bytes())
        data[100] ^= 1
        blob.write_bytes(bytes(data))
    copies = {limit: tmp_path / f"copy-{limit}" for limit in (SPLIT, ONE_PROCESS)}
    reports, forks, left = {}, {}, {}
    for limit, root in copies.items():
        shutil.copytree(cache.path, root)  # type: ignore[arg-type]
        argv = ("cache", "verify", "--use-cache", str(root), "--json")
        printed, forks[limit] = run_tool(limit, *argv, codes=(0, 1))
        reports[limit] = json.loads(printed)
        files = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
        # A quarantined file's name ends with the mover's host, pid and a random tag.
        left[limit] = sorted(
            f"quarantine/{p.name.split('.')[0]}" if p.parts[0] == "quarantine" else str(p)
            for p in files
            if "tmp" not in p.parts
        )
    assert forks == {SPLIT: 1, ONE_PROCESS: 0}, "the first pass was split, the second not"
    split, single = reports[SPLIT], reports[ONE_PROCESS]
    assert split == single
    assert split["entries"] == 20 and split["blobs"] == 5
    # Every torn manifest, and every entry of an altered data file (twin's four share one).
    broken = {p.name.removesuffix(".json") for p in torn}
    assert broken <= {key for key, _ in split["damaged"]}
    assert sum("fails its checksum" in reason for _, reason in split["damaged"]) >= len(altered)
    assert left[SPLIT] == left[ONE_PROCESS]
