"""Fixtures for integration tests: command-line runs, and remote components on 127.0.0.1.

A plugin distribution on sys.path serves the command-line tests.  An S3
server (moto's threaded server) runs once per session; each test gets a bucket
of its own.  Dummy credentials are set in the environment here and only here:
the library reads them the way it reads real ones, from the environment of
the process that opens the store (child processes inherit them).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from children import LogWatch
from remote_support import DUMMY_CREDENTIALS, S3Location

from recyclable.cli import main

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"


@dataclass(frozen=True)
class Outcome:
    """What one command did: exit code and the two output streams."""

    code: int
    out: str
    err: str


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory holding a plugin distribution's metadata, on sys.path.

    importlib.metadata finds ``*.dist-info/entry_points.txt`` on sys.path, so
    this registers the plugins ``pipes`` (tests/pipeline_actions.py), ``typed``
    (tests/cli_actions.py) and ``broken`` (a module that does not exist)
    without installing anything.
    """
    root = tmp_path / "site"
    dist = root / "recyclable_test_plugins-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: recyclable-test-plugins\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[recyclable.plugins]\n"
        "pipes = pipeline_actions\n"
        "typed = cli_actions\n"
        "broken = no_such_module_for_recyclable_tests\n"
    )
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """Run ``recyclable ARGS`` in this process and capture what it printed."""

    def run(*args: str) -> Outcome:
        code = main(list(args))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the test actions append each real execution to (RECYCLABLE_TEST_LOG)."""
    path = tmp_path / "executions.log"
    monkeypatch.setenv("RECYCLABLE_TEST_LOG", str(path))
    return path


def executions(log: Path) -> list[str]:
    """The steps that really ran, in order."""
    return log.read_text().split() if log.exists() else []


def process_env(plugin_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a child `recyclable` process: test modules and plugins importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECYCLABLE_TEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(plugin_path), str(REPO), str(TESTS)])
    env.update(extra)
    return env


def start(args: Sequence[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start ``python -m recyclable ARGS`` as a real process."""
    return subprocess.Popen(
        [sys.executable, "-m", "recyclable", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> Outcome:
    """Wait for a process started by `start`."""
    out, err = process.communicate(timeout=timeout)
    return Outcome(process.returncode, out, err)


def wait_for(path: Path, process: subprocess.Popen[str] | None = None, timeout: float = 60) -> None:
    """Wait until ``path`` exists; fail early if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"process exited {process.returncode} early:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the whole session, with dummy credentials set."""
    pytest.importorskip("s3fs", reason="the S3 tests need the test extra: pip install '.[test]'")
    server_module = pytest.importorskip(
        "moto.server", reason="the S3 tests need the test extra: pip install '.[test]'"
    )
    saved = {name: os.environ.get(name) for name in DUMMY_CREDENTIALS}
    os.environ.update(DUMMY_CREDENTIALS)
    # The server logs every request through werkzeug; keep test output readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3(s3_endpoint: str) -> S3Location:
    """A new, empty bucket on the session's S3 server."""
    location = S3Location(s3_endpoint, f"test-{uuid.uuid4().hex[:16]}")
    location.filesystem().mkdir(location.bucket)
    return location


@pytest.fixture
def waiting() -> Iterator[LogWatch]:
    """A handler on the recyclable logger counting 'waiting for another process' records."""
    logger = logging.getLogger("recyclable")
    watch = LogWatch("waiting for another process")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(watch)
    yield watch
    logger.removeHandler(watch)
    logger.setLevel(old_level)
