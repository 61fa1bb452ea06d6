"""Properties of recyclable.Memory that must hold for every value: one key path, round trips."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from strategies import same, values

from recyclable import Memory
from recyclable.callkey import ActionSpec

RUNS: list[Any] = []


def echo(value: Any, label: str = "x") -> Any:
    RUNS.append(label)
    return value


_SPEC = ActionSpec(echo, name=None, plugin=None, version=None, ignore=())
_ROOT = Path(tempfile.mkdtemp(prefix="recyclable-memory-props-"))
_MEMORY = Memory(_ROOT / "cache")


def teardown_module() -> None:
    shutil.rmtree(_ROOT, ignore_errors=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_a_cached_call_keys_as_recyclable_and_round_trips(value: Any) -> None:
    """memory.cache(f)(v) is keyed exactly as @recyclable keys f(v); the loaded result equals v.

    Every spelling of the call (positional, keyword, default applied) is the same key.
    """
    cached = _MEMORY.cache(echo)
    key = _SPEC.key_for({"value": value, "label": "x"}).key
    assert cached._callkey((value,), {}).key == key
    assert cached._callkey((), {"value": value, "label": "x"}).key == key
    RUNS.clear()
    first = cached(value)
    loaded = cached(value=value, label="x")
    assert len(RUNS) <= 1, "the second spelling must load what the first stored"
    assert cached.check_call_in_cache(value)
    assert same(first, value)
    assert same(loaded, value)
