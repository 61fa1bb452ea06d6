"""The steps of a run: what each recyclable call did, which steps fed it, and how long it took.

Every pool object keeps a `StepLog`.  Each decorated call that reaches the
pool becomes a `Step`: its nesting (the step that called it), its state
(running, loaded, computed, failed), its time, the compute time a load saved,
the size of its stored result and its *lineage*: which of its arguments (or
which element of a list, tuple or dict argument) is a value another step of
the same run returned.

Lineage is found by identity first, then by digest (see
`recyclable.producers`, the log's base class).

The manifest of every stored entry gets an optional ``lineage`` field:
``{"inputs": [[argument, part, key, result part], ...], "values": [[argument, text], ...],
"parent": key | null}``.  Readers that do not know the field ignore it.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recyclable.producers import ProducerIndex

if TYPE_CHECKING:
    from recyclable.callkey import CallKey

__all__ = ["LINEAGE_FIELD", "Step", "StepLog", "short_value"]

#: The manifest field that holds an entry's lineage.
LINEAGE_FIELD = "lineage"

#: Steps kept in detail per pool object; later ones are only counted, so a
#: loop of a million hits does not grow memory without bound.
MAX_STEPS = 20_000

#: Longest text kept for a scalar argument's value.
MAX_VALUE_TEXT = 80

_SCALARS = (bool, int, float, complex, str, bytes, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)

# The step running in this thread or asyncio task, so a step knows its parent.
_current: contextvars.ContextVar[Step | None] = contextvars.ContextVar(
    "recyclable_current_step", default=None
)
_current_get = _current.get  # bound once: read on every recorded call


@dataclass(slots=True)
class Step:
    """One recyclable call of a run, as the pool saw it.

    Attributes:
        key: the call's key.
        action: the action's name.
        plugin: the action's plugin.
        parent: the key of the step that made this call, or None at top level.
        depth: how deeply it is nested (0 at top level).
        state: ``running``, ``loaded``, ``computed`` or ``failed``.
        started: wall-clock start (seconds since the epoch).
        seconds: the time it took in this run (computing, or loading).
        saved: for a load, the compute time it saved (as originally recorded).
        size: bytes of its stored result (stream and buffers), None if not stored.
        stored: whether a computed result was kept in the pool.
        inputs: ``(argument, part, producing key, result part)`` for each
            argument (or part of it, e.g. ``[0]``) that another step of the run
            returned (or that is part of what it returned, e.g. ``['reads']``).
        values: ``(argument, short text)`` of every argument; scalars by repr.
        error: for a failed step, the exception's type and message.

    """

    key: str
    action: str
    plugin: str
    parent: str | None = None
    depth: int = 0
    state: str = "running"
    started: float = 0.0
    seconds: float = 0.0
    saved: float = 0.0
    size: int | None = None
    stored: bool = False
    inputs: list[tuple[str, str, str, str]] = field(default_factory=list)
    values: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    _clock: float = field(default=0.0, repr=False, compare=False)
    _pending: tuple[Any] | None = field(default=None, repr=False, compare=False)

    def elapsed(self) -> float:
        """Seconds since the step started (its final time once it ended)."""
        if self.state == "running":
            return time.perf_counter() - self._clock
        return self.seconds

    def as_dict(self) -> dict[str, Any]:
        """The step as JSON-able data (what ``recyclable run --json`` prints)."""
        return {
            "key": self.key,
            "action": self.action,
            "plugin": self.plugin,
            "parent": self.parent,
            "depth": self.depth,
            "state": self.state,
            "started": self.started,
            "seconds": round(self.seconds, 6),
            "saved": round(self.saved, 6),
            "size": self.size,
            "stored": self.stored,
            "inputs": [list(item) for item in self.inputs],
            "values": [list(item) for item in self.values],
            "error": self.error,
        }


_new_step = Step.__new__


class StepLog(ProducerIndex):
    """The steps one pool object has seen, and the digests of the results they returned."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[Step] = []
        self.dropped = 0
        self._by_key: dict[str, Step] = {}
        #: Called with a step when it stops running (a progress display clears its line).
        self.on_end: Callable[[Step], None] | None = None

    # --- recording ----------------------------------------------------------------------

    def begin(self, callkey: CallKey, bound: Mapping[str, Any]) -> tuple[Step, Any]:
        """A call reached the pool: record it as running; returns the step and a token for `end`."""
        step = self.record(callkey, bound)
        self._by_key[step.key] = step
        return step, _current.set(step)

    def enter(self, step: Step) -> Any:
        """Make ``step`` the parent of the calls made from now on; returns a token for `end`.

        `record` and `enter` are `begin` in two parts: a call that is loaded
        runs no code that could make nested calls, so it is never entered.
        """
        # Found by key when its result is stored (`annotate`); a loaded step never is.
        self._by_key[step.key] = step
        return _current.set(step)

    def record(self, callkey: CallKey, bound: Mapping[str, Any]) -> Step:
        """A call reached the pool: record it as running, nested in the current step."""
        parent = _current_get()
        # Every slot set here, without the dataclass's __init__: its frame and
        # sixteen arguments cost more than the rest of recording a hit.
        step = _new_step(Step)
        step.key = callkey.key
        step.action = callkey.action
        step.plugin = callkey.plugin
        if parent is None:
            step.parent = None
            step.depth = 0
        else:
            step.parent = parent.key
            step.depth = parent.depth + 1
        step.state = "running"
        step.started = time.time()
        step.seconds = 0.0
        step.saved = 0.0
        step.size = None
        step.stored = False
        step.inputs = self._inputs(callkey, bound) if self._by_id or self._producers else []
        # Only the arguments in the key: an ignored one (a logger, a thread count) stays out.
        values = []
        for name, _ in callkey.digests:
            value = bound.get(name)
            if type(value) in _SCALAR_TYPES:  # most arguments: `short_value` without its call
                text = repr(value)
                if len(text) > MAX_VALUE_TEXT:
                    text = text[: MAX_VALUE_TEXT - 1] + "…"
                values.append((name, text))
            else:
                values.append((name, short_value(value)))
        step.values = values
        step.error = None
        step._pending = None
        step._clock = time.perf_counter()
        # list.append is atomic: no lock on the hot path.
        steps = self.steps
        if len(steps) < MAX_STEPS:
            steps.append(step)
        else:
            self.dropped += 1
        return step

    def loaded(
        self,
        step: Step,
        value: Any,
        manifest: Mapping[str, Any],
        size: int | None = None,
        saved: float | None = None,
    ) -> None:
        """The step's result was loaded from the store.

        ``size``: bytes loaded, and ``saved``: the manifest's compute time, when
        the caller already has them (a hit does).
        """
        step.state = "loaded"
        step.seconds = time.perf_counter() - step._clock
        if saved is None:
            try:
                saved = float(manifest.get("compute_seconds") or 0.0)
            except (TypeError, ValueError):
                saved = 0.0
        step.saved = saved
        step.size = _entry_size(manifest) if size is None else size
        callback = self.on_end
        if callback is not None:
            callback(step)
        if type(value) not in _SCALAR_TYPES and not isinstance(value, _SCALARS):
            # A number or a string is never linked.
            self._produced(step.key, value, _stream_size(manifest))

    def returned(self, step: Step, value: Any, seconds: float) -> None:
        """The step computed its result (before it is stored)."""
        step.state = "computed"
        step.seconds = seconds
        self._notify(step)
        # Linked once its size is known (`annotate`), or when the call ends
        # if it is not stored; held only until then.
        step._pending = (value,)

    def handed_back(self, step: Step, value: Any) -> None:
        """The caller receives ``value``: what a hit would give, often a decoded copy.

        Linked to the step too, so a later step given this object (not the
        one the function returned) names its producer.
        """
        pending = step._pending
        if pending is not None and pending[0] is value:
            return
        if not isinstance(value, _SCALARS):
            self._produced(step.key, value, None)

    def failed(self, step: Step, exc: BaseException) -> None:
        """The step raised (or was interrupted)."""
        if step.state != "running":
            return  # it had finished; what raised came after (e.g. storing was interrupted)
        step.state = "failed"
        step.error = f"{type(exc).__name__}: {exc}"[:300]
        self._finish(step)

    def end(self, step: Step, token: Any = None) -> None:
        """The call returned or raised: the enclosing step is current again.

        ``token`` is what `begin` or `enter` returned; None for a step never entered.
        """
        if token is not None:
            try:
                _current.reset(token)
            except ValueError:  # ended in another context than it began in
                _current.set(None)
            by_key = self._by_key
            if by_key.get(step.key) is step:
                del by_key[step.key]  # only steps in flight are looked up by key
        if step.state == "running":
            self._finish(step)
        if step._pending is not None:
            value = step._pending[0]
            step._pending = None
            self._produced(step.key, value, None)

    def annotate(self, body: dict[str, Any]) -> None:
        """Add the lineage of the entry about to be written to its manifest ``body``."""
        key = body.get("key")
        if not isinstance(key, str):
            return
        step = self._by_key.get(key)
        if step is None:
            # A step not entered: a hit that stores its entry again (garbage
            # collection took it meanwhile).  Rare, so a search of the log.
            step = next(
                (s for s in reversed(self.steps) if s.key == key and s.state == "running"), None
            )
            if step is None:
                return
        step.stored = True
        step.size = _entry_size(body)
        if step._pending is not None:
            value = step._pending[0]
            step._pending = None
            self._produced(step.key, value, _stream_size(body))
        body[LINEAGE_FIELD] = {
            "inputs": [list(item) for item in step.inputs],
            "values": [list(item) for item in step.values],
            "parent": step.parent,
        }

    # --- reading ------------------------------------------------------------------------

    def running(self) -> list[Step]:
        """The steps still running, outermost first."""
        with self._lock:
            return [step for step in self.steps if step.state == "running"]

    def snapshot(self) -> list[Step]:
        """A copy of the step list."""
        with self._lock:
            return list(self.steps)

    # --- internals ----------------------------------------------------------------------

    def _finish(self, step: Step) -> None:
        if step.state == "running":
            step.state = "failed" if step.error else "computed"
        step.seconds = time.perf_counter() - step._clock
        self._notify(step)

    def _notify(self, step: Step) -> None:
        callback = self.on_end
        if callback is not None:
            callback(step)


def short_value(value: Any) -> str:
    """A short text for an argument: the repr of a scalar (bounded), else its type."""
    if type(value) in _SCALAR_TYPES:
        text = repr(value)
        return text if len(text) <= MAX_VALUE_TEXT else text[: MAX_VALUE_TEXT - 1] + "…"
    if isinstance(value, (*_SCALARS, os.PathLike)):
        text = repr(value)
        if len(text) > MAX_VALUE_TEXT:
            text = text[: MAX_VALUE_TEXT - 1] + "…"
        return text
    cls = type(value)
    shape = getattr(value, "shape", None)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        return f"<{name} shape {shape}>"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"<{name} of {len(value)}>"
    return f"<{name}>"


def _stream_size(manifest: Mapping[str, Any]) -> int | None:
    try:
        return int(manifest["stream"]["size"])
    except (KeyError, TypeError, ValueError):
        return None


def _entry_size(manifest: Mapping[str, Any]) -> int | None:
    try:
        size = int(manifest["stream"]["size"])
        for info in manifest["buffers"]:
            size += int(info["size"])
    except (KeyError, TypeError, ValueError):
        return None
    return size
