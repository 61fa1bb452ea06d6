"""A system error on a pool's own files reaches the user as a CacheIOError (Python and CLI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recyclable import Cache, Pool, recyclable
from recyclable.errors import CacheIOError, RecyclableError


@recyclable
def double(x: int) -> int:
    return 2 * x


def _loop_pool(tmp_path: Path) -> tuple[Cache, Pool]:
    """A cache whose pool 'p' holds one entry, then has its directory replaced by a symlink loop."""
    cache = Cache(tmp_path / "c")
    with cache.create_pool("p") as pool:
        double(1)
    assert pool.stats.computed == 1 and len(pool) == 1
    directory = cache.path / "pools" / "p"
    shutil.rmtree(directory)
    os.symlink("p", directory)  # ELOOP on every read, even for root
    return cache, pool


def test_listing_a_broken_pool_is_a_cache_io_error(tmp_path: Path) -> None:
    """len(pool) and its keys raise CacheIOError (an OSError too) naming the pool."""
    _, pool = _loop_pool(tmp_path)
    for probe in (lambda: len(pool), lambda: list(pool.keys())):
        with pytest.raises(CacheIOError, match="pool 'p'") as caught:
            probe()
        assert isinstance(caught.value, RecyclableError) and isinstance(caught.value, OSError)


def test_cache_tools_on_a_broken_pool_say_one_line(tmp_path: Path) -> None:
    """`recyclable cache show` on such a pool exits 2 with one line and no traceback."""
    cache, pool = _loop_pool(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "recyclable",
            "cache",
            "show",
            pool.name,
            "--use-cache",
            str(cache.path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Too many levels of symbolic links" in done.stderr
