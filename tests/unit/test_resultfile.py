"""Result files (recyclable.save/load): round trips, damage detection, other formats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import recyclable
from recyclable import ResultFileError


def test_round_trip_with_large_arrays(tmp_path: Path) -> None:
    """Values with large out-of-band buffers come back equal, types included."""
    value = {"big": np.arange(100_000, dtype=np.float32), "meta": ("x", 1, None)}
    path = recyclable.save(value, tmp_path / "r.rcy")
    loaded = recyclable.load(path)
    np.testing.assert_array_equal(loaded["big"], value["big"])
    assert loaded["big"].dtype == np.float32
    assert loaded["meta"] == ("x", 1, None)
    assert list(tmp_path.iterdir()) == [path]  # no staging file left behind


@pytest.mark.parametrize("where", [0.5, 0.99])
def test_damaged_file_is_an_error_not_a_value(tmp_path: Path, where: float) -> None:
    """A flipped byte in the stream or a buffer is detected by its checksum."""
    path = recyclable.save({"big": np.arange(50_000)}, tmp_path / "r.rcy")
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ResultFileError, match="checksum"):
        recyclable.load(path)


def test_truncated_file(tmp_path: Path) -> None:
    """A truncated file names the byte counts."""
    path = recyclable.save(list(range(1000)), tmp_path / "r.rcy")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ResultFileError, match="expected"):
        recyclable.load(path)


def test_json_and_npy_files(tmp_path: Path) -> None:
    """load also reads JSON and .npy files (what `run --output` writes for those types)."""
    (tmp_path / "a.json").write_text(json.dumps({"a": [1, 2]}))
    np.save(tmp_path / "b.npy", np.eye(2))
    assert recyclable.load(tmp_path / "a.json") == {"a": [1, 2]}
    np.testing.assert_array_equal(recyclable.load(tmp_path / "b.npy"), np.eye(2))


def test_unknown_format_and_bad_path(tmp_path: Path) -> None:
    """A file of no known format and a non-path argument are clear errors."""
    (tmp_path / "x.bin").write_bytes(b"\x00\x01garbage")
    with pytest.raises(ResultFileError, match="not a recyclable result file") as info:
        recyclable.load(tmp_path / "x.bin")
    assert isinstance(info.value, ValueError)
    with pytest.raises(TypeError, match=r"recyclable.load\(path=...\) expects a str"):
        recyclable.load(42)  # type: ignore[arg-type]


def test_save_hashes_each_part_once_as_it_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every part's header digest is its xxh3_128, and no part is hashed in a pass of its own."""
    import xxhash

    big = [np.arange(300_000, dtype=np.float64), np.ones(200_000, dtype=np.int32)]
    expected = [xxhash.xxh3_128_hexdigest(array) for array in big]

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("a second pass over a part")

    monkeypatch.setattr(xxhash, "xxh3_128_hexdigest", refuse)
    monkeypatch.setattr(xxhash, "xxh3_128_digest", refuse)
    path = recyclable.save({"a": big[0], "b": big[1], "meta": "x"}, tmp_path / "r.rcy")
    monkeypatch.undo()
    lines = path.read_bytes().split(b"\n", 2)
    header = json.loads(lines[1])
    assert [part["digest"] for part in header["buffers"]] == expected
    assert [part["size"] for part in header["buffers"]] == [a.nbytes for a in big]
    assert header["stream"]["digest"] == xxhash.xxh3_128_hexdigest(
        lines[2][: header["stream"]["size"]]
    )
    loaded = recyclable.load(path)
    np.testing.assert_array_equal(loaded["b"], big[1])
    assert loaded["meta"] == "x"
