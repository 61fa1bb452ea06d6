"""The ContextVar that holds the active pool.

A ContextVar rather than a thread-local: every thread starts with no pool, and
each asyncio task runs in a copy of its creator's context, so a pool entered in
one task or thread never leaks into another.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recyclable.pool import Pool

active_pool: ContextVar[Pool | None] = ContextVar("recyclable_active_pool", default=None)


def current_pool() -> Pool | None:
    """Return the pool active in the current context, or None when recycling is off.

    Example:
        >>> import recyclable
        >>> recyclable.current_pool() is None
        True

    """
    return active_pool.get()
