"""Probes for test_recycling_off_guard.py (not collected by the normal run: no ``test_`` prefix)."""

from __future__ import annotations

from recyclable import Cache, recyclable


@recyclable
def half(x: int) -> float:
    return x / 2


def test_claims_recycling_but_cannot_fail(cache: Cache) -> None:
    """Calls a step twice in a pool and checks only the value: passes with recycling off."""
    with cache.create_pool("p"):
        assert half(3) == half(3) == 1.5


def test_asserts_the_load(cache: Cache) -> None:
    """Checks that the second call was a load: fails with recycling off."""
    with cache.create_pool("p") as pool:
        half(3)
        half(3)
    assert pool.stats.loaded == 1
