"""`cache show`'s rows: the located fields equal a full parse, and the JSON is json.dumps's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recyclable import Cache, recyclable
from recyclable.entryrows import _shown_fields, entry_rows, row_json
from recyclable.manifest import load_manifest
from recyclable.scan import BlobSizes, blobs_of


@recyclable
def make(n: int) -> list[int]:
    return list(range(n))


@recyclable
def total(values: list[int]) -> int:
    return sum(values)


@recyclable
def label(text: str, extra: dict[str, str]) -> str:
    return text + str(extra)


@recyclable
def big(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(30_000)


def _expected(cache: Cache, key: str) -> tuple[object, ...]:
    """A row computed independently: the whole manifest parsed by the loader."""
    path = cache.path / "entries" / key[:2] / f"{key}.json"  # type: ignore[operator]
    data = path.read_bytes()
    manifest = load_manifest(data).as_dict()
    lineage = manifest.get("lineage") or {}
    sizes = BlobSizes(str(cache.path / "objects"))  # type: ignore[operator]
    return (
        manifest["created"],
        manifest["action"],
        key,
        manifest["plugin"],
        manifest["arguments"],
        len(data) + sizes.total(blobs_of(manifest)),
        float(manifest["compute_seconds"]),
        lineage.get("values", []),
        lineage.get("inputs", []),
    )


def test_rows_equal_a_full_parse_for_every_kind_of_entry(cache: Cache) -> None:
    """Plain, chained, data-file and awkward-text entries give the rows a full parse gives."""
    with cache.create_pool("p") as pool:
        total(make(5))
        label('brace { quote " backslash \\ é', {"a": "}{"})
        label("plain", {})
        big(1)
        for n in range(20):
            make(n)
    keys = list(pool.keys())
    assert len(keys) == 24  # make(5) is stored once
    entries = str(cache.path / "entries")  # type: ignore[operator]
    rows = entry_rows(entries, keys, BlobSizes(str(cache.path / "objects")))  # type: ignore[operator]
    expected = sorted((_expected(cache, key) for key in keys), key=lambda r: r[:3])
    assert [tuple(row) for row in rows] == expected
    assert any(row[8] for row in rows), "a chained call records its input"
    # The rows came from located fields (not a full parse), awkward values included.
    metas = [
        (cache.path / "entries" / k[:2] / f"{k}.json").read_text().split("\n")[2]  # type: ignore[operator]
        for k in keys
    ]
    assert all(_shown_fields(meta) is not None for meta in metas)
    # A brace outside the shown values could hide a nested key: such a line is parsed whole.
    meta = metas[0]
    assert '"code":"' in meta
    assert _shown_fields(meta.replace('"code":"', '"code":"{', 1)) is None
    assert any(row[5] > 30_000 * 8 for row in rows), "a data file counts in the size"


def test_row_json_is_the_text_json_dumps_gives(cache: Cache) -> None:
    """Each row's JSON is exactly json.dumps of its fields with sorted keys."""
    with cache.create_pool("p") as pool:
        label("tab\there", {"k": "v"})
        total(make(3))
    entries = str(cache.path / "entries")  # type: ignore[operator]
    rows = entry_rows(entries, list(pool.keys()), lambda digest: 0)
    assert len(rows) == 3
    names = ("created", "action", "key", "plugin", "arguments", "bytes", "compute_seconds")
    for row in rows:
        fields = dict(zip((*names, "values", "inputs"), row, strict=True))
        assert row_json(row) == json.dumps(fields, sort_keys=True, default=str)


def test_damaged_and_missing_entries_are_left_out(cache: Cache, tmp_path: Path) -> None:
    """A torn manifest and a key without a manifest give no row."""
    with cache.create_pool("p") as pool:
        for n in range(3):
            make(n)
    keys = sorted(pool.keys())
    torn = cache.path / "entries" / keys[0][:2] / f"{keys[0]}.json"  # type: ignore[operator]
    torn.write_bytes(torn.read_bytes()[:-1])
    entries = str(cache.path / "entries")  # type: ignore[operator]
    rows = entry_rows(entries, [*keys, "e" * 32], lambda digest: 0)
    assert sorted(row[2] for row in rows) == keys[1:]
