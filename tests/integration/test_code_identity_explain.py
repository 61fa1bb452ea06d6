"""What explain says about parts a step reaches but its key leaves out, and ufunc arguments."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from recyclable import Cache, recyclable


@recyclable
def reads_mode(x: int) -> int:
    """A step whose result depends on an environment variable (not in a key)."""
    return x + len(os.environ.get("RECYCLABLE_TEST_MODE", ""))


@recyclable
def apply(func: object, x: float) -> float:
    """A step that takes a numpy ufunc as an argument."""
    return float(func(x, 2.0))  # type: ignore[operator]


def test_explain_of_a_hit_names_the_environment(tmp_path: Path) -> None:
    """Explaining a call that would load says it reads environment variables left out of the key."""
    pool = Cache(tmp_path).create_pool("p", reuse=True)
    with pool:
        reads_mode(1)
        reads_mode(1)
        assert pool.stats.loaded == 1
        assert "os.environ" in pool.explain(reads_mode, 1)


def test_explain_of_a_miss_gives_the_environment_reason(tmp_path: Path) -> None:
    """A miss of a step that reads os.environ says environment variables are not in a key."""
    pool = Cache(tmp_path).create_pool("p", reuse=True)
    with pool:
        reads_mode(1)
        text = pool.explain(reads_mode, 2)
    assert "argument 'x' changed" in text
    assert "environment variables are not in a key" in text
    assert "cannot be fingerprinted): os.environ" not in text


def test_numpy_ufunc_as_an_argument(tmp_path: Path) -> None:
    """np.add and np.multiply as arguments are two keys, and each loads the second time."""
    pool = Cache(tmp_path).create_pool("p", reuse=True)
    with pool:
        first = [apply(np.add, 3.0), apply(np.multiply, 3.0)]
        again = [apply(np.add, 3.0), apply(np.multiply, 3.0)]
    assert first == again == [5.0, 6.0]
    assert (pool.stats.computed, pool.stats.loaded) == (2, 2)
