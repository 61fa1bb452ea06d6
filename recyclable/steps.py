"""The steps of a run: what each recyclable call did, which steps fed it, and how long it took.

Every pool object keeps a `StepLog`.  Each decorated call that reaches the
pool becomes a `Step`: its nesting (the step that called it), its state
(running, loaded, computed, failed), its time, the compute time a load saved,
the size of its stored result and its *lineage*: which of its arguments (or
which element of a list, tuple or dict argument) is a value another step of
the same run returned.

Lineage is found by digest.  Each result a step returns (loaded or computed)
is fingerprinted with the same hasher that keys the calls, and so is each
element of a dict, list or tuple result; an argument whose digest (already
computed for the call's key) equals one of them was produced by that step.
Read-only arrays loaded from the store carry their blob's digest (see
`recyclable.fingerprint.remember_loaded_arrays`), so a resumed run pays
nothing extra to know where its loaded inputs came from.

The manifest of every stored entry gets an optional ``lineage`` field:
``{"inputs": [[argument, part, key], ...], "values": [[argument, text], ...],
"parent": key | null}``.  Readers that do not know the field ignore it.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recyclable.fingerprint import digest_value

if TYPE_CHECKING:
    from recyclable.callkey import CallKey

__all__ = ["LINEAGE_FIELD", "Step", "StepLog", "short_value"]

#: The manifest field that holds an entry's lineage.
LINEAGE_FIELD = "lineage"

#: Steps kept in detail per pool object; later ones are only counted, so a
#: loop of a million hits does not grow memory without bound.
MAX_STEPS = 20_000

#: Elements of a container result (or argument) looked at for lineage.
MAX_PARTS = 64

#: Longest text kept for a scalar argument's value.
MAX_VALUE_TEXT = 80

_SCALARS = (bool, int, float, complex, str, bytes, type(None))

# The step running in this thread or asyncio task, so a step knows its parent.
_current: contextvars.ContextVar[Step | None] = contextvars.ContextVar(
    "recyclable_current_step", default=None
)


@dataclass
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
        inputs: ``(argument, part, producing key)`` for each argument (or part,
            e.g. ``[0]`` or ``['reads']``) another step of the run returned.
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
    inputs: list[tuple[str, str, str]] = field(default_factory=list)
    values: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    _clock: float = field(default=0.0, repr=False, compare=False)

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


class StepLog:
    """The steps one pool object has seen, and the digests of the results they returned."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.dropped = 0
        self._lock = threading.Lock()
        # Result (or result element) digest → (producing key, part of the result).
        self._producers: dict[bytes, tuple[str, str]] = {}
        self._by_key: dict[str, Step] = {}
        #: Called with a step when it stops running (a progress display clears its line).
        self.on_end: Callable[[Step], None] | None = None

    # --- recording ----------------------------------------------------------------------

    def begin(self, callkey: CallKey, bound: Mapping[str, Any]) -> tuple[Step, Any]:
        """A call reached the pool: record it as running; returns the step and a token for `end`."""
        parent = _current.get()
        step = Step(
            key=callkey.key,
            action=callkey.action,
            plugin=callkey.plugin,
            parent=parent.key if parent is not None else None,
            depth=parent.depth + 1 if parent is not None else 0,
            started=time.time(),
            _clock=time.perf_counter(),
        )
        step.inputs = self._inputs(callkey, bound)
        # Only the arguments in the key: an ignored one (a logger, a thread count) stays out.
        step.values = [(name, short_value(bound.get(name))) for name, _ in callkey.digests]
        with self._lock:
            if len(self.steps) < MAX_STEPS:
                self.steps.append(step)
            else:
                self.dropped += 1
            self._by_key[step.key] = step
        return step, _current.set(step)

    def loaded(self, step: Step, value: Any, manifest: Mapping[str, Any]) -> None:
        """The step's result was loaded from the store."""
        step.state = "loaded"
        step.saved = float(manifest.get("compute_seconds", 0.0) or 0.0)
        step.size = _entry_size(manifest)
        self._finish(step)
        self._produced(step.key, value)

    def returned(self, step: Step, value: Any, seconds: float) -> None:
        """The step computed its result (before it is stored)."""
        step.state = "computed"
        step.seconds = seconds
        self._notify(step)
        self._produced(step.key, value)

    def failed(self, step: Step, exc: BaseException) -> None:
        """The step raised (or was interrupted)."""
        if step.state != "running":
            return  # it had finished; what raised came after (e.g. storing was interrupted)
        step.state = "failed"
        step.error = f"{type(exc).__name__}: {exc}"[:300]
        self._finish(step)

    def end(self, step: Step, token: Any) -> None:
        """The call returned or raised: the enclosing step is current again."""
        try:
            _current.reset(token)
        except ValueError:  # ended in another context than it began in
            _current.set(None)
        if step.state == "running":
            self._finish(step)

    def annotate(self, body: dict[str, Any]) -> None:
        """Add the lineage of the entry about to be written to its manifest ``body``."""
        key = body.get("key")
        step = self._by_key.get(key) if isinstance(key, str) else None
        if step is None:
            return
        step.stored = True
        step.size = _entry_size(body)
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

    def _produced(self, key: str, value: Any) -> None:
        digest = _digest(value)
        if digest is not None:
            self._producers.setdefault(digest, (key, ""))
        for part, item in _parts(value):
            digest = _digest(item)
            if digest is not None:
                self._producers.setdefault(digest, (key, part))

    def _inputs(self, callkey: CallKey, bound: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        producers = self._producers
        if not producers:
            return []
        found: list[tuple[str, str, str]] = []
        for name, digest in callkey.digests:
            hit = producers.get(digest)
            if hit is not None:
                found.append((name, hit[1], hit[0]))
                continue
            # A list, tuple or dict built from results: look one level in.
            for part, item in _parts(bound.get(name)):
                item_digest = _digest(item)
                hit = producers.get(item_digest) if item_digest is not None else None
                if hit is not None:
                    found.append((name, part + hit[1], hit[0]))
        return found


def short_value(value: Any) -> str:
    """A short text for an argument: the repr of a scalar (bounded), else its type."""
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


def _parts(value: Any) -> Iterable[tuple[str, Any]]:
    cls = type(value)
    if cls is dict:
        if len(value) > MAX_PARTS:
            return ()
        return ((f"[{k!r}]", v) for k, v in value.items() if isinstance(k, (str, int)))
    if cls is list or cls is tuple:
        if len(value) > MAX_PARTS:
            return ()
        return ((f"[{i}]", v) for i, v in enumerate(value))
    return ()


def _digest(value: Any) -> bytes | None:
    if isinstance(value, _SCALARS):
        # A scalar "result" (a count, a flag) equal to a literal argument is
        # no evidence of lineage: 0, True and "" are everywhere.
        return None
    try:
        return digest_value(value)
    except Exception:  # noqa: BLE001 - a value we cannot fingerprint just has no lineage
        return None


def _entry_size(manifest: Mapping[str, Any]) -> int | None:
    try:
        stream = manifest["stream"]
        return int(stream["size"]) + sum(int(info["size"]) for info in manifest["buffers"])
    except (KeyError, TypeError, ValueError):
        return None
