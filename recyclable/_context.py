"""The ContextVar that holds the active pool.

A ContextVar rather than a thread-local: every thread starts with no pool, and
each asyncio task runs in a copy of its creator's context, so a pool entered in
one task or thread never leaks into another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recyclable.pool import Pool

active_pool: ContextVar[Pool | None] = ContextVar("recyclable_active_pool", default=None)

# Whether any pool was ever entered in this process, and what to tell when
# the first one is: the decorator skips reading `active_pool` at all while
# none ever was (see decorator.py), so the first entry must switch that off
# before the pool becomes active.  The lock orders that switch against the
# decorator setting its flag.
entry_lock = threading.Lock()
_entered = False
_entry_hooks: list[Callable[[], None]] = []


def ever_entered() -> bool:
    """True once any pool has been entered in this process (call with `entry_lock` held)."""
    return _entered


def on_first_entry(hook: Callable[[], None]) -> None:
    """Run ``hook`` (under `entry_lock`) when the first pool of the process is entered."""
    with entry_lock:
        if _entered:
            hook()
        else:
            _entry_hooks.append(hook)


def entering() -> None:
    """Called by `Pool.__enter__` before it sets `active_pool`."""
    global _entered  # noqa: PLW0603 - one process-wide fact, read under the lock
    if _entered:
        return
    with entry_lock:
        _entered = True
        for hook in _entry_hooks:
            hook()
        _entry_hooks.clear()


def current_pool() -> Pool | None:
    """Return the pool active in the current context, or None when recycling is off.

    Example:
        >>> import recyclable
        >>> recyclable.current_pool() is None
        True

    """
    return active_pool.get()
