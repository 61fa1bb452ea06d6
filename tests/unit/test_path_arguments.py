"""pathlib.Path (any os.PathLike) arguments are keyed by their text and by content."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recyclable import Cache, NotRecyclableWarning, fingerprint, recyclable

RUNS: list[str] = []


@recyclable
def total_size(root: Path) -> int:
    RUNS.append("total_size")
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def setup_function() -> None:
    RUNS.clear()


def test_directory_argument_is_keyed_by_its_files(cache: Cache, tmp_path: Path) -> None:
    """Adding to a file inside a directory argument makes the call compute again; an
    unchanged directory is loaded."""
    root = tmp_path / "data"
    (root / "lane").mkdir(parents=True)
    (root / "lane" / "a.txt").write_text("abc")
    pool = cache.create_pool("p")
    with pool:
        assert total_size(root) == 3
        assert total_size(root) == 3
        (root / "lane" / "a.txt").write_text("abcdef")
        assert total_size(root) == 6
    assert RUNS == ["total_size", "total_size"]
    assert pool.stats.loaded == 1


def test_path_text_and_content_both_count(tmp_path: Path) -> None:
    """Two paths to equal content differ (a step may use the name); a missing path is keyed
    by its text alone, and stops matching once the file exists."""
    (tmp_path / "a.txt").write_text("same")
    (tmp_path / "b.txt").write_text("same")
    assert fingerprint(tmp_path / "a.txt") != fingerprint(tmp_path / "b.txt")
    missing = tmp_path / "out.txt"
    before = fingerprint(missing)
    assert before == fingerprint(tmp_path / "out.txt")
    missing.write_text("now here")
    assert fingerprint(missing) != before


class Located(os.PathLike[str]):
    """A user type that is a path."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return self.path


def test_any_pathlike_is_keyed_by_content(tmp_path: Path) -> None:
    """An os.PathLike of the user's own is read like a Path."""
    target = tmp_path / "f.txt"
    target.write_text("one")
    first = fingerprint(Located(str(target)))
    target.write_text("two")
    assert fingerprint(Located(str(target))) != first


@recyclable
def write_report(n: int, out: Path) -> int:
    RUNS.append("write_report")
    out.write_text("x" * n)
    return n


def test_output_path_not_ignored_is_reported_with_the_fix(cache: Cache, tmp_path: Path) -> None:
    """A step that writes the file its Path argument names is not stored (the file it read
    as input changed), and the warning suggests ignore=[...] for the output path."""
    out = tmp_path / "report.txt"
    out.write_text("old")
    pool = cache.create_pool("p")
    with pool, pytest.warns(NotRecyclableWarning, match=r"ignore=\['out'\]"):
        assert write_report(3, out) == 3
    assert pool.stats.loaded == 0
    assert len(list(pool.keys())) == 0
