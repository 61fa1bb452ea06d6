"""Properties of fingerprints and keys that must hold for every input."""

from __future__ import annotations

import copy
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import same, values

from recyclable import Cache
from recyclable.fingerprint import fingerprint, unordered_digest

HERE = Path(__file__).resolve().parent


@given(values)
def test_equal_values_equal_digests(value: Any) -> None:
    """A deep copy and a pickle round-trip of a value fingerprint the same as the value."""
    digest = fingerprint(value)
    assert fingerprint(copy.deepcopy(value)) == digest
    assert fingerprint(pickle.loads(pickle.dumps(value))) == digest


@given(st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), values, max_size=8))
def test_dict_insertion_order_is_keyed(mapping: dict[Any, Any]) -> None:
    """Reordering a dict's items changes its digest (the order is observable) but not its
    order-free digest; re-inserting in the same order changes neither."""
    reordered = dict(reversed(list(mapping.items())))
    assert unordered_digest(reordered) == unordered_digest(mapping)
    assert fingerprint(dict(list(mapping.items()))) == fingerprint(mapping)
    if list(reordered) != list(mapping):
        assert fingerprint(reordered) != fingerprint(mapping)


@given(st.lists(values, min_size=2, max_size=4, unique_by=fingerprint))
def test_list_order_matters(items: list[Any]) -> None:
    """Lists and tuples keep their order: a rotation of distinct items is a different value."""
    rotated = items[1:] + items[:1]
    assert fingerprint(rotated) != fingerprint(items)
    assert fingerprint(tuple(items)) != fingerprint(items)


@given(st.integers())
def test_distinct_types_distinct_digests(number: int) -> None:
    """The same number as int, float, bool, str, bytes, one-element list and tuple all differ."""
    forms: list[Any] = [
        number,
        float(number),
        str(number),
        str(number).encode(),
        [number],
        (number,),
    ]
    forms.append(np.int64(number) if -(2**63) <= number < 2**63 else complex(number))
    if number in (0, 1):
        forms.append(bool(number))
    digests = [fingerprint(form) for form in forms]
    assert len(set(digests)) == len(forms)


@given(values, values)
def test_different_values_different_digests(a: Any, b: Any) -> None:
    """Values that are not the same structurally never share a digest."""
    if not same(a, b):
        assert fingerprint(a) != fingerprint(b)


@given(values)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_stored_results_round_trip(value: Any) -> None:
    """Whatever an action returns is loaded back equal, with the same types and dtypes."""
    from pipeline_actions import identity

    with tempfile.TemporaryDirectory() as tmp:
        pool = Cache(Path(tmp) / "c").create_pool("p")
        with pool:
            computed = identity(value)
            loaded = identity(value)
        assert pool.stats.loaded == 1
        assert same(loaded, value)
        assert same(computed, value)
