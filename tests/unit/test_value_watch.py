"""Mutable values a step's code reads, changed in place between calls, in one process.

A driver sweeping a parameter (``config.PARAMS["k"] = k`` before each call)
changes what the next call computes without rebinding any name: each call
must compute with the value it sees, and a second sweep must load each.  What
a step does to a value itself (a memo it fills, a list of calls it appends
to) is its own state: it never makes the next call a miss, even when the step
also ran as a plain call in between (no pool, recycling switched off).
"""

from __future__ import annotations

from typing import Any

import pytest

from recyclable import Cache, recyclable

CONFIG = """
from recyclable import recyclable

PARAMS = {"k": 1, "inner": {"j": 1}}
ROWS = [1, 2]

class Settings:
    scale = 1

SETTINGS = Settings()

@recyclable
def step(x):
    return x * PARAMS["k"] + PARAMS["inner"]["j"] + sum(ROWS) + SETTINGS.scale
"""

MEMO = """
from recyclable import recyclable

MEMO = {}
CALLS = []

@recyclable
def step(x):
    CALLS.append(x)
    if x not in MEMO:
        MEMO[x] = x * 2
    return MEMO[x]

def make_counted():
    runs = []

    @recyclable
    def counted(x):
        runs.append(x)
        return x + len(TABLE)

    return counted, runs

TABLE = {"a": 1}
"""


def _plain(mod: Any, x: int) -> int:
    return int(mod.step.__wrapped__(x))


def test_values_changed_in_place_between_calls_are_new_keys(cache: Cache, module: Any) -> None:
    """A dict, a nested dict, a list and an instance changed between calls: each call computes
    what the plain call gives; the same sweep again loads every call."""
    mod = module.define(CONFIG)
    settings = [(2, 1, 1, 1), (2, 5, 1, 1), (2, 5, 9, 1), (2, 5, 9, 4), (1, 1, 1, 1)]

    def sweep() -> list[int]:
        got = []
        for k, j, row, scale in settings:
            mod.PARAMS["k"] = k
            mod.PARAMS["inner"]["j"] = j
            mod.ROWS[0] = row
            mod.SETTINGS.scale = scale
            value = mod.step(4)
            assert value == _plain(mod, 4), (k, j, row, scale)
            got.append(value)
        return got

    with cache.create_pool("p") as pool:
        first = sweep()
        assert (pool.stats.loaded, pool.stats.computed) == (0, 5)
        assert sweep() == first
        assert (pool.stats.loaded, pool.stats.computed) == (5, 5)


def test_what_the_step_changes_itself_keeps_its_key(
    cache: Cache, module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A memo the step fills and a list of calls it appends to (a module global, a closure)
    leave the key alone: calls load, also after plain calls with recycling off or no pool."""
    mod = module.define(MEMO)
    counted, runs = mod.make_counted()
    with cache.create_pool("p") as pool:
        assert (mod.step(1), mod.step(2), counted(1)) == (2, 4, 2)
        assert (pool.stats.loaded, pool.stats.computed) == (0, 3)
    assert (mod.step(1), counted(1)) == (2, 2)  # no pool: plain calls
    monkeypatch.setenv("RECYCLABLE_DISABLE", "1")
    with cache.pool("p"):
        assert (mod.step(3), counted(1)) == (6, 2)  # switched off: plain calls
    monkeypatch.delenv("RECYCLABLE_DISABLE")
    with cache.pool("p") as pool:
        before = (pool.stats.loaded, pool.stats.computed)
        assert (mod.step(1), mod.step(2), counted(1)) == (2, 4, 2)
        assert (pool.stats.loaded - before[0], pool.stats.computed - before[1]) == (3, 0)
    assert mod.CALLS == [1, 2, 1, 3]
    assert runs == [1, 1, 1]


def test_a_table_changed_by_the_driver_after_the_step_filled_it(cache: Cache, module: Any) -> None:
    """A value the step changes is its own; one it only reads, changed by the driver, is not."""
    mod = module.define(MEMO)
    counted, _ = mod.make_counted()
    with cache.create_pool("p") as pool:
        assert counted(1) == 2
        mod.TABLE["b"] = 2
        assert counted(1) == 3
        assert (pool.stats.loaded, pool.stats.computed) == (0, 2)


def test_a_nonlocal_counter_the_step_bumps_keeps_its_key(cache: Cache) -> None:
    """``nonlocal calls; calls += 1`` rebinds a closure cell on every call: the step's own
    state, so the same call loads (it was a miss every time), and another call computes."""
    calls = 0

    @recyclable
    def double(x: int) -> int:
        nonlocal calls
        calls += 1
        return x * 2

    with cache.create_pool("p") as pool:
        assert [double(1), double(1), double(2), double(1)] == [2, 2, 4, 2]
        assert (pool.stats.loaded, pool.stats.computed) == (2, 2)
    assert calls == 2


EXACT = """
from recyclable import recyclable

PARAMS = {"scale": 1, "rows": [0.0, 2]}

@recyclable
def step(x):
    return repr(x * PARAMS["scale"]) + repr([1 / r if r else r for r in PARAMS["rows"]])
"""


def test_changes_equal_values_would_hide_are_new_keys(cache: Cache, module: Any) -> None:
    """1 → 1.0 → True, 0.0 → -0.0 in a config's dict and list: equal by ==, different results.

    Each call must give what the plain call gives now; the same sweep again loads each.
    """
    mod = module.define(EXACT)
    settings = [(1, 0.0), (1.0, 0.0), (True, 0.0), (True, -0.0), (1, -0.0)]

    def sweep() -> list[str]:
        got = []
        for scale, first in settings:
            mod.PARAMS["scale"] = scale
            mod.PARAMS["rows"][0] = first
            value = mod.step(3)
            assert value == mod.step.__wrapped__(3), (scale, first)
            got.append(value)
        return got

    with cache.create_pool("p") as pool:
        first_sweep = sweep()
        assert (pool.stats.loaded, pool.stats.computed) == (0, len(settings))
        assert sweep() == first_sweep
        assert (pool.stats.loaded, pool.stats.computed) == (len(settings), len(settings))
