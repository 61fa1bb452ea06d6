"""`cache show`'s spliced rows: the same text and order as decoding every field, for every entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xxhash
from forked_tool import ONE_PROCESS, SPLIT, needs_two_cores, run_tool

from recyclable import Cache, recyclable
from recyclable.entryrows import entry_rows, row_json
from recyclable.scan import BlobSizes
from recyclable.showrows import _located, shown_cells, shown_json, shown_rows


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


@recyclable
def chunk(n: int) -> bytes:
    return bytes([n]) * 50_000


def _fill(cache: Cache) -> list[str]:
    """Entries of every kind: plain, chained, with data files, with awkward text; their keys."""
    with cache.create_pool("p") as pool:
        total(make(5))
        label('brace { quote " backslash \\ é', {"a": "}{"})
        label("comma, [bracket] and ] \t tab", {"k": "v, w"})
        label("plain", {})
        big(1)
        chunk(2)
        for n in range(20):
            make(n)
    return list(pool.keys())


def _paths(cache: Cache) -> tuple[str, BlobSizes]:
    root = cache.path  # type: ignore[union-attr]
    return str(root / "entries"), BlobSizes(str(root / "objects"))


def _manifest(cache: Cache, key: str) -> Path:
    return cache.path / "entries" / key[:2] / f"{key}.json"  # type: ignore[operator]


def test_rows_are_the_text_and_order_of_decoded_rows(cache: Cache) -> None:
    """Every entry's JSON is row_json's (json.dumps of its decoded fields), in the same order."""
    keys = _fill(cache)
    assert len(keys) == 26
    entries, sizes = _paths(cache)
    expected = [row_json(row) for row in entry_rows(entries, keys, sizes)]
    rows = shown_rows(entries, keys, sizes)
    assert [shown_json(row) for row in rows] == expected
    assert any(row[6] > 30_000 * 8 for row in rows), "a data file counts in the size"


def test_usual_entries_are_spliced_and_awkward_ones_decoded(cache: Cache) -> None:
    """Plain entries (with or without a data file) are located; escapes and commas are decoded."""
    keys = _fill(cache)
    entries, sizes = _paths(cache)
    located = {}
    for key in keys:
        text = _manifest(cache, key).read_text()
        located[key] = _located(text, text.index("\n") + 1, key, len(text), sizes)
    spliced = {row[3] for row in shown_rows(entries, keys, sizes) if located[row[3]] is not None}
    # The 20 + 1 `make` calls, `total`, `big` (its array in a buffer), `chunk` (a data file)
    # and label("plain"); not the two awkward labels.
    assert len(spliced) == 24
    assert any('"buffers":[{' in _manifest(cache, key).read_text() for key in spliced)
    awkward = [_manifest(cache, k).read_text() for k, row in located.items() if row is None]
    assert len(awkward) == 2
    assert all('"action":"label"' in text for text in awkward)


def test_table_cells_are_the_decoded_fields(cache: Cache) -> None:
    """The table's cells hold the values a full decode gives, escapes and all."""
    keys = _fill(cache)
    entries, sizes = _paths(cache)
    decoded = entry_rows(entries, keys, sizes)
    cells = [shown_cells(row) for row in shown_rows(entries, keys, sizes)]
    assert len(cells) == len(decoded) == 26
    texts = 0
    for (created, action, key, _, arguments, size, seconds, values, _), cell in zip(
        decoded, cells, strict=True
    ):
        assert cell[:2] == (key, action)
        assert cell[4:] == (not values, size, seconds, created)
        if cell[2] is None:
            # Plain pairs come as the table's text: name=value, ..., cut at 60 characters.
            text = ", ".join(f"{name}={value}" for name, value in values)
            assert cell[3] == (text if len(text) <= 60 else text[:57] + "...")
            texts += 1
        else:
            assert cell[2] == (values or arguments)
    assert texts == 24, "all but the two awkward labels come as text"
    assert any("backslash \\" in str(cell[2]) for cell in cells)


def test_an_odd_but_sound_manifest_gives_the_same_text(cache: Cache) -> None:
    """A brace before a shown field, a key out of place, an int time: decoded, same text."""
    with cache.create_pool("p") as pool:
        for n in range(4):
            make(n)
    keys = sorted(pool.keys())
    entries, sizes = _paths(cache)
    edits = [
        (b'"code":"', b'"code":"{'),  # a brace before `created`
        (b'"format":1,', b'"format":{"x":1},'),  # an object before `lineage`
        (b'"compute_seconds":', b'"compute_seconds":7,"x":'),  # not the usual load line
    ]
    for key, (old, new) in zip(keys, edits, strict=False):
        path = _manifest(cache, key)
        payload = path.read_bytes().partition(b"\n")[2]
        assert old in payload
        payload = payload.replace(old, new, 1)
        header = b"recyclable-manifest 1 " + xxhash.xxh3_128_hexdigest(payload).encode()
        path.write_bytes(header + b"\n" + payload)
    expected = [row_json(row) for row in entry_rows(entries, keys, sizes)]
    assert len(expected) == 4
    assert [shown_json(row) for row in shown_rows(entries, keys, sizes)] == expected


def test_damaged_missing_and_signed_entries(tmp_path: Path) -> None:
    """A torn manifest and a missing one give no row; signed manifests are shown as decoded."""
    cache = Cache(tmp_path / "signed", secret="s3cret")
    with cache.create_pool("p") as pool:
        for n in range(3):
            make(n)
    keys = sorted(pool.keys())
    torn = _manifest(cache, keys[0])
    torn.write_bytes(torn.read_bytes()[:-1])
    entries, sizes = _paths(cache)
    rows = shown_rows(entries, [*keys, "e" * 32], sizes)
    assert sorted(row[3] for row in rows) == keys[1:]
    assert [shown_json(row) for row in rows] == [
        row_json(row) for row in entry_rows(entries, keys, sizes)
    ]


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "table"])
def test_show_split_with_a_forked_child_prints_the_same(cache: Cache, as_json: bool) -> None:
    """`cache show` with its second half read by a child prints what one process prints.

    Run as the command runs, in a new process (one thread: it may fork).
    """
    needs_two_cores()
    _fill(cache)
    argv = ["cache", "show", "p", "--use-cache", str(cache.path), *(["--json"] if as_json else [])]
    (split, forks), (single, none) = run_tool(SPLIT, *argv), run_tool(ONE_PROCESS, *argv)
    assert (forks, none) == (1, 0), "the first listing was split, the second not"
    printed = [split, single]
    assert printed[0] == printed[1]
    # 26 rows, and the brackets or the header and its rule.
    assert printed[0].count("\n") == 26 + 2
    assert ("backslash \\\\" if as_json else "backslash") in printed[0]
