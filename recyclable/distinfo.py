"""Where a module's code comes from: user code, the standard library, or an installed distribution.

The code part of a key follows user code by content and counts everything
else by name and version (see `recyclable.codeid`).  This module answers "is
this module user code?" and "which distribution, at which version?" from the
module's file, lazily and once per module per process:

* the standard library and built-in modules: ``python <implementation> <version>``;
* a file inside a ``sys.path`` directory that holds a ``*.dist-info`` whose
  ``RECORD`` lists that file, and whose ``direct_url.json`` does not mark it
  editable: ``<distribution name> <version>``;
* anything else — a script, modules beside it, an editable install (its files
  live outside the directory of its metadata), a module with no file — is user
  code.

``importlib.metadata.packages_distributions()`` would read the metadata of every
installed distribution (100–230 ms in a fresh process); here only the
directory a module was imported from is looked at, and usually only the one
``*.dist-info`` directory named after the module's top-level package.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import platform
import re
import sys
import sysconfig
import types
from dataclasses import dataclass
from pathlib import Path

import xxhash

__all__ = ["Origin", "extension_digest", "module_origin", "python_identity"]


@dataclass(frozen=True)
class Origin:
    """Where a module's code comes from.

    Attributes:
        kind: ``"user"`` (followed by content), ``"stdlib"`` or ``"dist"``.
        label: for ``"dist"``, ``"<name> <version>"``; for ``"stdlib"``, the Python identity.
        name: for ``"dist"``, the distribution's name; empty otherwise.

    """

    kind: str
    label: str = ""
    name: str = ""


_USER = Origin("user")
_origins: dict[str, Origin] = {}
# Per sys.path directory: top-level name -> dist-info paths named after it, filled lazily.
_owners: dict[str, dict[str, list[Path]]] = {}
_full_index: dict[str, dict[str, list[Path]]] = {}
_dist_infos: dict[str, list[str]] = {}
_dist_labels: dict[Path, Origin | None] = {}


def python_identity() -> str:
    """The interpreter that stands for the standard library's code: implementation and version."""
    return f"python {platform.python_implementation().lower()} {platform.python_version()}"


def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {os.path.realpath(paths[name]) for name in ("stdlib", "platstdlib") if name in paths}
    return tuple(sorted(dirs))


_STDLIB_DIRS = _stdlib_dirs()


def module_origin(name: str) -> Origin:
    """The origin of the module ``name`` (imported or not); user code when it cannot be told."""
    found = _origins.get(name)
    if found is None:
        found = _origins[name] = _find_origin(name)
    return found


def _find_origin(name: str) -> Origin:
    top = name.partition(".")[0]
    if top == "recyclable":
        from recyclable import __version__

        return Origin("dist", f"recyclable {__version__}", "recyclable")
    if name in sys.builtin_module_names or top in ("builtins", "__future__"):
        return Origin("stdlib", python_identity())
    module = sys.modules.get(name)
    if name == "__main__" or not isinstance(module, types.ModuleType):
        return _USER
    file = getattr(module, "__file__", None)
    if not isinstance(file, str):
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.origin in ("built-in", "frozen"):
            return Origin("stdlib", python_identity())
        return _USER  # namespace packages, modules made at run time: follow them
    path = os.path.realpath(file)
    installed = _installed_origin(top, path)
    if installed is not None:
        return installed
    if top in sys.stdlib_module_names and _under(path, _STDLIB_DIRS):
        return Origin("stdlib", python_identity())
    return _USER


def _under(path: str, dirs: tuple[str, ...]) -> bool:
    return any(path.startswith(d + os.sep) for d in dirs)


def _installed_origin(top: str, path: str) -> Origin | None:
    """The distribution that installed ``path`` (a file of top-level package ``top``), if any."""
    # The sys.path directory the module was imported from holds the top-level
    # package (or module) directly.
    parts = Path(path).parts
    for index in range(len(parts) - 1, 0, -1):
        stem = parts[index]
        if stem == top or stem.split(".")[0] == top:
            root = str(Path(*parts[:index]))
            relative = "/".join(parts[index:])
            origin = _listing(_named_after(root, top), relative)
            if origin is None and _dist_infos.get(root):
                # Another distribution's name (PyYAML → yaml), or a namespace
                # package several distributions share (google.*).
                origin = _listing(_index(root, _dist_infos[root]).get(top, []), relative)
            if origin is not None:
                return origin
    return None


