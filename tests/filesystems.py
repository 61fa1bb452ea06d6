"""Real small and read-only filesystems for the fault tests (mounting needs root; else skip)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(args: list[str]) -> str | None:
    """Run mount(8); the reason it failed, or None."""
    if sys.platform != "linux" or shutil.which("mount") is None:
        return "needs Linux and mount(8)"
    if os.geteuid() != 0:
        return "mounting a filesystem needs root"
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else f"mount {' '.join(args)} failed: {done.stderr.strip()}"


def _unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``"40m"``) mounted at ``path`` for the block; skips where impossible."""
    path.mkdir(parents=True, exist_ok=True)
    why = _mount(["-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)])
    if why is not None:
        pytest.skip(f"a small filesystem cannot be made here: {why}")
    try:
        yield path
    finally:
        _unmount(path)


def fill(path: Path, keep: int = 0) -> None:
    """Fill the filesystem holding ``path`` until at most ``keep`` bytes are free."""
    stats = os.statvfs(path)
    free = stats.f_bavail * stats.f_frsize
    filler = path / "filler"
    with open(filler, "wb") as handle:
        chunk = b"\0" * (1 << 20)
        remaining = max(free - keep, 0)
        try:
            while remaining > 0:
                remaining -= handle.write(chunk[: min(len(chunk), remaining)])
                handle.flush()
        except OSError:
            pass


@contextlib.contextmanager
def read_only_view(source: Path, path: Path) -> Iterator[Path]:
    """``source`` bind-mounted read-only at ``path`` for the block; skips where impossible."""
    path.mkdir(parents=True, exist_ok=True)
    why = _mount(["--bind", str(source), str(path)])
    if why is not None:
        pytest.skip(f"a read-only mount cannot be made here: {why}")
    try:
        why = _mount(["-o", "remount,bind,ro", str(path)])
        if why is not None:
            pytest.skip(f"a read-only mount cannot be made here: {why}")
        yield path
    finally:
        _unmount(path)
