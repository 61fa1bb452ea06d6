"""The module name a script's ``__main__`` stands for, so every entry point keys it alike.

``python pipeline.py`` runs the file as ``__main__``; ``recyclable run
pipeline.py:analyze`` imports the same file as module ``pipeline``; ``python -m
pkg.pipeline`` runs it as ``__main__`` with ``__spec__.name == "pkg.pipeline"``.
Keys and stored results name a ``__main__`` object by the module the script
is (`main_module_name`), so the three share entries, and loading maps that
name back to ``__main__`` in a process where the script is the main program.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["main_module_name", "module_name", "runs_as_script"]

_MAIN = "__main__"


_last: tuple[Any, Any, Any, str] | None = None


def main_module_name() -> str:
    """The name the main program would have as an imported module.

    ``__main__.__spec__.name`` when started with ``-m``; otherwise the file
    name's stem; ``"__main__"`` for an interactive session (no file).
    """
    global _last  # noqa: PLW0603 - a one-entry memo: every load asks, __main__ rarely changes
    main = sys.modules.get(_MAIN)
    spec = getattr(main, "__spec__", None)
    file = getattr(main, "__file__", None)
    last = _last
    if last is not None and last[0] is main and last[1] is spec and last[2] is file:
        return last[3]
    name = getattr(spec, "name", None)
    if not (isinstance(name, str) and name and name != _MAIN):
        if isinstance(file, str) and file:
            name = os.path.splitext(os.path.basename(file))[0]
        else:
            name = _MAIN
    _last = (main, spec, file, name)
    return name


def module_name(module: str) -> str:
    """``module``, with ``"__main__"`` replaced by the main program's module name."""
    return main_module_name() if module == _MAIN else module


def runs_as_script(module: str) -> bool:
    """True when ``module`` names the main program and no module of that name is imported."""
    return module != _MAIN and module == main_module_name() and module not in sys.modules
