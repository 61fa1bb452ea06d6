"""The text of reached code, for code that reads it: docstrings and source.

Comments, docstrings and formatting are left out of a code key, so a
cosmetic edit still hits.  Code that reads that text (``helper.__doc__``,
``inspect.getdoc``, ``inspect.getsource``: docstring grammars, generated
help, source shown in a report) behaves by it, so once any reached code reads
it, the key also covers the docstrings, or the source, of everything
reached.  Which readers a code object uses is told by the names it loads,
so a user method of the same name counts too (a key covering more).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import xxhash

from recyclable.codenames import qualified_name

__all__ = ["text_parts", "text_reads"]

_DOCSTRINGS = "docstrings"
_SOURCE = "source"
# Names whose use reads reached code's text.
_READERS = {
    "__doc__": _DOCSTRINGS,
    "getdoc": _DOCSTRINGS,
    "getsource": _SOURCE,
    "getsourcelines": _SOURCE,
    "getcomments": _SOURCE,
    "findsource": _SOURCE,
}


def text_reads(names: Iterable[str]) -> set[str]:
    """Which text (``docstrings``, ``source``) code loading these names reads."""
    return {_READERS[name] for name in names if name in _READERS}


def text_parts(reads: set[str], objects: list[Any]) -> dict[str, bytes]:
    """The parts for the text ``reads`` asks for, over reached functions and classes."""
    parts = {}
    if _DOCSTRINGS in reads:
        parts["docstrings"] = _digest(f"{qualified_name(o)}={o.__doc__!r}" for o in objects)
    if _SOURCE in reads:
        parts["source"] = _digest(f"{qualified_name(o)}={_source(o)}" for o in objects)
    return parts


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):  # made by exec, or a builtin: its code is keyed anyway
        return "-"


def _digest(lines: Iterable[str]) -> bytes:
    return xxhash.xxh3_128_digest("\x00".join(lines).encode("utf-8", "surrogatepass"))
