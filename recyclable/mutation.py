"""Side effects on arguments: found on a miss, or declared and replayed on a hit.

A step that changes an argument in place (``model.fit(xs)`` setting
``self.coef``, a normalisation done on the input list) has an effect a hit
would not repeat.  So on a miss every argument is fingerprinted again after
the call and compared with its digest in the key.  Skipped: values that
cannot change (numbers, strings, tuples of them), read-only memory-mapped
arrays (loaded results nobody can write) and read-only arrays over
``bytes``.  The check of a large argument runs in a thread while the result
is written, and only its verdict gates the publish.

* An argument that changed without being declared: the result is returned
  but not stored, and a `NotRecyclableWarning` names the argument and the
  fix (return the changed value, or declare it).
* ``@recyclable(mutates=["self"])``: the named parameters' state after the
  call is stored with the result (one pickle, so ``fit`` returning ``self``
  keeps that identity) and put back in place on a hit, and on the miss from
  the same stored copy, so both paths leave the live objects alike: objects
  through ``__setstate__`` or their ``__dict__`` (and slots), lists, bytearrays
  and arrays by slice, dicts and sets by clear and update.
"""

from __future__ import annotations

import _thread
import copyreg
import mmap
import os
import sys
import threading
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from recyclable.errors import NotRecyclableWarning

if TYPE_CHECKING:
    from recyclable.callkey import ActionSpec, CallKey

__all__ = ["UNSTORABLE", "MutationRecord", "Watch", "record", "replay"]

#: What `record` returns when a declared argument cannot be restored in place.
UNSTORABLE: Any = object()

# Arguments at least this large are re-fingerprinted in a thread, overlapping the write.
_LARGE_BYTES = 1 << 20
_LARGE_LEN = 10_000
_IMMUTABLE: frozenset[type] = frozenset(
    {int, float, complex, str, bytes, bool, type(None), range, frozenset, tuple}
)


class MutationRecord:
    """What a ``mutates=`` entry stores: the result and the declared arguments' state after."""

    __slots__ = ("result", "states")

    def __init__(self, result: Any, states: dict[str, Any]) -> None:
        self.result = result
        self.states = states

    def __reduce__(self) -> tuple[Any, ...]:
        return (MutationRecord, (self.result, self.states))


def _cannot_change(value: Any) -> bool:
    cls = type(value)
    if cls in _IMMUTABLE:
        if cls is tuple or cls is frozenset:
            return all(type(item) in _IMMUTABLE and type(item) is not tuple for item in value)
        return True
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.ndarray) and _read_only_map(value)


def _read_only_map(arr: Any) -> bool:
    """An array nobody in this process can write: a read-only view of a read-only file map.

    Or of an immutable ``bytes`` object (``np.frombuffer(data)``): numpy
    refuses to make such an array writable, and nothing can write the bytes.
    """
    if arr.flags.writeable:
        return False
    base = arr
    for _ in range(16):
        base = getattr(base, "base", None) if not isinstance(base, memoryview) else base.obj
        if base is None:
            return False
        if type(base) is bytes:
            return True
        if isinstance(base, memoryview):
            if not base.readonly:
                return False
            if isinstance(base.obj, mmap.mmap):
                return True
        elif isinstance(base, mmap.mmap):
            return True
        mode = getattr(base, "mode", None)
        if mode == "r" and type(base).__name__ == "memmap":
            return True
    return False


def _large(value: Any) -> bool:
    try:
        nbytes = getattr(value, "nbytes", 0)
    except Exception:  # noqa: BLE001 - a library's property may refuse (torch sparse tensors)
        nbytes = 0
    if isinstance(nbytes, int) and nbytes >= _LARGE_BYTES:
        return True
    try:
        return len(value) >= _LARGE_LEN
    except TypeError:
        return False


