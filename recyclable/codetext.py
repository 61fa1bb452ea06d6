"""What reached code says about itself, for code that reads it: docstrings, source, annotations.

Comments, docstrings, formatting and functions' annotations are left out of
a code key, so a cosmetic edit or a type hint still hits.  Code that reads
them (``helper.__doc__``, ``inspect.getdoc``, ``inspect.getsource``:
docstring grammars, generated help, source shown in a report;
``typing.get_type_hints``, ``inspect.signature``: conversion or validation
by annotation) behaves by them, so once any reached code reads one, the key
also covers it for everything reached.  Which readers a code object uses is
told by the names it loads, so a user method of the same name counts too (a
key covering more).
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Iterable
from typing import Any

import xxhash

from recyclable.codenames import qualified_name

__all__ = ["text_parts", "text_reads"]

_DOCSTRINGS = "docstrings"
_SOURCE = "source"
_ANNOTATIONS = "annotations"
# Names whose use reads reached code's text.
_READERS = {
    "__doc__": _DOCSTRINGS,
    "getdoc": _DOCSTRINGS,
    "getsource": _SOURCE,
    "getsourcelines": _SOURCE,
    "getcomments": _SOURCE,
    "findsource": _SOURCE,
    "__annotations__": _ANNOTATIONS,
    "get_type_hints": _ANNOTATIONS,
    "get_annotations": _ANNOTATIONS,
    "signature": _ANNOTATIONS,
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
    if _ANNOTATIONS in reads:  # a class's annotations are in its own part already
        functions = [o for o in objects if isinstance(o, types.FunctionType)]
        parts["annotations"] = _digest(f"{qualified_name(f)}={_annotations(f)}" for f in functions)
    return parts


def _annotations(func: types.FunctionType) -> str:
    """A function's annotations as text: classes by module and name, others by repr."""
    items = []
    for name, value in func.__annotations__.items():
        if isinstance(value, type):
            text = f"{value.__module__}.{value.__qualname__}"
        else:
            text = value if isinstance(value, str) else repr(value)
        items.append(f"{name}:{text}")
    return ",".join(items)


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):  # made by exec, or a builtin: its code is keyed anyway
        return "-"


def _digest(lines: Iterable[str]) -> bytes:
    return xxhash.xxh3_128_digest("\x00".join(lines).encode("utf-8", "surrogatepass"))
