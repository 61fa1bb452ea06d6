"""The report page: layout by levels for 1,000 steps, escaping, no network references."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from recyclable import Cache, recyclable
from recyclable.report import ROW_NODES, layout

N_SAMPLES, CHAIN = 100, 10


@recyclable
def start(sample: int) -> list[int]:
    """The first step of a sample's chain."""
    return [sample]


@recyclable
def stage(previous: list[int], index: int) -> list[int]:
    """One more step of a chain, fed by the previous one."""
    return [*previous, index]


@recyclable
def tagged(label: str) -> str:
    """A step whose argument is user text."""
    return label.upper()


def _data(page: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="recyclable-data">(.*?)</script>', page, re.S
    )
    assert match is not None
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def test_thousand_entries_lay_out_by_level_without_overlap(cache: Cache, tmp_path: Path) -> None:
    """1,000 stored steps (100 chains of 10) give 10 levels, wrapped columns, no overlaps.

    The page is written from the pool's stored entries (a fresh pool object
    that ran nothing), so the edges come from the manifests' lineage.
    """
    with cache.create_pool("big"):
        for sample in range(N_SAMPLES):
            value = start(sample)
            for index in range(1, CHAIN):
                value = stage(value, index)
    pool = Cache(cache.path).create_pool("big", reuse=True)
    page = pool.report(tmp_path / "big.html").read_text()
    data = _data(page)
    nodes = data["nodes"]
    assert len(nodes) == N_SAMPLES * CHAIN
    assert {n["state"] for n in nodes} == {"stored"}
    assert len(data["edges"]) == N_SAMPLES * (CHAIN - 1)
    by_key = {n["key"]: n for n in nodes}
    for src, dst, argument in data["edges"]:
        assert argument == "previous"
        assert by_key[dst]["level"] == by_key[src]["level"] + 1
        assert by_key[dst]["y"] > by_key[src]["y"]  # levels run down the page
    assert {n["level"] for n in nodes} == set(range(CHAIN))
    boxes = {(n["x"], n["y"]) for n in nodes}
    assert len(boxes) == len(nodes)  # every node has its own place
    # Wrapped at ROW_NODES a row: the page is never wider than that, whatever the count.
    assert len({n["x"] for n in nodes}) == ROW_NODES
    assert len({n["y"] for n in nodes}) == CHAIN * -(-N_SAMPLES // ROW_NODES)
    assert data["width"] < 1300
    assert all(0 <= n["x"] < data["width"] and 0 <= n["y"] < data["height"] for n in nodes)
    assert len(page) < 2_000_000


def test_argument_text_cannot_end_the_script(cache: Cache, tmp_path: Path) -> None:
    """An argument value containing </script> stays data: the page has one script of each kind."""
    pool = cache.create_pool("p")
    with pool:
        tagged("</script><script>alert(1)</script>")
    page = pool.report(tmp_path / "r.html").read_text()
    assert page.count("<script") == 2
    assert "alert(1)</script>" not in page
    [node] = _data(page)["nodes"]
    assert node["values"] == [["label", "'</script><script>alert(1)</script>'"]]


def test_page_references_nothing_outside_itself(cache: Cache, tmp_path: Path) -> None:
    """No src/href/url()/@import, and a CSP that forbids any fetch."""
    pool = cache.create_pool("p")
    with pool:
        stage(start(1), 2)
    page = pool.report(tmp_path / "r.html").read_text()
    assert not re.search(r"\b(src|href)\s*=|url\(|@import", page)
    assert "default-src 'none'" in page


def test_layout_ignores_a_cycle_of_hand_made_entries() -> None:
    """Two entries naming each other as input (not writable by the library) still lay out."""
    nodes: list[dict[str, Any]] = [
        {"key": "a", "inputs": [["x", "", "b"]]},
        {"key": "b", "inputs": [["y", "", "a"]]},
    ]
    edges, _, _ = layout(nodes)
    assert sorted(n["level"] for n in nodes) == [0, 1]
    assert len(edges) == 2
