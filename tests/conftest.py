"""Fixtures shared by every test: a fresh cache; no pool or environment leaks between tests.

The suite is hermetic whatever the caller's environment: every ``RECYCLABLE_*``
variable the caller exported (``RECYCLABLE_DISABLE``, ``RECYCLABLE_CACHE``,
``RECYCLABLE_SECRET``, the suite's own switches) is removed when pytest starts,
before any fixture (the module-scoped Dask cluster included) or child process
exists, and the default cache points into a private session directory.  Each
test then gets its own default cache through `_isolate`, which keeps its own
monkeypatch, so a test calling ``monkeypatch.undo()`` falls back to the
session's clean state, never to the caller's.

``--recycling-off`` is the guard against tests that cannot fail: it switches
recycling off for the whole run, deliberately defeating `_isolate` (every test
and every child process sees ``RECYCLABLE_DISABLE=1``, and the in-process
switch is pinned on so no test can turn it back).  A test of recycling must
then fail; the run fails if any test passes that ``tests/recycling_off_allowed.txt``
does not list, with the reason it may, and succeeds otherwise.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from recyclable import Cache, _env
from recyclable._context import active_pool
from recyclable.pool import _previous

REPO = Path(__file__).resolve().parent.parent
ALLOWED_OFF = Path(__file__).resolve().parent / "recycling_off_allowed.txt"
FORCE_OFF = "--recycling-off"

_session_dirs: list[Path] = []
_passed_off: set[str] = set()
_collected: set[str] = set()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The guard's option."""
    parser.addoption(
        FORCE_OFF,
        action="store_true",
        help="run with recycling forced off; fail if a test not in "
        "tests/recycling_off_allowed.txt still passes",
    )


def _forced_off(config: pytest.Config) -> bool:
    return bool(config.getoption(FORCE_OFF))


def _always_disabled() -> bool:
    return True


def pytest_configure(config: pytest.Config) -> None:
    """Drop the caller's RECYCLABLE_* variables; under the guard, pin recycling off."""
    for name in [n for n in os.environ if n.startswith("RECYCLABLE_")]:
        del os.environ[name]
    session_dir = Path(tempfile.mkdtemp(prefix="recyclable-tests-"))
    _session_dirs.append(session_dir)
    os.environ["RECYCLABLE_CACHE"] = str(session_dir / "default-cache")
    if _forced_off(config):
        os.environ[_env.DISABLE_VAR] = "1"
        # Not through a monkeypatch: nothing a test undoes can turn it back on.
        _env.recycling_disabled = _always_disabled  # type: ignore[assignment]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session directory."""
    while _session_dirs:
        shutil.rmtree(_session_dirs.pop(), ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolate(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Each test starts with no active pool, recycling enabled and a private default cache."""
    with pytest.MonkeyPatch.context() as patch:
        if _forced_off(request.config):
            patch.setenv(_env.DISABLE_VAR, "1")
        else:
            patch.delenv(_env.DISABLE_VAR, raising=False)
        patch.setenv(_env.CACHE_VAR, str(tmp_path / "default-cache"))
        pool_token = active_pool.set(None)
        previous_token = _previous.set(())
        yield
        active_pool.reset(pool_token)
        _previous.reset(previous_token)


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    """A new, empty cache in the test's temporary directory."""
    return Cache(tmp_path / "cache")


# --- the forced-off guard ------------------------------------------------------------------


def allowed_with_recycling_off() -> dict[str, str]:
    """The tests that may pass with recycling off: node id (or id without parameters) → reason."""
    allowed: dict[str, str] = {}
    for line in ALLOWED_OFF.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        test, sep, reason = line.partition(" # ")
        if not sep or not reason.strip():
            raise ValueError(f"{ALLOWED_OFF.name}: {line!r} gives no reason ('<test> # <reason>')")
        allowed[test.strip()] = reason.strip()
    return allowed


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remember what was collected; under the guard, leave out the tests allowed to pass.

    A listed test may pass or fail with recycling off: either way it cannot
    fail the guard, so running it would only cost time.
    """
    for item in items:
        _collected.add(item.nodeid)
        _collected.add(item.nodeid.split("[", 1)[0])
    if not _forced_off(config):
        return
    allowed = allowed_with_recycling_off()
    listed = [i for i in items if i.nodeid in allowed or i.nodeid.split("[", 1)[0] in allowed]
    if listed:
        config.hook.pytest_deselected(items=listed)
        left_out = {id(i) for i in listed}
        items[:] = [i for i in items if id(i) not in left_out]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Under the guard, remember every test that passed."""
    if report.when == "call" and report.passed:
        _passed_off.add(report.nodeid)


def _unexpected(passed: set[str], allowed: dict[str, str]) -> list[str]:
    return sorted(n for n in passed if n not in allowed and n.split("[", 1)[0] not in allowed)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under the guard, the run's verdict: failed when a test not allowed to pass passed."""
    if not _forced_off(session.config):
        return
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return  # interrupted, a usage or internal error: keep pytest's own status
    bad = _unexpected(_passed_off, allowed_with_recycling_off())
    session.exitstatus = pytest.ExitCode.TESTS_FAILED if bad else pytest.ExitCode.OK


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Under the guard, name the tests that passed with recycling off and should not have."""
    if not _forced_off(terminalreporter.config):
        return
    allowed = allowed_with_recycling_off()
    bad = _unexpected(_passed_off, allowed)
    terminalreporter.section("recycling forced off")
    terminalreporter.write_line(
        f"{len(_passed_off)} test(s) passed with recycling off that "
        f"{ALLOWED_OFF.name} does not list (its tests are not run here)"
    )
    for node in bad:
        terminalreporter.write_line(f"PASSED WITH RECYCLING OFF (cannot fail): {node}")
    if not bad:
        terminalreporter.write_line("every other test failed, as a test of recycling must")
    files = {node.split("::", 1)[0] for node in _collected}
    for entry in sorted(set(allowed) - _collected):
        if entry.split("::", 1)[0] in files:
            terminalreporter.write_line(f"allow-list entry matches no collected test: {entry}")
