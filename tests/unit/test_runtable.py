"""The end-of-run table and pool.stats.as_dict(): nesting, states, times, sizes, totals."""

from __future__ import annotations

import json

import pytest

from recyclable import Cache, recyclable
from recyclable.runtable import MAX_ROWS, render_table


class Boom(RuntimeError):
    """Raised by a step on purpose."""


FAIL = {"on": False}


@recyclable
def make(n: int) -> list[int]:
    """A first step."""
    return list(range(n))


@recyclable
def total(values: list[int]) -> int:
    """A second step, fed by the first."""
    if FAIL["on"]:
        raise Boom("total failed")
    return sum(values)


@recyclable
def flow(n: int) -> int:
    """The enclosing action: runs make, then total."""
    return total(make(n))


def test_table_nests_steps_and_counts_only_real_steps(cache: Cache) -> None:
    """The enclosing action is a row with its steps indented under it, but is not counted."""
    pool = cache.create_pool("p")
    with pool:
        assert flow(5) == 10
    lines = pool.summary().splitlines()
    assert lines[0].split() == ["STEP", "STATE", "TIME", "SAVED", "SIZE"]
    assert lines[1].startswith("flow ") and "computed" in lines[1]
    assert lines[2].startswith("  make ") and lines[3].startswith("  total ")
    assert "0 loaded" in lines[4] and "2 computed" in lines[4]
    assert "not counted: flow, which ran them" in lines[4]
    # Columns line up: every row's state starts where the header's STATE does.
    column = lines[0].index("STATE")
    assert all(line[column - 2 : column] == "  " and line[column] != " " for line in lines[1:4])


def test_resumed_run_shows_loads_with_time_saved_and_failure_with_kept(cache: Cache) -> None:
    """A failed run says what was kept; its resume shows loaded steps with the time saved."""
    FAIL["on"] = True
    failed = cache.create_pool("p", reuse=True)
    try:
        with failed, pytest.raises(Boom):
            flow(7)
    finally:
        FAIL["on"] = False
    text = failed.summary(elapsed=3.5, failed=True)
    assert text.splitlines()[3].split()[:2] == ["total", "failed"]
    assert "1 computed" in text and "1 failed" in text
    assert "run failed after 3.50 s; 1 finished step(s) kept in pool p" in text

    # A new process's view: a fresh Cache object (one Cache keeps one Pool object per name,
    # whose stats and steps add up over the runs it sees).
    resumed = Cache(cache.path).create_pool("p", reuse=True)
    with resumed:
        assert flow(7) == 21
    data = resumed.stats.as_dict()
    states = {s["action"]: s["state"] for s in data["steps"]}
    assert states == {"flow": "computed", "make": "loaded", "total": "computed"}
    assert data["loaded"] == 1  # recycling happened
    make_row = next(line for line in resumed.summary().splitlines() if "make" in line)
    assert "loaded" in make_row and " B" in make_row  # its stored size
    json.dumps(data)  # the same data is JSON-able, as `recyclable run --json` prints it
    assert data["totals"]["loaded"] == 1 and data["totals"]["computed"] == 1


def test_many_steps_are_grouped_by_action(cache: Cache) -> None:
    """Past MAX_ROWS steps the table shows one row per action and state, with a count."""
    pool = cache.create_pool("p")
    with pool:
        for n in range(MAX_ROWS + 5):
            make(n)
        for n in range(3):
            make(n)
    text = render_table(pool)
    assert f"make ×{MAX_ROWS + 5}" in text
    assert "make ×3" in text and "loaded" in text
    assert len(text.splitlines()) == 4  # header, two groups, totals
