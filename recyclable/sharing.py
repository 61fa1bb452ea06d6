"""Which objects the arguments of one call share: part of the call's key.

Inside one argument, an object met twice is written as a back-reference, so
``f([row, row])`` and ``f([row, copy(row)])`` are two calls.  Between
arguments the digests are taken one by one, so without this ``f(a, a)`` and
``f(a, a.copy())`` would share a key although a step may tell them apart: it
updates ``out`` in place while reading ``data`` (``mutates=["out"]``), or
asks ``x is y``.  Each argument's digest reports the objects with an identity
of their own it met, numbered in traversal order (`Held`); an object two
arguments both reach enters the key as the pair of (argument, number) where
each meets it.  Equal values shared the same way give the same key in every
process, since the numbers follow the values' structure, not their ids.

Not covered, as inside one argument: separate objects that share memory (two
numpy views of one buffer), strings and tuples (equal values do not share
them reliably), and the insides of values a library handler keys whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from recyclable.fingerprint import Held

__all__ = ["Shared", "describe_shared", "shared_objects", "shared_part"]

#: One object two arguments reach: (first argument, its number there, second
#: argument, its number there); number 0 is the argument itself.
Shared = tuple[str, int, str, int]


def shared_objects(named: Sequence[tuple[str, Held]]) -> tuple[Shared, ...]:
    """The objects two of the named arguments both reach, in a fixed order.

    Pairs of arguments are compared with one set intersection each, so the
    cost is in C and grows with the objects shared, not with the objects met.
    """
    found: list[Shared] = []
    for later in range(1, len(named)):
        name, (seen, _) = named[later]
        for earlier in range(later):
            first_name, (first_seen, _) = named[earlier]
            common = first_seen.keys() & seen.keys()
            if common:
                found.extend(sorted((first_name, first_seen[i], name, seen[i]) for i in common))
    return tuple(found)


def shared_part(shared: Sequence[Shared]) -> bytes:
    """The key's part for the shared objects (the caller length-prefixes it)."""
    return b"shared:" + ";".join(f"{a}#{i}={b}#{j}" for a, i, b, j in shared).encode()


def describe_shared(shared: Sequence[Shared]) -> str:
    """The shared objects in words, for `explain` (e.g. ``'out' is 'data'``)."""
    said = []
    for first, i, second, j in shared:
        if i == 0 and j == 0:
            said.append(f"{second!r} is {first!r}")
        elif i == 0:
            said.append(f"{second!r} holds {first!r}")
        elif j == 0:
            said.append(f"{first!r} holds {second!r}")
        else:
            said.append(f"{first!r} and {second!r} hold one object")
    return ", ".join(dict.fromkeys(said))
