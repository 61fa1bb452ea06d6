"""Input files keyed by content: files=, InputFile values and annotations, directories, the memo."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from recyclable import Cache, FingerprintError, InputFile, recyclable
from recyclable.files import RACY_SECONDS, file_digest

RUNS: list[str] = []


@recyclable(files=["table"])
def count_lines(table: str | os.PathLike[str], header: bool = True) -> int:
    RUNS.append("count_lines")
    with open(table) as handle:
        return sum(1 for _ in handle) - int(header)


@recyclable
def summarize(source: InputFile) -> str:
    RUNS.append("summarize")
    return Path(source).read_text()[:10]


def setup_function() -> None:
    RUNS.clear()


def _age(path: Path, seconds: float = 3600) -> None:
    """Give a file an old mtime, as a file written long before the run would have."""
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_content_not_name_is_the_key(cache: Cache, tmp_path: Path) -> None:
    """Changed content misses; the same content under another name or a new mtime hits."""
    table = tmp_path / "table.tsv"
    table.write_text("id\n1\n2\n")
    with cache.create_pool("p"):
        assert count_lines(table) == 2
        assert count_lines(str(table)) == 2  # str and Path: same file, same content
        table.write_text("id\n1\n2\n3\n")
        assert count_lines(table) == 3
        copy = tmp_path / "copy.tsv"
        copy.write_text("id\n1\n2\n")
        assert count_lines(copy) == 2  # the first content again: loaded
    assert RUNS == ["count_lines", "count_lines"]


def test_input_file_annotation_and_value(cache: Cache, tmp_path: Path) -> None:
    """A parameter annotated InputFile, or an InputFile value anywhere, is keyed by content."""
    source = tmp_path / "a.txt"
    source.write_text("first version")
    with cache.create_pool("p"):
        summarize(InputFile(source))
        summarize(InputFile(source))
        source.write_text("second version")
        assert summarize(InputFile(source)) == "second ver"
    assert RUNS == ["summarize", "summarize"]
    assert "source" in summarize.__recyclable__.files


def test_directory_is_its_files(cache: Cache, tmp_path: Path) -> None:
    """A directory's key covers its files' relative paths and contents."""
    root = tmp_path / "reads"
    (root / "lane1").mkdir(parents=True)
    (root / "lane1" / "a.fq").write_text("ACGT")
    (root / "b.fq").write_text("TTTT")
    first = file_digest(root)
    (root / "b.fq").write_text("TTTA")
    assert file_digest(root) != first
    (root / "b.fq").write_text("TTTT")
    assert file_digest(root) == first
    (root / "lane1" / "a.fq").rename(root / "lane1" / "c.fq")
    assert file_digest(root) != first


def test_stat_memo_skips_rereading_unchanged_files(tmp_path: Path) -> None:
    """A file whose path, size, inode, mtime and ctime are unchanged is answered from the memo."""
    from recyclable import files

    path = tmp_path / "big.bin"
    path.write_bytes(b"a" * 1000)
    _age(path)
    first = file_digest(path)
    info = path.stat()
    key = (str(path.resolve()), info.st_dev, info.st_ino, 1000, info.st_mtime_ns, info.st_ctime_ns)
    assert files._memo[key] == first
    # What the memo holds is what is returned: nothing is read again.
    files._memo[key] = b"m" * 16
    assert file_digest(path) == b"m" * 16
    del files._memo[key]


def test_same_size_rewrite_with_restored_mtime_is_seen(tmp_path: Path) -> None:
    """Rewriting a file in place with the same size and putting its mtime back still changes
    its digest: the memo is keyed by ctime too, which no user call can restore."""
    path = tmp_path / "big.bin"
    path.write_bytes(b"a" * 1000)
    _age(path)
    first = file_digest(path)
    stat = path.stat()
    with open(path, "r+b") as handle:
        handle.write(b"b" * 1000)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    assert file_digest(path) != first
    path.write_bytes(b"a" * 1000)
    _age(path)
    assert file_digest(path) == first


def test_recently_modified_files_are_never_memoised(tmp_path: Path) -> None:
    """Within the racy window a file is re-read each time, so a same-tick rewrite is seen."""
    path = tmp_path / "fresh.bin"
    path.write_bytes(b"a" * 100)
    stat = path.stat()
    assert time.time() - stat.st_mtime < RACY_SECONDS
    first = file_digest(path)
    path.write_bytes(b"b" * 100)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digest(path) != first


def test_missing_file_and_wrong_value_are_clear_errors(cache: Cache, tmp_path: Path) -> None:
    """A missing input file or a non-path value names the argument and the problem."""
    with cache.create_pool("p"):
        with pytest.raises(FingerprintError) as missing:
            count_lines(tmp_path / "absent.tsv")
        with pytest.raises(FingerprintError) as wrong:
            count_lines(42)  # type: ignore[arg-type]
    assert "argument 'table'" in str(missing.value) and "does not exist" in str(missing.value)
    assert "argument 'table' → int" in str(wrong.value)
    assert "pass a str or os.PathLike" in str(wrong.value)
    assert RUNS == []


def test_files_option_validation() -> None:
    """files= must name real parameters."""
    with pytest.raises(ValueError, match=r"files=...\) names \['nope'\]"):
        recyclable(files=["nope"])(lambda table: table)
    with pytest.raises(TypeError, match="InputFile"):
        InputFile(3)  # type: ignore[arg-type]
