"""What every library handler shares: stand-in reducers, buffer digests, quiet calls."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import xxhash

from recyclable.errors import FingerprintError
from recyclable.fingerprint import _LIBRARY, _canon

Reducer = Callable[[Any], Any]
_quiet_lock = threading.RLock()


def standin(tag: str, func: Callable[[Any], object], *, quiet: bool = True) -> Reducer:
    """A reducer that keys an object by the stand-in value ``func`` returns.

    The stand-in is canonicalised and pickled like any other value, tagged by
    ``tag`` (a stable name of the library type, independent of the module the
    library happens to define it in).  With ``quiet``, warnings the library
    issues while the stand-in is built are suppressed: they are about the
    library's own lazy work, never about the value, and under
    ``-W error`` they would otherwise become failures.
    """

    def reduce(obj: Any) -> Any:
        if quiet:
            # catch_warnings swaps the process-wide filters: two threads
            # interleaving it could leave "ignore" in place for good.
            with _quiet_lock, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = func(obj)
        else:
            value = func(obj)
        return (_LIBRARY, (tag, type_name(type(obj)), _canon(value)))

    reduce.keys_whole = True  # type: ignore[attr-defined]
    return reduce


def type_name(cls: type) -> str:
    """The qualified name of a type: subclasses of library types are keyed apart."""
    return f"{cls.__module__}.{cls.__qualname__}"


def buffers_digest(*buffers: Any) -> bytes:
    """xxh3_128 over buffers (anything with the buffer protocol), length-prefixed each.

    The length prefix keeps ``(b"ab", b"c")`` and ``(b"a", b"bc")`` apart.
    """
    hasher = xxhash.xxh3_128()
    for buffer in buffers:
        view = memoryview(buffer)
        hasher.update(view.nbytes.to_bytes(8, "little"))
        if view.nbytes:
            hasher.update(view if view.contiguous else view.tobytes())
    return hasher.digest()


class HashSink:
    """A write-only binary file feeding a hasher: libraries serialise straight into it."""

    def __init__(self) -> None:
        self.hasher = xxhash.xxh3_128()
        self.closed = False

    def write(self, data: Any) -> int:
        """Hash ``data``; return its length as a file would."""
        view = memoryview(data)
        self.hasher.update(view)
        return view.nbytes

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        """Mark closed; the digest stays readable."""
        self.closed = True

    def writable(self) -> bool:
        """Always: this is a sink."""
        return True

    def digest(self) -> bytes:
        """The digest of everything written so far."""
        return self.hasher.digest()


def refuse(obj: Any, reason: str) -> FingerprintError:
    """The error for a value that cannot be keyed faithfully, naming its type and the fix."""
    return FingerprintError([], type_name(type(obj)), reason)
