"""A value's digest as first computed in this process, for the code walk.

Keyed by identity, with the object held (weakly where its type allows) so
its id is not reused: a module-level list a step appends to keeps the digest
it had when the key was first needed, so it does not turn every later call
in the process into a miss.  Which values some reached code changes in place
is remembered here too, for every later walk (`mark_state`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["first_digest", "forget_digest", "is_state", "mark_state", "remember_digest"]

_digests: dict[int, tuple[Callable[[], Any], bytes]] = {}


def first_digest(obj: Any) -> bytes | None:
    """The digest remembered for ``obj`` in this process, or None."""
    found = _digests.get(id(obj))
    if found is not None and found[0]() is obj:
        return found[1]
    return None


def remember_digest(obj: Any, digest: bytes) -> None:
    """Keep a value's first digest for the process: weakly where the type allows, else held."""
    key = id(obj)
    try:
        ref: Callable[[], Any] = weakref.ref(obj, lambda _: _digests.pop(key, None))
    except TypeError:  # lists, dicts, ints: held (module-level values live as long anyway)

        def ref() -> Any:
            return obj

    _digests[key] = (ref, digest)


def forget_digest(obj: Any) -> None:
    """Forget ``obj``'s remembered digest: it changed in place, the next walk takes it anew."""
    found = _digests.get(id(obj))
    if found is not None and found[0]() is obj:
        del _digests[id(obj)]


# Values some reached code changes in place (a list one step appends to): the
# state of that code, keyed as first needed by every step that reads it too.
_state: dict[int, Callable[[], Any]] = {}


def mark_state(obj: Any) -> None:
    """Note that reached code changes ``obj`` in place (held weakly where the type allows)."""
    key = id(obj)
    try:
        ref: Callable[[], Any] = weakref.ref(obj, lambda _: _state.pop(key, None))
    except TypeError:

        def ref() -> Any:
            return obj

    _state[key] = ref


def is_state(obj: Any) -> bool:
    """Whether some reached code was seen changing ``obj`` in place in this process."""
    found = _state.get(id(obj))
    return found is not None and found() is obj
