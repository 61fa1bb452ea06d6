"""A shared cache used by two real users of one group, under a strict and a loose umask.

The tests run as root, so they create a group and two users in it (removed
afterwards) and start every child as one of them: ``recyclable run
--recycle-pool keep`` and Python pools storing and loading.  Every file and
directory the library creates (VERSION, blobs, manifests, markers, leases, run
records and ``.runs``, staging, quarantine) must let the other member in.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, TESTS, wait_for

pytestmark = pytest.mark.slow

SHARED_DIR_MODE = 0o2770
SHARED_FILE_MODE = 0o664

PY_CHILD = """
import sys
import pipeline_actions as actions
from recyclable import Cache

path, shared, *xs = sys.argv[1:]
cache = Cache(path, shared=shared == "shared")
with cache.create_pool("py", reuse=True) as pool:
    for x in xs:
        actions.square(int(x))
print(pool.stats.loaded, pool.stats.computed)
"""


@dataclass(frozen=True)
class Member:
    """A user of the test group."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class Group:
    """The test group, its two members and a directory all of them can use."""

    gid: int
    alice: Member
    bob: Member
    home: Path


def _closed_to_others(paths: list[Path]) -> Path | None:
    """The first directory above ``paths`` that other users cannot enter, if any."""
    for path in paths:
        for directory in [path, *path.parents] if path.is_dir() else path.parents:
            if not directory.stat().st_mode & stat.S_IXOTH:
                return directory
    return None


def _run(args: list[str]) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def group() -> Iterator[Group]:
    """A new group with two new users, and a setgid directory of the group's."""
    if os.geteuid() != 0:
        pytest.skip("creating users and switching to them needs root")
    if shutil.which("groupadd") is None or shutil.which("useradd") is None:
        pytest.skip("groupadd/useradd are not installed: no second user can be created")
    closed = _closed_to_others([REPO, Path(sys.executable)])
    if closed is not None:
        # The two users run this checkout's code with this interpreter: a
        # directory they cannot enter (`mktemp -d` makes one) leaves them
        # without it, and the test would measure that, not sharing.
        pytest.skip(f"{closed} is not open to other users (mode {closed.stat().st_mode & 0o777:o})")
    tag = secrets.token_hex(3)
    group_name, names = f"rcy{tag}", [f"rcya{tag}", f"rcyb{tag}"]
    _run(["groupadd", group_name])
    created: list[str] = []
    home = Path(tempfile.mkdtemp(prefix="recyclable-shared-"))
    try:
        for name in names:
            _run(["useradd", "-M", "-N", "-g", group_name, "-d", str(home), name])
            created.append(name)
        gid = grp.getgrnam(group_name).gr_gid
        os.chown(home, 0, gid)
        os.chmod(home, 0o2775)
        members = [Member(n, pwd.getpwnam(n).pw_uid, gid) for n in names]
        yield Group(gid, members[0], members[1], home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        for name in created:
            subprocess.run(["userdel", name], check=False, capture_output=True)
        subprocess.run(["groupdel", group_name], check=False, capture_output=True)


def _plugin_site(root: Path) -> Path:
    site = root / "site"
    dist = site / "recyclable_test_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: recyclable-test-plugins\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text("[recyclable.plugins]\npipes = pipeline_actions\n")
    for path in [site, dist, *dist.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return site


def _env(site: Path, log: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECYCLABLE_TEST_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), str(REPO), str(TESTS)]),
        PYTHONDONTWRITEBYTECODE="1",
        HOME=str(site.parent),
        RECYCLABLE_TEST_LOG=str(log),
    )
    env.update(extra)
    return env


def _as(member: Member, umask: int, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``args`` (``cli ...`` or ``code SOURCE ...``) as ``member`` under ``umask``."""
    runner = [sys.executable, str(TESTS / "as_user.py"), str(member.uid), str(member.gid)]
    return subprocess.Popen(
        [*runner, f"{umask:o}", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _done(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    return out + err


def _modes(cache: Path) -> dict[str, int]:
    found = {".": cache.stat().st_mode}
    for path in cache.rglob("*"):
        found[str(path.relative_to(cache))] = path.lstat().st_mode
    return found


def _wrong_modes(modes: dict[str, int]) -> list[str]:
    wrong = []
    for name, mode in modes.items():
        want = SHARED_DIR_MODE if stat.S_ISDIR(mode) else SHARED_FILE_MODE
        if stat.S_IMODE(mode) != want:
            wrong.append(f"{name}: {stat.S_IMODE(mode):o}, want {want:o}")
    return wrong


@pytest.mark.parametrize("umask", [0o077, 0o022], ids=["umask077", "umask022"])
def test_second_member_of_the_group_runs_and_loads(group: Group, umask: int) -> None:
    """Alice creates a cache and a kept pool; Bob resumes and extends it; each loads the other's."""
    root = Path(tempfile.mkdtemp(dir=group.home))
    os.chown(root, 0, group.gid)
    os.chmod(root, 0o2775)
    site = _plugin_site(root)
    log = root / "executions.log"
    log.touch(mode=0o666)
    log.chmod(0o666)
    cache = root / "cache"
    python = ["code", PY_CHILD, str(cache)]
    run = ["cli", "run", "pipes", "analyze", "--n", "20000"]
    keep = ["--recycle-pool", "keep", "--use-cache", str(cache)]

    # Alice: a Python pool creates the shared cache and stores one step.
    out = _done(_as(group.alice, umask, [*python, "shared", "1"], _env(site, log)))
    assert out.split()[:2] == ["0", "1"]

    # Alice: a command-line run, held half-way so its lease and run record exist.
    held = _env(site, log, RECYCLABLE_TEST_WAIT_AT="diversity")
    alice_run = _as(group.alice, umask, [*run, *keep], held)
    waiting = Path(f"{log}.waiting")
    try:
        wait_for(waiting, alice_run)
        live = _modes(cache)
    finally:
        Path(f"{log}.go").touch()
    _done(alice_run)
    assert any(name.startswith("leases/") and "/" in name[7:] for name in live)
    assert any(name.endswith(".run") for name in live)

    # Bob: the same command loads Alice's whole run.
    before = log.read_text().split()
    out = _done(_as(group.bob, umask, [*run, *keep], _env(site, log)))
    assert "1 step(s) loaded, 0 computed" in out
    assert log.read_text().split() == before
    # Bob: other parameters reuse Alice's reads and add his own entries to her pool.
    out = _done(_as(group.bob, umask, [*run, "--samples", "5", *keep], _env(site, log)))
    assert "3 step(s) loaded, 2 computed" in out
    # Bob loads Alice's step and stores one; Alice loads Bob's.
    out = _done(_as(group.bob, umask, [*python, "private", "1", "2"], _env(site, log)))
    assert out.split()[:2] == ["1", "1"]
    out = _done(_as(group.alice, umask, [*python, "private", "2"], _env(site, log)))
    assert out.split()[:2] == ["1", "0"]

    after = _modes(cache)
    assert {n for n in after if n.startswith("pools/keep/.runs")} == {"pools/keep/.runs"}
    assert _wrong_modes(live) == []
    assert _wrong_modes(after) == []
    owners = {p.stat().st_uid for p in (cache / "entries").rglob("*.json")}
    assert owners == {group.alice.uid, group.bob.uid}
