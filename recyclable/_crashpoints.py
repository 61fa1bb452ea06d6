"""Named points of the write protocol where the test suite can kill a writer.

Nothing in a normal installation arms them: no environment variable, file or
option is read here.  The test suite's child processes set `hook` (see
``tests/crash_hook.py``) before they store anything; with `hook` left None,
which it always is otherwise, a crash point costs one global lookup.
"""

from __future__ import annotations

from collections.abc import Callable

#: Called with the point's name (``mid-blob``, ``after-blob``, ``after-marker``,
#: ``before-publish``, ``after-publish``) each time the store reaches it.
hook: Callable[[str], None] | None = None


def crash_point(name: str) -> None:
    """Call `hook` with ``name`` when one is installed; do nothing otherwise."""
    if hook is not None:
        hook(name)
