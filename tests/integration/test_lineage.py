"""Lineage and provenance across a failed run and its resume, in real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from recyclable import Cache
from recyclable.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]
ACTIONS = REPO / "tests" / "lineage_actions.py"


def _run(
    tmp: Path, name: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    stats = tmp / f"{name}.json"
    proc = subprocess.run(
        [sys.executable, str(ACTIONS), str(tmp / "cache"), "diamond", "50", str(stats)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
    return proc, json.loads(stats.read_text())


def _entries(tmp: Path) -> dict[str, dict[str, Any]]:
    """Every stored entry of the pool by action, as its manifest's fields."""
    cache = Cache(tmp / "cache")
    return {m["action"]: m.as_dict() for m in cache.create_pool("diamond", reuse=True).entries()}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recyclable", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_failed_then_resumed_run_records_who_fed_whom(tmp_path: Path) -> None:
    """Each entry names the entries whose results it took, across a failure and a resume.

    The first process fails in ``combine``; ``left`` and ``right`` both record
    ``source`` as the producer of their ``data``.  The second process loads
    those three and computes ``combine``, whose manifest names ``left`` and
    ``right``; the steps' states say so too.
    """
    first, stats1 = _run(tmp_path, "first", RECYCLABLE_TEST_FAIL_AT="combine")
    assert first.returncode == 1, first.stderr
    states1 = {s["action"]: s["state"] for s in stats1["steps"]}
    assert states1 == {
        "source": "computed",
        "left": "computed",
        "right": "computed",
        "combine": "failed",
        "pipeline": "failed",
    }
    entries = _entries(tmp_path)
    assert set(entries) == {"source", "left", "right"}
    src = entries["source"]["key"]
    assert entries["left"]["lineage"]["inputs"] == [["data", "", src, ""]]
    assert entries["right"]["lineage"]["inputs"] == [["data", "", src, ""]]
    assert ["factor", "3.0"] in entries["left"]["lineage"]["values"]
    assert entries["source"]["lineage"]["values"] == [["n", "50"], ["label", "'reads'"]]
    assert "3 finished step(s) kept" in first.stderr

    second, stats2 = _run(tmp_path, "second")
    assert second.returncode == 0, second.stderr
    states2 = {s["action"]: s["state"] for s in stats2["steps"]}
    assert states2["source"] == states2["left"] == states2["right"] == "loaded"
    assert states2["combine"] == "computed"
    assert stats2["loaded"] == 3  # recycling happened: fails with recycling off
    entries = _entries(tmp_path)
    combine = entries["combine"]["lineage"]
    assert sorted(combine["inputs"]) == sorted(
        [["a", "", entries["left"]["key"], ""], ["b", "", entries["right"]["key"], ""]]
    )
    assert combine["parent"] == entries["pipeline"]["key"]
    # The pipeline's own call, not a step of its own steps, is not counted.
    assert stats2["totals"]["steps"] == 4
    assert stats2["totals"]["enclosing"] == ["pipeline"]

    shown = _cli(
        "cache",
        "show",
        entries["combine"]["key"][:10],
        "--provenance",
        "--json",
        "--use-cache",
        str(tmp_path / "cache"),
    )
    assert shown.returncode == 0, shown.stderr
    tree = json.loads(shown.stdout)
    assert tree["action"] == "combine"
    branches = {item["argument"]: item["entry"] for item in tree["inputs"]}
    assert branches["a"]["action"] == "left" and branches["b"]["action"] == "right"
    sources = [b["inputs"][0]["entry"] for b in branches.values()]
    assert {s["key"] for s in sources} == {src}
    assert sources[0]["values"] == {"n": "50", "label": "'reads'"}
    assert [s.get("seen", False) for s in sources].count(True) == 1  # the shared step, once
    assert sources[0]["writer"]["pid"] != os.getpid()  # written by the first run's process

    text = _cli(
        "cache",
        "show",
        entries["combine"]["key"],
        "--provenance",
        "--use-cache",
        str(tmp_path / "cache"),
    )
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("combine(")
    assert any("a ← left(data=<dict of 2>, factor=3.0)" in line for line in lines)
    assert any("d" in line and "source(n=50, label='reads')" in line for line in lines)


def test_manifest_with_lineage_stays_readable_and_collectable(tmp_path: Path) -> None:
    """The optional lineage field keeps the manifest's checksum valid; verify and GC keep it."""
    first, _ = _run(tmp_path, "first", RECYCLABLE_TEST_FAIL_AT="combine")
    assert first.returncode == 1
    cache = Cache(tmp_path / "cache")
    report = cache.verify()
    assert report.entries == 3 and not report.damaged
    cache.garbage_collect()
    for key in cache.create_pool("diamond", reuse=True).keys():  # noqa: SIM118 - markers
        data = cache.store.read_manifest(key)
        assert data is not None
        assert "lineage" in load_manifest(data).as_dict()


def test_unknown_key_prefix_is_a_usage_error(tmp_path: Path) -> None:
    """--provenance with a prefix no entry has exits 2 and says so."""
    _run(tmp_path, "first", RECYCLABLE_TEST_FAIL_AT="combine")
    shown = _cli(
        "cache", "show", "ffffffffffff", "--provenance", "--use-cache", str(tmp_path / "cache")
    )
    assert shown.returncode == 2
    assert "no entry with a key starting 'ffffffffffff'" in shown.stderr
