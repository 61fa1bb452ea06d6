"""Which step produced a value: results remembered by identity, or by digest.

A `StepLog` remembers each result a step returns (loaded or computed), and
each element of a dict, list or tuple result, so that a later call's
argument that *is* such a value names its producing step.  By identity
first, guarded by a weak reference (a dict, list or tuple, which cannot be
weakly referenced, by weak references to its elements), so a recycled
object id is never taken for a result.  A result linkable neither way (a
list of numbers) is fingerprinted when its pickle stream is small, and
matched against the argument digests a call's key already holds: no
argument is hashed twice.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from recyclable.fingerprint import digest_value

if TYPE_CHECKING:
    from recyclable.callkey import CallKey

__all__ = ["DIGEST_LIMIT", "MAX_IDENTITIES", "MAX_PARTS", "ProducerIndex"]

#: Elements of a container result (or argument) looked at for lineage.
MAX_PARTS = 64

#: Results whose pickle stream (without out-of-band buffers) is larger than
#: this and that cannot be linked by identity are not hashed for lineage.
DIGEST_LIMIT = 1 << 20

#: Identity records kept before dead ones are pruned.
MAX_IDENTITIES = 100_000

_SCALARS = (bool, int, float, complex, str, bytes, type(None))


class ProducerIndex:
    """The results (and their elements) steps produced, by identity and by digest.

    A base of `recyclable.steps.StepLog`, so the per-call checks read its
    dicts as plain attributes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Result (or result element) digest → (producing key, part of the result).
        self._producers: dict[bytes, tuple[str, str]] = {}
        # id of a result (or element) → (producing key, part, guard against a recycled id).
        self._by_id: dict[int, tuple[str, str, Any]] = {}

    def _produced(self, key: str, value: Any, stream_size: int | None) -> None:
        """Remember a result (and its elements) so later arguments can name its step."""
        known = self._remember(key, "", value)
        for part, item in _parts(value):
            self._remember(key, part, item)
        if known or isinstance(value, _SCALARS):
            return
        # Not linkable by identity (a plain container of scalars, say): by digest,
        # when hashing it again is cheap.  A large pickled object graph (a list
        # of a million ints) is not hashed twice just for its lineage.
        if stream_size is None:
            if isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) > 1000:
                return
        elif stream_size > DIGEST_LIMIT:
            return
        digest = _digest(value)
        if digest is not None:
            self._producers.setdefault(digest, (key, ""))

    def _remember(self, key: str, part: str, value: Any) -> bool:
        """Record ``value`` by identity, guarded so a recycled id is never taken for it."""
        if isinstance(value, _SCALARS):
            return False
        try:
            guard: Any = weakref.ref(value)
        except TypeError:
            guard = _container_guard(value)
            if guard is None:
                return False
        with self._lock:
            if len(self._by_id) >= MAX_IDENTITIES:
                # Drop the dead; if most are alive, forget the older half, so a
                # run of a million live results costs no more than a bounded map.
                alive = [(i, e) for i, e in self._by_id.items() if _alive(e[2])]
                self._by_id = dict(
                    alive[len(alive) // 2 :] if len(alive) > MAX_IDENTITIES // 2 else alive
                )
            self._by_id[id(value)] = (key, part, guard)
        return True

    def _match(self, value: Any) -> tuple[str, str] | None:
        entry = self._by_id.get(id(value))
        if entry is None:
            return None
        key, part, guard = entry
        if isinstance(guard, weakref.ref):
            return (key, part) if guard() is value else None
        cls, length, refs = guard
        if type(value) is not cls or len(value) != length:
            return None
        items = list(value.values()) if cls is dict else value
        return (key, part) if all(items[i] is ref() for i, ref in refs) else None

    def _inputs(
        self, callkey: CallKey, bound: Mapping[str, Any]
    ) -> list[tuple[str, str, str, str]]:
        if not self._by_id and not self._producers:
            return []
        found: list[tuple[str, str, str, str]] = []
        for name, digest in callkey.digests:
            value = bound.get(name)
            hit = self._match(value) or self._producers.get(digest)
            if hit is not None:
                found.append((name, "", hit[0], hit[1]))
                continue
            # A list, tuple or dict built from results: look one level in (by identity,
            # so this costs no hashing).
            for part, item in _parts(value):
                hit = self._match(item)
                if hit is not None:
                    found.append((name, part, hit[0], hit[1]))
        return found


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


def _container_guard(value: Any) -> tuple[type, int, tuple[tuple[int, Any], ...]] | None:
    """For a dict, list or tuple (not weakly referable): weak references to its elements.

    The same id, type and length holding the very same element objects is the
    same container as far as lineage is concerned; a container with no
    weakly referable element gets no guard (it is linked by digest instead).
    """
    cls = type(value)
    if cls not in (dict, list, tuple) or len(value) > MAX_PARTS:
        return None
    items = list(value.values()) if cls is dict else value
    refs = []
    for index, item in enumerate(items):
        try:
            refs.append((index, weakref.ref(item)))
        except TypeError:
            continue
    return (cls, len(value), tuple(refs)) if refs else None


def _alive(guard: Any) -> bool:
    if isinstance(guard, weakref.ref):
        return guard() is not None
    return all(ref() is not None for _, ref in guard[2])


def _digest(value: Any) -> bytes | None:
    if isinstance(value, _SCALARS):
        # A scalar "result" (a count, a flag) equal to a literal argument is
        # no evidence of lineage: 0, True and "" are everywhere.
        return None
    try:
        return digest_value(value)
    except Exception:  # noqa: BLE001 - a value we cannot fingerprint just has no lineage
        return None
