"""Progress of a long ``recyclable cache`` tool, on stderr only.

A tool that runs longer than ``RECYCLABLE_PROGRESS_AFTER`` seconds (default
2) shows one line that is rewritten in place on a terminal::

    recyclable cache gc: reading entries in use 41,984 of 100,000 (3 s)

and cleared when the tool ends, so the terminal is left as the tool's own
output made it.  When stderr is not a terminal nothing is shown unless
``--progress`` asks, and then a line a second is written.  Progress never goes
to stdout, which scripts parse (``--json`` stays one clean document).
"""

from __future__ import annotations

import time
from typing import TextIO

from recyclable.progress import AFTER_VAR, StatusLine, _seconds_from_env
from recyclable.runtable import human_seconds

__all__ = ["ToolProgress"]

# Seconds between two updates: often enough to look alive on a terminal, a
# line a second in a log.
_TERMINAL_INTERVAL = 0.2
_LOG_INTERVAL = 1.0


class ToolProgress:
    """A `recyclable.scan.ProgressHook` showing a tool's progress on ``stream``.

    Args:
        tool: the tool's name, for the line.
        stream: where to show it (the command's stderr).
        forced: show it even when ``stream`` is not a terminal.
        after: seconds before the first line (default ``$RECYCLABLE_PROGRESS_AFTER`` or 2).

    """

    def __init__(
        self, tool: str, stream: TextIO, *, forced: bool = False, after: float | None = None
    ) -> None:
        self.tool = tool
        self.status = StatusLine(stream)
        self.enabled = forced or self.status.tty
        self.after = after if after is not None else _seconds_from_env(AFTER_VAR, 2.0)
        self.interval = _TERMINAL_INTERVAL if self.status.tty else _LOG_INTERVAL
        self.started = time.monotonic()
        self._due = self.started + self.after

    def __call__(self, what: str, done: int, total: int | None) -> None:
        """Show how far the tool got, if it has run long enough and a line is due."""
        if not self.enabled or self.status.closed:
            return
        now = time.monotonic()
        if now < self._due:
            return
        self._due = now + self.interval
        count = f"{done:,}" if total is None else f"{done:,} of {total:,}"
        self.status.show(
            f"recyclable cache {self.tool}: {what} {count} ({human_seconds(now - self.started)})"
        )

    def close(self) -> None:
        """Clear the line shown on a terminal."""
        self.status.clear()
