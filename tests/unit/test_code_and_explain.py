"""Code awareness (cosmetic edits keep keys, helper edits change them) and miss explanations."""

from __future__ import annotations

import importlib
import linecache
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from recyclable import Cache, recyclable

BASE = '''
from recyclable import recyclable


def trim(values, limit):
    return [v for v in values if v <= limit]


def unrelated():
    return 0


@recyclable
def denoise(values, limit=10):
    """Drop values above the limit."""
    return sorted(trim(values, limit))
'''


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A throw-away plugin package on sys.path, whose module the test rewrites."""
    name = f"plugin_{tmp_path.name.replace('-', '_')}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        yield package / "steps.py", name
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


def _load(path: Path, package: str, source: str) -> ModuleType:
    path.write_text(textwrap.dedent(source))
    linecache.clearcache()
    module_name = f"{package}.steps"
    if module_name in sys.modules:
        return importlib.reload(sys.modules[module_name])
    return importlib.import_module(module_name)


def _key(module: ModuleType, *args: object) -> str:
    spec = module.denoise.__recyclable__
    return spec.key_for(spec.bind(args, {})).key


def test_cosmetic_edits_keep_the_key(plugin: tuple[Path, str]) -> None:
    """Comments, docstrings, blank lines and formatting do not change the key."""
    path, package = plugin
    before = _key(_load(path, package, BASE), [1, 20])
    cosmetic = BASE.replace('"""Drop values above the limit."""', '"""Another docstring."""')
    cosmetic = cosmetic.replace(
        "return sorted(trim(values, limit))",
        "# a comment\n    return sorted( trim( values,limit ) )",
    )
    cosmetic = cosmetic.replace("def unrelated():\n    return 0", "def unrelated():\n    return 1")
    assert _key(_load(path, package, cosmetic), [1, 20]) == before


def test_code_and_helper_edits_change_the_key(plugin: tuple[Path, str]) -> None:
    """Editing the action or a helper it calls changes the key."""
    path, package = plugin
    before = _key(_load(path, package, BASE), [1, 20])
    own = BASE.replace("return sorted(trim(values, limit))", "return list(trim(values, limit))")
    helper = BASE.replace("if v <= limit", "if v < limit")
    assert _key(_load(path, package, own), [1, 20]) != before
    assert _key(_load(path, package, helper), [1, 20]) != before
    assert _key(_load(path, package, BASE), [1, 20]) == before


def test_explain_code_and_helper_changes(plugin: tuple[Path, str], cache: Cache) -> None:
    """explain() names the changed action code, and the helper when only a helper changed."""
    path, package = plugin
    pool = cache.create_pool("p")
    module = _load(path, package, BASE)
    with pool:
        module.denoise([1, 20])
    assert pool.explain(module.denoise, [1, 20]) == "stored: the call would be loaded"

    module = _load(path, package, BASE.replace("if v <= limit", "if v < limit"))
    assert pool.explain(module.denoise, [1, 20]) == (
        f"code of denoise changed (code of {package}.steps.trim changed)"
    )

    module = _load(path, package, BASE.replace("sorted(trim", "list(trim"))
    assert pool.explain(module.denoise, [1, 20]) == "code of denoise changed"


CALLS: list[str] = []


@recyclable
def denoise(reads: list[int], min_quality: int = 20) -> list[int]:
    CALLS.append("denoise")
    return [r for r in reads if r >= min_quality]


@recyclable(version="1", name="pinned")
def pinned_v1(x: int) -> int:
    return x


@recyclable(version="2", name="pinned")
def pinned_v2(x: int) -> int:
    return x


def test_explain_arguments(cache: Cache) -> None:
    """explain() says new call, which argument changed, or that the call is stored."""
    pool = cache.create_pool("p")
    assert pool.explain(denoise, [10, 30]).startswith("new call")
    with pool:
        denoise([10, 30])
    assert pool.explain(denoise, [10, 30]) == "stored: the call would be loaded"
    assert pool.explain(denoise, [10, 30], min_quality=20) == "stored: the call would be loaded"
    assert pool.explain(denoise, [10, 30], min_quality=25) == "argument 'min_quality' changed"
    assert pool.explain(denoise, [10, 31], 25) == (
        "argument 'reads' changed; argument 'min_quality' changed"
    )


def test_explain_version_change(cache: Cache) -> None:
    """A pinned version that changed is named as such."""
    pool = cache.create_pool("p")
    with pool:
        pinned_v1(1)
    assert pool.explain(pinned_v2, 1) == "version of pinned changed (1 → 2)"


def test_explain_library_format_change(cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries written under another key schema are reported as a library format change."""
    import recyclable.poolwrite as write_module
    from recyclable.fingerprint import SCHEMA_VERSION as current

    pool = cache.create_pool("p")
    monkeypatch.setattr(write_module, "SCHEMA_VERSION", 0)  # what the writer records
    with pool:
        denoise([5])
    monkeypatch.undo()
    import recyclable.callkey as callkey_module

    monkeypatch.setattr(callkey_module, "SCHEMA_VERSION", current + 1)
    fresh = recyclable(name="denoise")(denoise.__wrapped__)
    assert pool.explain(fresh, [5]) == f"library format changed (key schema 0 → {current})"


def test_explain_bad_arguments(cache: Cache) -> None:
    """explain() on a plain function or with arguments that do not fit is a clear TypeError."""
    pool = cache.create_pool("p")
    with pytest.raises(TypeError, match="expects a @recyclable function, got builtin_function"):
        pool.explain(len, [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="do not fit denoise"):
        pool.explain(denoise, [1], nope=2)


def test_miss_reason_is_logged(cache: Cache, caplog: pytest.LogCaptureFixture) -> None:
    """With INFO logging on, a miss logs why and a hit logs where it came from."""
    caplog.set_level("INFO", logger="recyclable")
    with cache.create_pool("p"):
        denoise([1, 50])
        denoise([1, 50], min_quality=40)
        denoise([1, 50], min_quality=40)
    messages = [r.getMessage() for r in caplog.records]
    assert any("computing denoise" in m and "new call" in m for m in messages)
    assert any("computing denoise" in m and "argument 'min_quality' changed" in m for m in messages)
    assert any(m.startswith("loaded denoise") and "pool p" in m for m in messages)
    assert any(m.startswith("stored denoise") for m in messages)


def test_installed_dependency_versions_are_part_of_the_code(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Code from another distribution counts by its installed version: an upgrade is a miss."""
    import numpy as np

    import recyclable.distinfo as distinfo

    def normalise(values: list[float]) -> list[float]:
        total = np.sum(values)
        return [v / total for v in values]

    parts = recyclable(name="normalise")(normalise).__recyclable__.code_parts
    assert "dependency numpy" in parts
    pool = cache.create_pool("p")
    with pool:
        recyclable(name="normalise")(normalise)([1.0, 3.0])

    monkeypatch.setitem(distinfo._origins, "numpy", distinfo.Origin("dist", "numpy 0.0.1", "numpy"))
    upgraded = recyclable(name="normalise")(normalise)
    assert (
        pool.explain(upgraded, [1.0, 3.0]) == "code of normalise changed (installed numpy changed)"
    )
