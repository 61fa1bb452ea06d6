"""The --recycling-off guard (tests/conftest.py) fails on a test that cannot fail, and only then."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

PROBE = "tests/unit/guard_probe.py"


def _guard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--recycling-off", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_guard_fails_on_a_test_that_passes_with_recycling_off() -> None:
    """A recycling test that passes with recycling off fails the guard, and is named."""
    result = _guard(PROBE)
    assert result.returncode == 1, result.stdout
    named = f"PASSED WITH RECYCLING OFF (cannot fail): {PROBE}::test_claims_recycling"
    assert named in result.stdout
    assert "1 failed, 1 passed" in result.stdout  # test_asserts_the_load failed, as it must


def test_guard_passes_when_every_recycling_test_fails() -> None:
    """When every test not on the allow-list fails with recycling off, the guard succeeds."""
    result = _guard(f"{PROBE}::test_asserts_the_load")
    assert result.returncode == 0, result.stdout
    assert "every other test failed" in result.stdout
    plain = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PROBE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert plain.returncode == 0, plain.stdout  # both pass with recycling on
