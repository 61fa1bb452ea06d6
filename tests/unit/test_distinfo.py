"""Which distribution a module belongs to, found from its file."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from recyclable import distinfo


def _dist(site: Path, name: str, version: str, record: list[str], **files: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{line},,\n" for line in record))
    for filename, text in files.items():
        (info / ("top_level.txt" if filename == "top_level" else filename)).write_text(text)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A directory on sys.path holding installed-looking distributions; imports undone after."""
    root = tmp_path / "site"
    root.mkdir()
    sys.path.insert(0, str(root))
    before = set(sys.modules)
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in set(sys.modules) - before:
            del sys.modules[name]
        distinfo._origins.clear()


def test_installed_editable_renamed_and_local_modules(site: Path, tmp_path: Path) -> None:
    """RECORD-listed files are the distribution; editable or unlisted files are user code."""
    (site / "plainpkg").mkdir()
    (site / "plainpkg" / "__init__.py").write_text("")
    _dist(site, "plainpkg", "1.2", ["plainpkg/__init__.py"])
    (site / "yamlish").mkdir()
    (site / "yamlish" / "__init__.py").write_text("")
    _dist(site, "PyYamlish", "6.0", ["yamlish/__init__.py"], top_level="yamlish\n")
    (site / "devpkg").mkdir()
    (site / "devpkg" / "__init__.py").write_text("")
    _dist(
        site,
        "devpkg",
        "0.1",
        ["devpkg/__init__.py"],
        **{"direct_url.json": '{"url": "file:///x", "dir_info": {"editable": true}}'},
    )
    (site / "loose.py").write_text("")  # no metadata lists it
    for name in ("plainpkg", "yamlish", "devpkg", "loose"):
        importlib.import_module(name)
    assert distinfo.module_origin("plainpkg") == distinfo.Origin("dist", "plainpkg 1.2", "plainpkg")
    assert distinfo.module_origin("yamlish") == distinfo.Origin(
        "dist", "PyYamlish 6.0", "PyYamlish"
    )
    assert distinfo.module_origin("devpkg").kind == "user"
    assert distinfo.module_origin("loose").kind == "user"
    assert distinfo.module_origin("json").kind == "stdlib"
    assert distinfo.module_origin("__main__").kind == "user"


def test_two_dist_infos_of_one_distribution_both_count(site: Path) -> None:
    """An upgrade that left the old dist-info behind still changes the origin's label.

    Before, the first dist-info named after the package won, so 1.0's metadata
    left beside 2.0's kept the label "lefty 1.0": the upgrade was not a miss.
    """
    (site / "lefty").mkdir()
    (site / "lefty" / "__init__.py").write_text("")
    _dist(site, "lefty", "1.0", ["lefty/__init__.py"])
    importlib.import_module("lefty")
    assert distinfo.module_origin("lefty").label == "lefty 1.0"

    distinfo._origins.clear()
    distinfo._owners.clear()
    distinfo._dist_infos.clear()
    _dist(site, "lefty", "2.0", ["lefty/__init__.py"])
    origin = distinfo.module_origin("lefty")
    assert origin.kind == "dist"
    assert "lefty 2.0" in origin.label
    assert origin.label != "lefty 1.0"


def test_namespace_package_shared_by_two_distributions(site: Path) -> None:
    """Each module of a namespace package shared by two distributions has its own distribution.

    Before, the top-level index kept one distribution per top-level name, so the
    other distribution's modules were taken for user code and walked by content.
    """
    for dist, sub in (("nsx-alpha", "alpha"), ("nsx-beta", "beta")):
        (site / "nsx" / sub).mkdir(parents=True)
        (site / "nsx" / sub / "__init__.py").write_text("")
        _dist(site, dist, "3.1", [f"nsx/{sub}/__init__.py"], top_level="nsx\n")
    importlib.import_module("nsx.alpha")
    importlib.import_module("nsx.beta")
    for dist, sub in (("nsx-alpha", "alpha"), ("nsx-beta", "beta")):
        expected = distinfo.Origin("dist", f"{dist} 3.1", dist)
        assert distinfo.module_origin(f"nsx.{sub}") == expected