def _listing(candidates: list[Path], relative: str) -> Origin | None:
    """The origin of the installed (non-editable) candidates whose RECORD lists the file.

    Two dist-info directories of one distribution left side by side (an
    interrupted upgrade) both count, so that the version that changed is seen.
    """
    found = []
    for dist in candidates:
        origin = _dist_origin(dist)
        if origin is not None and _record_lists(dist, relative):
            found.append(origin)
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    label = " + ".join(sorted(origin.label for origin in found))
    return Origin("dist", label, found[0].name)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _named_after(root: str, top: str) -> list[Path]:
    """The ``*.dist-info`` directories in ``root`` named after top-level ``top``."""
    owners = _owners.setdefault(root, {})
    if top in owners:
        return owners[top]
    wanted = _normalise(top)
    entries = _dist_infos.get(root)
    if entries is None:
        try:
            entries = sorted(e for e in os.listdir(root) if e.endswith(".dist-info"))
        except OSError:
            entries = []
        _dist_infos[root] = entries
    # Usually the distribution is named after its top-level package.
    found = [
        Path(root, entry)
        for entry in entries
        if _normalise(entry[: -len(".dist-info")].rsplit("-", 1)[0]) == wanted
    ]
    owners[top] = found
    return found


def _index(root: str, entries: list[str]) -> dict[str, list[Path]]:
    """Top-level name -> dist-infos providing it, for every distribution in ``root`` (once)."""
    index = _full_index.get(root)
    if index is None:
        index = {}
        for entry in sorted(entries):
            dist = Path(root, entry)
            for top in _top_levels(dist):
                index.setdefault(top, []).append(dist)
        _full_index[root] = index
    return index


def _top_levels(dist: Path) -> set[str]:
    try:
        return set((dist / "top_level.txt").read_text().split())
    except OSError:
        pass
    tops: set[str] = set()
    try:
        record = (dist / "RECORD").read_text()
    except OSError:
        return tops
    for line in record.splitlines():
        first = line.split(",", 1)[0].split("/", 1)[0]
        if first and not first.endswith((".dist-info", ".data")) and ".." not in first:
            tops.add(first.split(".")[0])
    return tops


def _dist_origin(dist: Path) -> Origin | None:
    """``name version`` of a dist-info directory; None for an editable install."""
    if dist in _dist_labels:
        return _dist_labels[dist]
    origin: Origin | None = None
    try:
        direct = json.loads((dist / "direct_url.json").read_text())
        editable = bool(direct.get("dir_info", {}).get("editable"))
    except (OSError, ValueError, AttributeError):
        editable = False
    if not editable:
        name = version = None
        try:
            with open(dist / "METADATA", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    key, _, value = line.partition(":")
                    if key.lower() == "name":
                        name = value.strip()
                    elif key.lower() == "version":
                        version = value.strip()
        except OSError:
            pass
        if name and version:
            origin = Origin("dist", f"{name} {version}", name)
    _dist_labels[dist] = origin
    return origin


_records: dict[Path, str] = {}


def _record_lists(dist: Path, relative: str) -> bool:
    """Whether the distribution's RECORD lists the file (installed, not an edited checkout)."""
    record = _records.get(dist)
    if record is None:
        try:
            record = _records[dist] = "\n" + (dist / "RECORD").read_text()
        except OSError:
            return False
    return f"\n{relative}," in record


_EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
_extension_digests: dict[str, str | None] = {}


def extension_digest(name: str) -> str | None:
    """For a compiled extension module of user code, the digest of its binary; else None.

    A C extension beside a script (not an installed distribution) has no
    bytecode to fingerprint: its file's content stands for its code.  Read
    once per process, when a key first needs it.
    """
    if name in _extension_digests:
        return _extension_digests[name]
    found: str | None = None
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if (
        isinstance(file, str)
        and file.endswith(_EXTENSION_SUFFIXES)
        and module_origin(name).kind == "user"
    ):
        try:
            with open(file, "rb") as handle:
                found = xxhash.xxh3_128_hexdigest(handle.read())
        except OSError:
            found = f"unreadable {os.urandom(8).hex()}"  # a miss, never a stale hit
    _extension_digests[name] = found
    return found
