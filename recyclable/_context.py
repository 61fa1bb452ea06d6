"""The ContextVar that holds the active pool, and whether any context may hold one.

A ContextVar rather than a thread-local: every thread starts with no pool, and
each asyncio task runs in a copy of its creator's context, so a pool entered in
one task or thread never leaks into another.

Reading the ContextVar is most of what a decorated call costs when no pool is
active, so the decorator first asks a cheaper, process-wide question: could
*any* context hold an active pool right now?  Each ``with pool:`` creates an
`Activation`, which the entering context keeps (in the pool's stack of
previous pools) for as long as the pool is active in it.  Every copy of that
context -- an asyncio task created inside the block, a thread started with
``copy_context().run`` or `recyclable.bind` -- keeps the same object, so it
stays alive until the last context that may see the pool is gone, even after
the ``with`` that entered it has exited.  `live` holds the ids of the
activations alive: while it is empty, no context anywhere has a pool active
and a call needs no ContextVar read.  Membership is a set's ``add`` and
``discard``, each atomic, so no lock is taken, not even in ``__del__``.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recyclable.pool import Pool

active_pool: ContextVar[Pool | None] = ContextVar("recyclable_active_pool", default=None)

#: Ids of the activations some context may still hold (see the module docstring),
#: and any marker a caller adds to keep the read on for its own reason (the
#: decorator's once-per-process note).  Empty: no pool is active in any context.
live: set[int] = set()


class Activation:
    """One entry of a pool, kept alive by every context in which that pool may be active.

    Created by `Pool.__enter__` before the pool becomes active; its id leaves
    `live` when the last context holding it lets it go (CPython frees it at
    once; a context caught in a reference cycle keeps it until collected,
    which only costs those calls the ContextVar read).
    """

    __slots__ = ()

    # Bound once: __del__ may run at interpreter exit, after module globals are cleared.
    _discard = live.discard

    def __init__(self) -> None:
        live.add(id(self))

    def __del__(self) -> None:
        self._discard(id(self))


def current_pool() -> Pool | None:
    """Return the pool active in the current context, or None when recycling is off.

    Example:
        >>> import recyclable
        >>> recyclable.current_pool() is None
        True

    """
    return active_pool.get()
