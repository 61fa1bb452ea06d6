"""The hit path's shortcuts: a manifest verified once per process, read in one ``read``.

A repeated hit compares the manifest's bytes with the ones it verified
before instead of checking them again, so damage done after a hit must still
be caught; and a manifest is read with a single ``read`` of up to 64 KiB, so
larger files must still come back whole.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import xxhash

from recyclable import Cache, RecyclableWarning, recyclable
from recyclable.manifest import ManifestError, VerifiedManifests, dump_manifest, load_manifest
from recyclable.store.localread import FIRST_READ, read_small_file

RUNS: list[int] = []


@recyclable
def square(x: int) -> list[int]:
    RUNS.append(x)
    return [x * x]


def setup_function() -> None:
    RUNS.clear()


def _manifest(cache: Cache) -> Path:
    (manifest,) = list((cache.path / "entries").rglob("*.json"))
    return manifest


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-8])


def _other_result(path: Path) -> None:
    # A well-formed, correctly checksummed manifest whose inline stream is not its digest's.
    text = path.read_bytes().split(b"\n", 1)[1].decode()
    load, _, meta = text.partition("\n")
    fields = json.loads(load)
    fields["stream"]["inline"] = "gAVdlEsQYS4="  # pickle of [16]
    body = {**json.loads(meta), **fields}
    path.write_bytes(dump_manifest(body))


HARM: dict[str, Callable[[Path], None]] = {
    "one bit flipped": _flip_byte,
    "truncated": _truncate,
    "emptied": lambda p: p.write_bytes(b""),
    "re-checksummed with another result": _other_result,
}


@pytest.mark.parametrize("harm", sorted(HARM))
def test_manifest_damaged_after_a_hit_is_still_a_warned_miss(cache: Cache, harm: str) -> None:
    """Damage after this process verified the manifest is caught on the next hit, not served."""
    pool = cache.create_pool("p")
    with pool:
        assert square(3) == [9]
        assert square(3) == [9]  # a hit: the manifest is now known to this pool object
        assert (pool.stats.loaded, RUNS) == (1, [3])
        HARM[harm](_manifest(cache))
        with pytest.warns(RecyclableWarning, match="square"):
            again = square(3)
        assert again == [9]
        assert RUNS == [3, 3]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert square(3) == [9]  # healed: stored again and loaded
    assert pool.stats.loaded == 2
    assert RUNS == [3, 3]


def test_manifest_replaced_by_another_writer_after_a_hit_is_read_anew(cache: Cache) -> None:
    """An entry published again (new bytes) after a hit is verified again and loaded quietly."""
    pool = cache.create_pool("p")
    with pool:
        square(4)
        assert square(4) == [16]
        path = _manifest(cache)
        text = path.read_bytes().split(b"\n", 1)[1].decode()
        load, _, meta = text.partition("\n")
        body = {**json.loads(meta), **json.loads(load), "created": "2000-01-01T00:00:00+00:00"}
        path.write_bytes(dump_manifest(body))  # equal content, other bytes: as a rewrite gives
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert square(4) == [16]
    assert pool.stats.loaded == 2
    assert RUNS == [4]


def test_verified_manifests_refuse_changed_bytes_and_another_key() -> None:
    """The memo answers only for the very bytes it verified, and only under their own key."""
    body = {"key": "k1", "stream": {"digest": "0", "size": 0}, "buffers": []}
    data = dump_manifest(body)
    known = VerifiedManifests(None)
    assert known.load("k1", data)["key"] == "k1"
    assert known.load("k1", data)["key"] == "k1"
    with pytest.raises(ManifestError, match="another key"):
        known.load("k2", data)
    torn = data[:-3]
    with pytest.raises(ManifestError, match="checksum"):
        known.load("k1", torn)


def test_verified_manifests_keep_their_bound() -> None:
    """A memo full of manifests starts over rather than growing without bound."""
    known = VerifiedManifests(None, limit=3)
    for i in range(10):
        key = f"k{i}"
        known.load(key, dump_manifest({"key": key, "buffers": []}))
    assert len(known._known) <= 3


def test_compact_and_spaced_json_load_alike_and_trailing_garbage_is_refused() -> None:
    """The fast parse gives what json.loads gives; what json.loads refuses stays refused."""
    load = {"buffers": [], "key": "k", "stream": {"digest": "d", "size": 1}}
    spaced = (" " + json.dumps(load) + " \n" + json.dumps({"action": "a"}) + " ").encode()
    manifest = load_manifest(
        b"recyclable-manifest 1 " + xxhash.xxh3_128_hexdigest(spaced).encode() + b"\n" + spaced
    )
    assert dict(manifest) == {**load, "action": "a"}
    garbage = (json.dumps(load, separators=(",", ":")) + "x\n{}").encode()
    with pytest.raises(ManifestError, match="invalid JSON"):
        load_manifest(
            b"recyclable-manifest 1 "
            + xxhash.xxh3_128_hexdigest(garbage).encode()
            + b"\n"
            + garbage
        )


@pytest.mark.parametrize("size", [0, 1, FIRST_READ - 1, FIRST_READ, FIRST_READ + 1, 5 * FIRST_READ])
def test_read_small_file_returns_every_byte(tmp_path: Path, size: int) -> None:
    """One read for a small file, more for one that fills the buffer: always the whole file."""
    path = tmp_path / "f"
    data = bytes(i % 251 for i in range(size))
    path.write_bytes(data)
    assert read_small_file(str(path)) == data
    assert read_small_file(str(tmp_path / "missing")) is None
