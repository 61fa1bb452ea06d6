"""Mutable values a code key read, checked again on each call: a change between calls is seen.

A step reading ``config.PARAMS["k"]`` is keyed by that dict's value when its
key is first needed.  A driver that sets ``config.PARAMS["k"] = 3`` between
two calls (a parameter sweep in a loop) changes what the next call computes,
without rebinding any name the identity checks guard.  So every mutable value
a code identity keyed (dicts, lists, instances, arrays: anything but atoms and
tuples of them) is watched: on each call its digest is taken again and
compared with the one last seen, and a difference is a new code key.  Dicts
made only of dicts and atoms are compared only once one of their version tags
changed (`recyclable.dictversion`), so an unchanged config costs a few reads.

What the step does to such a value while it computes (a memo it fills, a
counter it bumps, a generator's state it draws from) is not a change: after a
computed call the watches checked for its key take the values as the call
left them (`refresh`), so the next call keeps its key, as it does in a fresh
process that replays the same calls.
"""

from __future__ import annotations

import marshal
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from recyclable.dictversion import DictVersions, versions_available
from recyclable.valuememo import forget_digest

__all__ = ["ValueWatch", "gathering", "is_frozen", "refresh", "state"]


class _State:
    """Whether this process has made a watch yet (until then a key gathers none)."""

    __slots__ = ("made",)

    def __init__(self) -> None:
        self.made = False


#: ``state.made`` turns true with the first `ValueWatch` and stays so.
state = _State()

_FROZEN_ATOMS: frozenset[type] = frozenset(
    {int, float, complex, str, bytes, bool, type(None), type(Ellipsis), range, slice}
)


def is_frozen(value: Any) -> bool:
    """Whether nothing can change ``value`` in place (atoms, and tuples and frozensets of them)."""
    cls = type(value)
    if cls in _FROZEN_ATOMS:
        return True
    if cls is tuple or cls is frozenset:
        return all(map(is_frozen, value))
    return False


def _dict_tree(value: Any, found: list[dict[Any, Any]]) -> bool:
    """Collect the dicts of a value made only of dicts, atoms and tuples of atoms."""
    if type(value) is not dict:
        return is_frozen(value)
    found.append(value)
    return all(map(is_frozen, value)) and all(_dict_tree(item, found) for item in value.values())


class ValueWatch:
    """The mutable values one code identity keyed, and their digests when last seen."""

    __slots__ = ("_lock", "_tagged", "_untagged", "_versions")

    def __init__(self, values: Iterable[Any]) -> None:
        self._lock = threading.Lock()
        tagged: list[Any] = []
        untagged: list[Any] = []
        dicts: list[dict[Any, Any]] = []
        use_tags = versions_available()
        for value in values:
            found: list[dict[Any, Any]] = []
            if use_tags and _dict_tree(value, found):
                tagged.append(value)
                dicts.extend(found)
            else:
                untagged.append(value)
        self._versions = DictVersions(dicts) if dicts else None
        self._tagged = _snapshot(tagged)
        self._untagged = _snapshot(untagged)
        state.made = True
        _note(self)

    def hold(self) -> bool:
        """Whether every value still has the digest last seen (a change forgets its memo)."""
        versions = self._versions
        if versions is not None:
            now = versions.now()
            if now != versions.seen:
                if not _same(self._tagged):
                    return False
                versions.seen = now
        # `_same` and `_note` written out: this runs on every call of the step.
        for value, seen in self._untagged:
            current: bytes | None
            try:
                current = _dumps(value)
            except ValueError:
                current = _seen(value)
            if current is None or current != seen:
                forget_digest(value)  # the walk that follows takes the value as it is now
                return False
        collected = _local.collected
        if collected is not None:
            collected.append(self)
        return True

    def refresh(self) -> None:
        """Take the values as they are now (after a call of the step that keyed them)."""
        with self._lock:
            if self._versions is not None:
                self._versions.seen = self._versions.now()
            self._tagged = _snapshot(value for value, _ in self._tagged)
            self._untagged = _snapshot(value for value, _ in self._untagged)


def _snapshot(values: Iterable[Any]) -> tuple[tuple[Any, bytes | None], ...]:
    return tuple((value, _seen(value)) for value in values)


def _seen(value: Any) -> bytes | None:
    """What tells ``value``'s change: its marshal bytes when it is plain data, else its digest.

    ``marshal`` writes builtin containers and atoms of their exact types only
    (``1``, ``1.0`` and ``True`` apart, ``-0.0`` apart from ``0.0``, order
    kept) and refuses anything else, all in C: a config of dicts and lists is
    compared in well under a microsecond, where digesting it again costs
    several.  Equal bytes mean the same plain data, so the same digest; any
    difference (a set built in another order, too) is taken for a change,
    and the key is made again from the value.  Anything marshal refuses
    (instances, arrays, subclasses of builtins) is compared by its digest,
    marked with a leading zero byte, which no marshal output starts with.
    """
    try:
        return _dumps(value)
    except ValueError:
        digest = _digest(value)
        return None if digest is None else b"\0" + digest


_dumps = marshal.dumps


def _digest(value: Any) -> bytes | None:
    global _shallow_digest  # noqa: PLW0603 - imported once, at first use (codeid imports us)
    digest = _shallow_digest
    if digest is None:
        from recyclable.codeid import shallow_digest

        digest = _shallow_digest = shallow_digest
    try:
        return digest(value)
    except Exception:  # noqa: BLE001 - changed size while read (another thread): unknown
        return None


_shallow_digest: Callable[[Any], bytes] | None = None


def _same(pairs: Sequence[tuple[Any, bytes | None]]) -> bool:
    for value, digest in pairs:
        now = _seen(value)
        if now is None or now != digest:
            forget_digest(value)  # the walk that follows takes the value as it is now
            return False
    return True


# The watches checked (or made) while one call's key is computed, per thread.
class _Gathering(threading.local):
    """Per thread: the watches one key has checked so far (None: no key is gathering)."""

    collected: list[ValueWatch] | None = None  # a class default: reading it raises nothing


#: While a key is made, ``gathering.collected`` is the list its watches go in
#: (`recyclable.callkey.ActionSpec.key_for` sets it and puts the outer one back).
gathering = _local = _Gathering()


def _note(watch: ValueWatch) -> None:
    collected = _local.collected
    if collected is not None:
        collected.append(watch)


def refresh(watches: Iterable[ValueWatch]) -> None:
    """After a call computed: its key's watches take the values as the call left them."""
    for watch in watches:
        watch.refresh()
