"""Which version of which distribution provides a module, for objects keyed by reference.

A builtin, a ufunc or a module-level singleton has no state of its own to
fingerprint: it is keyed by its module and qualified name, plus the version
of what provides it, so upgrading numpy (or Python) invalidates the calls
that were given ``np.sqrt``.  Code that no installed distribution provides
(the user's own modules) has no version here: it is keyed by name alone,
like any pickle reference.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
import threading

__all__ = ["provider_version"]

_versions: dict[str, str | None] = {}
_lock = threading.Lock()
_distributions: dict[str, list[str]] | None = None


def provider_version(module: str) -> str | None:
    """What provides ``module``: ``"python 3.11.7"``, ``"numpy 2.4.6"``, or None.

    The standard library and builtins give the Python version, an installed
    distribution's module its name and version, code no distribution
    provides None.
    """
    top = module.split(".", maxsplit=1)[0]
    try:
        return _versions[top]
    except KeyError:
        pass
    with _lock:
        found = _lookup(top)
        _versions[top] = found
    return found


def _lookup(top: str) -> str | None:
    global _distributions  # noqa: PLW0603 - one scan of the installed distributions per process
    if top in sys.stdlib_module_names or top in ("builtins", "_frozen_importlib"):
        return f"python {platform.python_version()}"
    try:
        # Most distributions are named after their top-level module (numpy,
        # pandas): asking for it by name is quick.
        return f"{top} {importlib.metadata.version(top)}"
    except (importlib.metadata.PackageNotFoundError, ValueError):
        pass
    if _distributions is None:
        # Scanning every installed distribution's file list is slow: once, lazily.
        _distributions = dict(importlib.metadata.packages_distributions())
    for name in _distributions.get(top, []):
        try:
            return f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None
