"""Whether a result survives encoding: its fingerprint before and after a pickle round trip.

A hit returns the decoded value, so a value pickle does not reproduce (a
masked array's ``hardmask``, an object whose ``__reduce__`` drops state)
would come back changed on the re-run.  Such a result is not stored.

The comparison uses `recyclable.fingerprint.state_digest`, which also
covers the ``__dict__`` of objects that reduce themselves: a key follows
what ``__reduce__`` says, but the check must see what it leaves out.

Results made only of builtins and plain numpy arrays are exact by
construction and skip the check (`recyclable.fingerprint.exact_by_construction`).
Otherwise the check costs one extra fingerprint of the value and one of its decoded
copy (the decode itself is the one a miss does anyway to return what a hit
would).  Large out-of-band buffers cost nothing here: each was just hashed
to name its blob, and an array over exactly that buffer takes the blob's
digest (`recyclable.fingerprint.known_buffers`), so the bytes are never
hashed twice; their path (raw bytes written and mapped back) is exact by
construction.
"""

from __future__ import annotations

from typing import Any

from recyclable.errors import FingerprintError
from recyclable.fingerprint import exact_by_construction, known_buffers, state_digest

__all__ = ["digest_or_none", "survives"]


def digest_or_none(value: Any, buffers: list[Any], digests: list[bytes]) -> bytes | None:
    """The value's digest with its blobs' digests known; None when it cannot be fingerprinted.

    A result need not be fingerprintable to be stored (it is never part of a
    key); one that is not simply goes unchecked.  Nor is one made only of
    builtins and plain arrays, which pickle reproduces exactly.
    """
    if exact_by_construction(value):
        return None
    return _state_or_none(value, buffers, digests)


def _state_or_none(value: Any, buffers: list[Any], digests: list[bytes]) -> bytes | None:
    with known_buffers(buffers, digests):
        try:
            return state_digest(value)
        except FingerprintError:
            return None


def survives(before: bytes | None, copy: Any, buffers: list[Any], digests: list[bytes]) -> bool:
    """True when the decoded ``copy`` fingerprints like the original (digest ``before``)."""
    if before is None:
        return True
    # The copy is never exempt: an np.memmap result comes back a plain array,
    # exact by construction itself, yet it must still equal the original.
    return _state_or_none(copy, buffers, digests) == before