class Watch:
    """Re-fingerprints a call's arguments after it ran; `unchanged` says whether all held still.

    Started right after the call: a large argument is re-hashed in a thread
    (xxhash releases the GIL) while the result is encoded and written.
    """

    def __init__(self, spec: ActionSpec, callkey: CallKey) -> None:
        self._spec = spec
        self._action = callkey.action
        bound = callkey.bound
        self._todo = (
            [
                (name, digest, bound[name])
                for name, digest in callkey.digests
                if name not in spec.mutates and name in bound and not _cannot_change(bound[name])
            ]
            if spec.checks_arguments
            else []
        )
        self._changed: list[str] | None = None
        self._done: threading.Event | None = None
        if any(_large(value) for _, _, value in self._todo):
            # A bare thread: threading.Thread.start() would block until the new
            # thread is scheduled, which on a busy machine costs milliseconds.
            self._done = threading.Event()
            _thread.start_new_thread(self._check_then_signal, ())

    def _check_then_signal(self) -> None:
        try:
            self._check()
        finally:
            if self._done is not None:
                self._done.set()

    def _check(self) -> None:
        changed = []
        for name, digest, value in self._todo:
            try:
                now = self._spec.argument_digest(name, value)
            except Exception:  # noqa: BLE001 - it could be fingerprinted before the call: changed
                now = None
            if now != digest:
                changed.append(name)
        self._changed = changed

    def unchanged(self) -> bool:
        """True when no argument changed; otherwise warn (naming them) and return False."""
        if self._done is not None:
            self._done.wait()
            if self._changed is None:  # the check itself died: assume the worst
                self._changed = [name for name, _, _ in self._todo]
        else:
            self._check()
        changed = self._changed or []
        if not changed:
            return True
        names = ", ".join(repr(name) for name in changed)
        values = {name: value for name, _, value in self._todo}
        paths = [name for name in changed if isinstance(values.get(name), (str, os.PathLike))]
        if paths:
            # A file the step wrote: an output, which belongs out of the key.
            ignored = ", ".join(repr(name) for name in (*sorted(self._spec.ignore), *paths))
            fix = (
                f"If it is an output path, leave it out of the key with "
                f"@recyclable(ignore=[{ignored}])."
            )
        else:
            declared = ", ".join(repr(name) for name in (*self._spec.mutates, *changed))
            fix = (
                f"Return the changed value instead, or declare @recyclable(mutates=[{declared}]) "
                "to store the argument's state with the result and restore it on a re-run."
            )
        warnings.warn(
            f"recyclable: {self._action} changed its argument {names} in place; the result "
            f"is returned but not stored, because loading it would not repeat the change. {fix}",
            NotRecyclableWarning,
            stacklevel=8,  # the decorated call (through store_result's gate)
        )
        return False


def record(spec: ActionSpec, bound: Mapping[str, Any], result: Any) -> Any:
    """The value to store: ``result``, or a `MutationRecord` when ``mutates=`` is declared.

    Returns `UNSTORABLE` (with a warning) when a declared argument cannot be restored in place.
    """
    if not spec.mutates:
        return result
    for name in spec.mutates:
        problem = _unrestorable(bound[name])
        if problem is not None:
            warnings.warn(
                f"recyclable: {spec.action} declares mutates=[{name!r}], but {problem}; the "
                "result is returned but not stored. Declare only parameters whose objects "
                "change in place (objects, lists, dicts, sets, writable arrays).",
                NotRecyclableWarning,
                stacklevel=5,  # the decorated call
            )
            return UNSTORABLE
    return MutationRecord(result, {name: bound[name] for name in spec.mutates})


def replay(spec: ActionSpec, bound: Mapping[str, Any], value: Any) -> Any:
    """Put a stored record's argument state back in place; return the call's result.

    A result that is one of the declared arguments (``fit`` returning
    ``self``) is returned as the live argument, as the call would.
    """
    if not spec.mutates or not isinstance(value, MutationRecord):
        return value
    result = value.result
    for name, state in value.states.items():
        live = bound[name]
        restore(live, state)
        if result is state:
            result = live
    return result


def _unrestorable(value: Any) -> str | None:
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        return None if value.flags.writeable else "its array is read-only"
    if isinstance(value, (list, bytearray, dict, set)):
        return None
    if type(value) in _IMMUTABLE:
        return f"its value ({type(value).__name__}) cannot change in place"
    if hasattr(value, "__dict__") or hasattr(type(value), "__setstate__"):
        return None
    if getattr(type(value), "__slots__", None):
        return None
    return f"its value ({type(value).__qualname__}) has no state to restore"


def restore(live: Any, stored: Any) -> None:
    """Make ``live`` hold ``stored``'s state, in place (the caller keeps its reference)."""
    if live is stored:
        return
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(live, numpy.ndarray):
        live[...] = stored
        return
    if isinstance(live, (list, bytearray)):
        live[:] = stored
        return
    if isinstance(live, (dict, set)):
        live.clear()
        live.update(stored)
        if not hasattr(live, "__dict__"):
            return
    state = _state_of(stored)
    setstate = getattr(type(live), "__setstate__", None)
    if setstate is not None:
        live.__setstate__(state)
        return
    slots: Mapping[str, Any] | None = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    if isinstance(state, dict) and hasattr(live, "__dict__"):
        live.__dict__.clear()
        live.__dict__.update(state)
    for name, item in (slots or {}).items():
        setattr(live, name, item)


def _state_of(value: Any) -> Any:
    """``value.__getstate__()``, or what it returns by default where ``object`` lacks it.

    ``object.__getstate__`` exists from Python 3.11 on; before, pickle builds
    the default state itself: the instance ``__dict__``, paired with a dict of
    the set slots when the class has ``__slots__``.
    """
    getstate = getattr(value, "__getstate__", None)
    if getstate is not None:
        return getstate()
    attributes = getattr(value, "__dict__", None) or None
    slots = {}
    for name in copyreg._slotnames(type(value)):  # type: ignore[attr-defined]
        if hasattr(value, name):
            slots[name] = getattr(value, name)
    return (attributes, slots) if slots else attributes
