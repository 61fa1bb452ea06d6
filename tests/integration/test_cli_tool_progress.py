"""A long cache tool's progress: on stderr only, on a terminal, or in a log when asked."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from recyclable import Cache, recyclable

ENTRIES = 30


@recyclable
def step(n: int) -> int:
    return n * 2


@pytest.fixture
def filled(tmp_path: Path) -> Cache:
    """A cache with one pool of ENTRIES entries (each tool has that many to work through)."""
    cache = Cache(tmp_path / "cache")
    with cache.create_pool("p") as pool:
        for n in range(ENTRIES):
            step(n)
    assert len(pool) == ENTRIES
    return cache


def _env(after: str) -> dict[str, str]:
    # The threshold is lowered so a small cache shows what a large one shows after 2 s.
    return {**os.environ, "RECYCLABLE_PROGRESS_AFTER": after}


def _on_a_terminal(argv: list[str], after: str) -> tuple[str, bytes, int]:
    """Run ``recyclable ARGV`` with stderr on a pty and stdout on a pipe: (stdout, stderr, code)."""
    main_fd, child_fd = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "recyclable", *argv],
            stdout=subprocess.PIPE,
            stderr=child_fd,
            stdin=subprocess.DEVNULL,
            env=_env(after),
        )
    finally:
        os.close(child_fd)
    seen = b""
    while True:
        ready, _, _ = select.select([main_fd], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(main_fd)
    return out.decode(), seen, proc.returncode


@pytest.mark.parametrize("tool", [["info"], ["pools"], ["show", "p"], ["gc"], ["verify"]])
def test_progress_line_on_a_terminal_never_on_stdout(filled: Cache, tool: list[str]) -> None:
    """On a terminal each tool shows an updating stderr line, cleared at the end; stdout is JSON."""
    out, err, code = _on_a_terminal(
        ["cache", *tool, "--use-cache", str(filled.path), "--json"], after="0.000001"
    )
    assert code == 0, err
    data = json.loads(out)  # nothing but the document on stdout
    assert "\x1b" not in out and "recyclable cache" not in out
    assert f"\r\x1b[Krecyclable cache {tool[0]}: ".encode() in err
    assert err.endswith(b"\r\x1b[K")  # the line is cleared when the tool ends
    if tool == ["info"]:
        assert data["entries"] == ENTRIES


def test_no_progress_before_the_threshold(filled: Cache) -> None:
    """A tool that ends before the threshold shows nothing, even on a terminal."""
    out, err, code = _on_a_terminal(
        ["cache", "info", "--use-cache", str(filled.path), "--json"], after="600"
    )
    assert code == 0
    assert json.loads(out)["entries"] == ENTRIES
    assert b"recyclable cache" not in err


def test_quiet_in_a_log_unless_asked(filled: Cache) -> None:
    """With stderr not a terminal nothing is shown; --progress writes whole lines there."""
    argv = [sys.executable, "-m", "recyclable", "cache", "pools", "--use-cache", str(filled.path)]
    quiet = subprocess.run(argv, capture_output=True, text=True, env=_env("0.000001"), check=True)
    assert "recyclable cache pools:" not in quiet.stderr
    assert quiet.stdout.split()[:2] == ["POOL", "ENTRIES"]
    asked = subprocess.run(
        [*argv, "--progress", "--json"],
        capture_output=True,
        text=True,
        env=_env("0.000001"),
        check=True,
    )
    lines = [
        line for line in asked.stderr.splitlines() if line.startswith("recyclable cache pools:")
    ]
    assert lines and "\x1b" not in asked.stderr and "\r" not in asked.stderr
    assert [p["entries"] for p in json.loads(asked.stdout)] == [ENTRIES]
