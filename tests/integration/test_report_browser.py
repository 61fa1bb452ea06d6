"""The report page in a real headless Chromium, loaded from disk with the network cut off.

The browser runs the page's script; the DOM it dumps is compared with the
steps that ``recyclable run --json`` reported for the same run: one node per
call with its state, one edge per lineage link.  A screenshot is saved.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ACTIONS = REPO / "tests" / "lineage_actions.py"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no Chromium on this machine (install it: apt-get update && apt-get install -y chromium; "
        ".ci/run does)"
    )


class _Dom(HTMLParser):
    """Collects the graph's nodes and edges and the body's attributes from a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, dict[str, str]] = {}
        self.edges: set[tuple[str, str]] = set()
        self.body: dict[str, str] = {}
        self.details = ""
        self._in_details = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "g" and "node" in classes:
            self.nodes[a["data-key"]] = {"state": a["data-state"], "class": a["class"]}
        elif tag == "path" and "edge" in classes:
            self.edges.add((a["data-from"], a["data-to"]))
        elif tag == "body":
            self.body = a
        self._in_details = tag == "div" and a.get("id") == "details"

    def handle_data(self, data: str) -> None:
        if self._in_details:
            self.details += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            self._in_details = False


def _can_unshare_net() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "--net", "true"], capture_output=True, timeout=30, check=False
    )
    return probe.returncode == 0


def _chromium(browser: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp / 'profile'}",
        *args,
    ]
    # No network at all where a network namespace can be made: the page must not need one.
    # (The page's Content-Security-Policy forbids fetches in any case.)
    if _can_unshare_net():
        command = ["unshare", "--net", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _dom(browser: str, tmp: Path, page: Path, fragment: str = "") -> _Dom:
    proc = _chromium(browser, tmp, "--dump-dom", page.as_uri() + fragment)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Dom()
    dom.feed(proc.stdout)
    return dom


def _run(tmp: Path, report: Path, **env: str) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "recyclable",
            "run",
            f"{ACTIONS}:pipeline",
            "--n",
            "40",
            "--use-cache",
            str(tmp / "cache"),
            "--recycle-pool",
            "diamond",
            "--report",
            str(report),
            "--json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
    assert report.is_file(), proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _expected(run: dict[str, Any]) -> tuple[dict[str, str], set[tuple[str, str]]]:
    states: dict[str, str] = {}
    for step in run["steps"]:
        states.setdefault(step["key"], step["state"])
    edges = {
        (source, step["key"])
        for step in run["steps"]
        for _, _, source, _ in step["inputs"]
        if source in states
    }
    return states, edges


def test_report_of_a_failed_and_a_resumed_run_in_chromium(tmp_path: Path) -> None:
    """Nodes, states and edges in the browser's DOM match the run's steps; a screenshot is made."""
    browser = _browser()
    first = _run(tmp_path, tmp_path / "first.html", RECYCLABLE_TEST_FAIL_AT="combine")
    assert first["ok"] is False
    second = _run(tmp_path, tmp_path / "second.html")
    assert second["ok"] is True and second["run"]["loaded"] == 3

    for run, page in ((first, "first.html"), (second, "second.html")):
        states, edges = _expected(run["run"])
        dom = _dom(browser, tmp_path, tmp_path / page)
        assert {k: v["state"] for k, v in dom.nodes.items()} == states
        assert dom.edges == edges
        assert dom.body["data-rendered-nodes"] == str(len(states))

    by_action = {s["action"]: s for s in second["run"]["steps"]}
    assert {by_action[a]["state"] for a in ("source", "left", "right")} == {"loaded"}
    assert by_action["combine"]["state"] == "computed"
    src, left, right, comb = (by_action[a]["key"] for a in ("source", "left", "right", "combine"))
    assert {(src, left), (src, right), (left, comb), (right, comb)} <= dom.edges
    first_states = {s["action"]: s["state"] for s in first["run"]["steps"]}
    assert first_states["combine"] == "failed"

    # Selecting a step (what a click does; the URL fragment names it) pins its details
    # and dims every step it did not come from.
    picked = _dom(browser, tmp_path, tmp_path / "second.html", "#" + left)
    assert "sel" in picked.nodes[left]["class"].split()
    dimmed = {k for k, v in picked.nodes.items() if "dim" in v["class"].split()}
    assert dimmed == set(picked.nodes) - {left, src}
    assert "factor = 3.0" in picked.details and "data \u2190 source" in picked.details

    shot = tmp_path / "report.png"
    proc = _chromium(browser, tmp_path, f"--screenshot={shot}", "--window-size=1200,700",
                     (tmp_path / "second.html").as_uri())  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1200, 700)


def test_thousand_step_page_renders_every_node_in_chromium(tmp_path: Path) -> None:
    """A pool of 1,000 entries (100 chains of 10) renders 1,000 nodes and 900 edges."""
    browser = _browser()
    code = (
        "import sys\n"
        "from recyclable import Cache, recyclable\n"
        "@recyclable\n"
        "def start(s): return [s]\n"
        "@recyclable\n"
        "def stage(prev, i): return [*prev, i]\n"
        "cache = Cache(sys.argv[1])\n"
        "with cache.create_pool('big'):\n"
        "    for s in range(100):\n"
        "        v = start(s)\n"
        "        for i in range(1, 10):\n"
        "            v = stage(v, i)\n"
    )
    script = tmp_path / "big.py"
    script.write_text(code)
    subprocess.run([sys.executable, str(script), str(tmp_path / "c")], check=True, timeout=300)
    page = tmp_path / "big.html"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "recyclable",
            "report",
            "big",
            "--use-cache",
            str(tmp_path / "c"),
            "-o",
            str(page),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    dom = _dom(browser, tmp_path, page)
    assert len(dom.nodes) == 1000
    assert {v["state"] for v in dom.nodes.values()} == {"stored"}
    assert len(dom.edges) == 900
    shot = tmp_path / "big.png"
    proc = _chromium(browser, tmp_path, f"--screenshot={shot}", "--window-size=1200,800",
                     page.as_uri())  # fmt: skip
    assert proc.returncode == 0 and shot.stat().st_size > 10_000
