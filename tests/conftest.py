"""Fixtures shared by every test: a fresh cache; no pool or environment leaks between tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recyclable import Cache
from recyclable._context import active_pool
from recyclable.pool import _previous

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test starts with no active pool, recycling enabled and a private default cache."""
    monkeypatch.delenv("RECYCLABLE_DISABLE", raising=False)
    monkeypatch.setenv("RECYCLABLE_CACHE", str(tmp_path / "default-cache"))
    pool_token = active_pool.set(None)
    previous_token = _previous.set(())
    yield
    active_pool.reset(pool_token)
    _previous.reset(previous_token)


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    """A new, empty cache in the test's temporary directory."""
    return Cache(tmp_path / "cache")
