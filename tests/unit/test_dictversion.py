"""Dict version tags: read cheaply, they tell revalidation when to check entries again.

Revalidation of a code key skips the per-entry identity checks of a namespace
whose tag did not change; every test of what a rebinding does to a key runs
both with the tags and with them unavailable (every entry checked on every call).
"""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator
from typing import Any

import pytest

from recyclable import dictversion
from recyclable.dictversion import DictVersions, backing_dict, versions_available

BASE = """
from recyclable import recyclable

SCALE = 2

def trim(x):
    return x - 1

@recyclable
def step(x):
    return len([x]) + trim(x) * SCALE
"""


@pytest.fixture(params=["tags", "no tags"])
def module(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh user module holding BASE, its identity made with or without version tags."""
    if request.param == "no tags":
        monkeypatch.setattr(dictversion, "_offset", None)
        monkeypatch.setattr(dictversion, "_probed", True)
    name = f"dictversion_module_{id(object())}"
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    exec(textwrap.dedent(BASE), mod.__dict__)
    try:
        yield mod
    finally:
        del sys.modules[name]


def _key(step: Any, *args: Any) -> str:
    spec = step.__recyclable__
    return spec.key_for(spec.bind(args, {})).key


needs_tags = pytest.mark.skipif(
    not versions_available(),
    reason="dict version tags are read on CPython 3.6-3.13 only; elsewhere every entry is checked",
)


@needs_tags
def test_every_kind_of_change_changes_the_tag() -> None:
    """Adding, replacing, deleting, updating and clearing each give the dict a new tag; reading
    it does not."""
    d: dict[str, Any] = {"a": 1}
    versions = DictVersions([d])
    seen = versions.now()
    _ = d["a"], d.get("b"), list(d)
    assert versions.now() == seen
    for change in (
        lambda: d.__setitem__("b", 2),
        lambda: d.__setitem__("b", object()),
        lambda: d.__delitem__("b"),
        lambda: d.update(c=3),
        lambda: d.setdefault("e", 4),
        lambda: d.pop("e"),
        d.clear,
    ):
        change()
        assert versions.now() != seen, change
        seen = versions.now()


@needs_tags
def test_versions_cannot_be_copied_or_pickled() -> None:
    """A copy would read memory of its own whose tag never changes (every check skipped):
    copying and pickling are refused."""
    import copy
    import pickle

    versions = DictVersions([{"a": 1}])
    with pytest.raises(TypeError, match="cannot be copied"):
        copy.copy(versions)
    with pytest.raises(TypeError, match="cannot be copied"):
        pickle.dumps(versions)


@needs_tags
def test_a_class_namespace_is_versioned_through_its_proxy() -> None:
    """A class's __dict__ (a mapping proxy) is backed by the dict whose tag setattr changes."""

    class Holder:
        value = 1

    backing = backing_dict(Holder.__dict__)
    assert backing is not None and backing["value"] == 1
    versions = DictVersions([backing])
    seen = versions.now()
    Holder.value = 2
    assert versions.now() != seen
    assert backing_dict(types.MappingProxyType({"x": 1})) == {"x": 1}
    assert backing_dict(types.SimpleNamespace().__dict__) == {}


def test_another_global_assigned_keeps_the_key_and_a_later_rebind_is_seen(module: Any) -> None:
    """Assigning a global the step does not read keeps its key (entries checked again, all the
    same), and a rebinding of a global it does read after that is still a new key."""
    before = _key(module.step, 5)
    module.UNRELATED = [1]
    assert _key(module.step, 5) == before
    assert _key(module.step, 5) == before
    module.SCALE = 3
    assert _key(module.step, 5) != before
    module.SCALE = 2
    assert _key(module.step, 5) == before


def test_a_proxy_equal_to_the_helper_is_a_new_key(module: Any) -> None:
    """The tag says the namespace changed; the entries are then compared with `is`, so a
    wrapt proxy that compares equal to the helper it replaced still changes the key."""
    import wrapt

    before = _key(module.step, 5)
    proxy = wrapt.FunctionWrapper(module.trim, lambda wrapped, _i, args, kw: wrapped(*args) * 10)
    assert proxy == module.trim
    module.trim = proxy
    assert _key(module.step, 5) != before


def test_a_builtin_shadowed_by_a_global_is_a_new_key(module: Any) -> None:
    """A global defined later under a builtin's name the step uses (len) changes the key, and
    so does rebinding the builtin itself."""
    import builtins

    before = _key(module.step, 5)
    module.len = lambda items: 0
    assert _key(module.step, 5) != before
    del module.len
    assert _key(module.step, 5) == before
    original = builtins.len
    try:
        builtins.len = lambda items: 0
        assert _key(module.step, 5) != before
    finally:
        builtins.len = original
    assert _key(module.step, 5) == before
