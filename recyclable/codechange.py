"""Saying which part of a step's code key changed, in words.

Part names are those of `recyclable.codeid` (``code pkg.util.trim``,
``constant pkg.conf.SCALE``, ...); a stored manifest keeps the digest of each,
so a miss can name "code of pkg.util.trim changed" or "module constant
pkg.conf.SCALE changed" instead of only "the code changed".
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["describe_code_change", "describe_part"]

# How many changed parts an explanation names before it summarises the rest.
_NAMED = 6

_LABELS = {
    "code": "code of",
    "class": "class",
    "module": "module",
    "constant": "module constant",
    "attribute": "class attribute",
    "value": "value",
    "dependency": "installed",
    "extension": "compiled extension module",
    "state": "state written by the step:",
    "unkeyed": "value left out of the key",
}


def describe_part(name: str, change: str = "changed") -> str:
    """One part in words, e.g. ``"code of pkg.util.trim changed"``."""
    kind, _, what = name.partition(" ")
    if kind == "python":
        return f"Python version {change}"
    if kind in ("docstrings", "source", "annotations") and not what:  # read (`codetext`)
        return f"{kind} of the reached code {change}"
    if kind in ("closure", "default"):
        owner, _, var = what.rpartition(" ")
        role = "closure value" if kind == "closure" else "default"
        return f"{role} {var} of {owner} {change}"
    label = _LABELS.get(kind)
    return f"{label} {what} {change}" if label else f"{name} {change}"


def describe_code_change(action: str, stored: Mapping[str, str], current: Mapping[str, str]) -> str:
    """Why the code part of ``action``'s key differs from a stored call's.

    Args:
        action: the action's name.
        stored: part name → hex digest, as in the stored manifest (own part first).
        current: part name → hex digest now (own part first).

    """
    own = next(iter(current), None)
    details = []
    for name in current:
        if name not in stored:
            details.append(describe_part(name, "is new"))
        elif stored[name] != current[name]:
            details.append(describe_part(name))
    for name in stored:
        if name not in current:
            details.append(describe_part(name, "is no longer reached"))
    own_changed = own is not None and own in stored and stored[own] != current[own]
    if not details or (own_changed and len(details) == 1):
        return f"code of {action} changed"
    shown = details[:_NAMED]
    if len(details) > _NAMED:
        shown.append(f"and {len(details) - _NAMED} more")
    return f"code of {action} changed ({'; '.join(shown)})"
