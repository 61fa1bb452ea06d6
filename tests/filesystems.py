"""Real small and read-only filesystems for the fault tests (mounting needs root; else skip)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
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


@contextlib.contextmanager
def no_hard_links(path: Path) -> Iterator[Path]:
    """A directory at ``path`` on a FUSE filesystem that refuses hard links; skips where impossible.

    Needs fusepy with libfuse 2 and /dev/fuse (root).  The directory
    underneath is ``path`` with ``.under`` appended.
    """
    if sys.platform != "linux" or not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        pytest.skip("a FUSE filesystem needs Linux, /dev/fuse and root")
    try:
        import fuse  # type: ignore[import-untyped]  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: fusepy finds no libfuse
        pytest.skip(f"a FUSE filesystem needs fusepy and libfuse 2: {exc}")
    under = path.with_name(path.name + ".under")
    under.mkdir(parents=True)
    path.mkdir()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("nolinkfs.py")), str(under), str(path)],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(path):  # polls for the mount: no fixed wait
            if server.poll() is not None or time.monotonic() > deadline:
                err = server.stderr.read().decode() if server.stderr else ""
                pytest.fail(f"the FUSE filesystem did not mount at {path}: {err}")
            time.sleep(0.01)
        yield path
    finally:
        busy = subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode
        if busy:
            # A file still open or mapped there (a loaded result): detach the
            # mount now and stop the server, which would otherwise serve it
            # until the last reference goes.
            _unmount(path)
            server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()
