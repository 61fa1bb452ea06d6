"""Every spelling of the same bound call gives one key; dict order changes it."""

from __future__ import annotations

import inspect
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from recyclable import recyclable
from recyclable.callkey import ActionSpec


def _plain(a: Any, b: Any = 2, c: Any = 3, d: Any = None) -> None:
    """Four parameters, three with defaults."""


def _with_star(a: Any, b: Any = 2, *rest: Any, c: Any = 3, **extra: Any) -> None:
    """Positional-or-keyword, *args, keyword-only and **kwargs."""


SPEC = ActionSpec(_plain, name=None, plugin="props", version="1", ignore=())
STAR = ActionSpec(_with_star, name=None, plugin="props", version="1", ignore=())
NAMES = ["a", "b", "c", "d"]
small = st.one_of(
    st.integers(-3, 3), st.text(max_size=3), st.none(), st.lists(st.integers(), max_size=3)
)


def _spell(draw: st.DrawFn, values: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """One way of writing a call of these arguments: a positional prefix, the rest as keywords
    in a random order, defaults sometimes left out."""
    defaults = {"b": 2, "c": 3, "d": None}
    n_positional = draw(st.integers(0, 4))
    args = tuple(values[name] for name in NAMES[:n_positional])
    kwargs = {}
    for name in draw(st.permutations(NAMES[n_positional:])):
        if name in defaults and values[name] == defaults[name] and draw(st.booleans()):
            continue  # spelled by leaving the default out
        kwargs[name] = values[name]
    return args, kwargs


@st.composite
def two_spellings(draw: st.DrawFn) -> tuple[Any, Any, dict[str, Any]]:
    """Arguments (defaults drawn often) and two independent spellings of the call."""
    values = {
        "a": draw(small),
        "b": draw(st.one_of(st.just(2), small)),
        "c": draw(st.one_of(st.just(3), small)),
        "d": draw(st.one_of(st.none(), small)),
    }
    return _spell(draw, values), _spell(draw, values), values


@given(two_spellings())
def test_every_spelling_of_one_bound_call_has_one_key(
    case: tuple[Any, Any, dict[str, Any]],
) -> None:
    """Two spellings of the same bound call get one key, and bind as the signature does."""
    one, other, values = case
    keys = []
    for args, kwargs in (one, other):
        bound = SPEC.bind(args, kwargs)
        assert bound is not None
        reference = inspect.signature(_plain).bind(*args, **kwargs)
        reference.apply_defaults()
        assert bound == dict(reference.arguments) == values
        assert list(bound) == NAMES
        keys.append(SPEC.key_for(bound).key)
    assert keys[0] == keys[1]


@given(two_spellings(), st.sampled_from(NAMES))
def test_another_value_is_another_key(case: tuple[Any, Any, dict[str, Any]], name: str) -> None:
    """Changing any one argument's value changes the key, however the call is spelled."""
    (args, kwargs), _, values = case
    changed = {**values, name: ("changed", values[name])}
    assert SPEC.key_for(SPEC.bind(args, kwargs)) != SPEC.key_for(SPEC.bind((), changed))


@given(st.dictionaries(st.sampled_from("wxyz"), st.integers(0, 3), max_size=4), small)
def test_kwargs_order_is_kept_other_keywords_are_not(extra: dict[str, Any], a: Any) -> None:
    """With **kwargs, moving a named parameter around keeps the key; reordering the extra
    keywords changes it exactly when their order changes."""
    forward = STAR.key_for(STAR.bind((), {"a": a, "c": 5, **extra}))
    moved = STAR.key_for(STAR.bind((), {**extra, "c": 5, "a": a}))
    assert forward == moved
    reordered = dict(reversed(list(extra.items())))
    backward = STAR.key_for(STAR.bind((), {"a": a, "c": 5, **reordered}))
    assert (forward == backward) == (list(reordered) == list(extra))


def test_decorated_spellings_share_a_key() -> None:
    """The decorator binds through the same spec: a keyword call and a positional one agree."""
    spec = recyclable(_plain).__recyclable__
    assert spec.key_for(spec.bind((1,), {"d": 4})) == spec.key_for(spec.bind((1, 2, 3, 4), {}))
