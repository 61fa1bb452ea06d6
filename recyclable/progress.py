"""Progress while a step runs: one updating line on a terminal, a line a minute in a log.

Nothing is printed unless asked for: the command line asks, and in Python
``pool.progress = True`` (stderr) or ``pool.progress = stream`` before
``with pool:`` starts a background timer thread for the time the pool is
active.  The thread wakes every second, finds the innermost step still
running and, once it has run for a few seconds, shows::

    recyclable: combine running for 1 min 5 s (took 12 min last time) · pipeline 3 min 2 s

"took ... last time" comes from the newest stored call of the same action in
the pool.  On a terminal the line is rewritten in place and cleared when the
step ends; anywhere else (a log file, a pipe) a line is written each time the
step passes another ``RECYCLABLE_PROGRESS_EVERY`` seconds (default 60).
``RECYCLABLE_PROGRESS_AFTER`` (default 2) is how long a step runs before a
terminal shows it.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from recyclable.manifest import ManifestError, load_manifest
from recyclable.runtable import human_seconds

if TYPE_CHECKING:
    from recyclable.pool import Pool
    from recyclable.steps import Step

__all__ = ["Progress", "StatusLine", "previous_seconds"]

AFTER_VAR = "RECYCLABLE_PROGRESS_AFTER"
EVERY_VAR = "RECYCLABLE_PROGRESS_EVERY"

#: Manifests read to find how long an action took last time.
SCAN_LIMIT = 5000


def _seconds_from_env(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        from recyclable.errors import ConfigurationError

        raise ConfigurationError(
            f"{name}={text!r} is not a positive number of seconds; e.g. {name}=60, or unset it"
        )
    return value


def previous_seconds(pool: Pool, plugin: str, action: str) -> float | None:
    """The compute time of the newest stored call of ``action`` in ``pool``, or None."""
    best: tuple[str, float] | None = None
    store = pool.cache.store
    for seen, key in enumerate(pool.keys()):
        if seen >= SCAN_LIMIT:
            break
        data = store.read_manifest(key)
        if data is None:
            continue
        try:
            manifest = load_manifest(data)
            if manifest.get("action") != action or manifest.get("plugin") != plugin:
                continue
            created = str(manifest.get("created", ""))
            seconds = float(manifest.get("compute_seconds", 0.0))
        except (ManifestError, TypeError, ValueError):
            continue
        if best is None or created > best[0]:
            best = (created, seconds)
    return best[1] if best is not None else None


class Progress:
    """The timer thread that shows a long step's progress (see the module docstring)."""

    def __init__(
        self,
        pool: Pool,
        stream: TextIO,
        *,
        after: float | None = None,
        every: float | None = None,
        tick: float = 1.0,
    ) -> None:
        self.pool = pool
        self.stream = stream
        self.after = after if after is not None else _seconds_from_env(AFTER_VAR, 2.0)
        self.every = every if every is not None else _seconds_from_env(EVERY_VAR, 60.0)
        self.tick = min(tick, self.every)
        self._status = StatusLine(stream)
        self.tty = self._status.tty
        self._stop = threading.Event()
        self._previous: dict[tuple[str, str], float | None] = {}
        self._logged: dict[int, int] = {}
        self._thread = threading.Thread(target=self._loop, name="recyclable-progress", daemon=True)
        self._chained = pool.steps.on_end

    @classmethod
    def start(cls, pool: Pool, target: bool | TextIO) -> Progress:
        """Start showing progress of ``pool``'s steps on ``target`` (True: stderr)."""
        stream = sys.stderr if target is True else target
        assert not isinstance(stream, bool)
        progress = cls(pool, stream)
        pool.steps.on_end = progress._ended
        progress._thread.start()
        return progress

    def stop(self) -> None:
        """Stop the thread and clear the line it shows."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.pool.steps.on_end = self._chained
        self._clear()

    # --- the thread ---------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.show_once()
            except Exception:  # noqa: BLE001 - a display problem must never end the run
                return

    def show_once(self) -> str | None:
        """Show the line for the innermost running step now, if it is due; returns it."""
        running = self.pool.steps.running()
        if not running:
            return None
        step = max(running, key=lambda s: (s.depth, s.started))
        elapsed = step.elapsed()
        if self.tty:
            if elapsed < self.after:
                return None
            line = self.line(step, running)
            self._status.show(line)
            if self._status.closed:
                self._stop.set()
            return line
        due = int(elapsed // self.every)
        if due < 1 or self._logged.get(id(step), 0) >= due:
            return None
        self._logged[id(step)] = due
        line = self.line(step, running)
        self._status.show(line)
        if self._status.closed:
            self._stop.set()
        return line

    def line(self, step: Step, running: list[Step]) -> str:
        """The progress text for ``step`` (and the outermost step it runs in)."""
        text = f"recyclable: {step.action} running for {human_seconds(step.elapsed())}"
        last = self._last_time(step)
        if last is not None:
            text += f" (took {human_seconds(last)} last time)"
        outer = min(running, key=lambda s: s.depth)
        if outer is not step:
            text += f" · {outer.action} {human_seconds(outer.elapsed())}"
        return text

    def _last_time(self, step: Step) -> float | None:
        name = (step.plugin, step.action)
        if name not in self._previous:
            self._previous[name] = previous_seconds(self.pool, step.plugin, step.action)
        return self._previous[name]

    # --- output -------------------------------------------------------------------------

    def _ended(self, step: Step) -> None:
        self._clear()
        if self._chained is not None:
            self._chained(step)

    def _clear(self) -> None:
        self._status.clear()


class StatusLine:
    """One status line on a stream: rewritten in place on a terminal, whole lines elsewhere.

    Shared by a run's step progress and the cache tools' progress.  Writing
    never raises: a closed stream just sets `closed`.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self.closed = False
        self._lock = threading.Lock()
        self._showing = False

    def show(self, text: str) -> None:
        """Show ``text``: in place of the previous line on a terminal, as a new line elsewhere."""
        if self.tty:
            self._write("\r\x1b[K" + text)
            self._showing = True
        else:
            self._write(text + "\n")

    def clear(self) -> None:
        """Remove the line shown in place, if any (a terminal's cursor is back at its start)."""
        if self._showing:
            self._write("\r\x1b[K")
            self._showing = False

    def _write(self, text: str) -> None:
        with self._lock:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):  # a closed stream: nothing to show on
                self.closed = True
