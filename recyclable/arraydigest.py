"""numpy arrays' digests: their C-order bytes, and digests already known for some arrays.

An array's bytes are hashed from its own buffer (blockwise when it is not
C-contiguous, so no full-size copy is made).  Two shortcuts avoid hashing the
same bytes twice: while a result is stored, arrays exactly over a buffer just
hashed to name its blob take that digest (`known_buffers`), and a read-only
array loaded from a verified blob carries the blob's digest, which equals its
own (`remember_loaded_arrays`).  Writable arrays are always hashed.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import weakref
from typing import Any

import xxhash

__all__ = ["array_digest", "known_buffers", "remember_loaded_arrays"]

# A numpy array is hashed in blocks of about this many bytes when it is not
# C-contiguous, so no full-size temporary copy is ever made.
_BLOCK_BYTES = 16 * 1024 * 1024

_local = threading.local()


def array_digest(arr: Any) -> bytes:
    """xxh3_128 of an array's bytes in C order, without a full copy for strided arrays."""
    known = _propagated.get(id(arr))
    if known is not None and not arr.flags.writeable and known[0]() is arr:
        return known[1]
    spans = getattr(_local, "spans", None)
    if spans and arr.flags.c_contiguous:
        # Bytes whose xxh3_128 was just taken as a blob's name (`known_buffers`).
        digest: bytes | None = spans.get((arr.__array_interface__["data"][0], arr.nbytes))
        if digest is not None:
            return digest
    numpy = sys.modules["numpy"]
    hasher = xxhash.xxh3_128()
    if arr.flags.c_contiguous:
        hasher.update(arr.reshape(-1).view(numpy.uint8))
    elif arr.ndim == 0:
        hasher.update(numpy.ascontiguousarray(arr).reshape(-1).view(numpy.uint8))
    else:
        row_bytes = max(1, arr[0:1].nbytes)
        step = max(1, _BLOCK_BYTES // row_bytes)
        for start in range(0, arr.shape[0], step):
            block = numpy.ascontiguousarray(arr[start : start + step])
            hasher.update(block.reshape(-1).view(numpy.uint8))
    return hasher.digest()


@contextlib.contextmanager
def known_buffers(buffers: list[Any], digests: list[bytes]) -> Any:
    """While active in this thread, arrays exactly over one of ``buffers`` take its digest.

    Storing a result hashes each out-of-band buffer to name its blob; the
    round-trip check then fingerprints the value twice without hashing
    those bytes again.
    """
    numpy = sys.modules.get("numpy")
    spans: dict[tuple[int, int], bytes] = {}
    if numpy is not None:
        for buffer, digest in zip(buffers, digests, strict=True):
            if buffer.nbytes:
                address = numpy.frombuffer(buffer, dtype=numpy.uint8).__array_interface__["data"][0]
                spans[(address, buffer.nbytes)] = digest
    outer = getattr(_local, "spans", None)
    _local.spans = spans
    try:
        yield
    finally:
        _local.spans = outer


# Arrays loaded read-only from a verified blob, by id: the blob's name is the
# xxh3_128 of exactly the array's C-order bytes, which is the array's digest.
_propagated: dict[int, tuple[weakref.ref[Any], bytes]] = {}
_WALK_DEPTH = 3


def remember_loaded_arrays(value: Any, buffers: list[Any], digests: list[str]) -> None:
    """Attach known digests to the read-only arrays of a value just loaded from blobs.

    Only an array that is exactly a read-only blob (same address and size,
    C-contiguous, not writeable) gets one: nothing can change its bytes, so
    hashing it again when it is passed to the next action would be wasted work.
    Writable values (copy-on-write or in-memory loads, or anything the user
    made) are always hashed.
    """
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return
    spans: dict[tuple[int, int], bytes] = {}
    for buffer, digest in zip(buffers, digests, strict=True):
        if isinstance(buffer, memoryview) and buffer.readonly and buffer.nbytes:
            address = numpy.frombuffer(buffer, dtype=numpy.uint8).__array_interface__["data"][0]
            spans[(address, buffer.nbytes)] = bytes.fromhex(digest)
    if spans:
        _walk_arrays(value, spans, numpy.ndarray, _WALK_DEPTH)


def _walk_arrays(
    value: Any, spans: dict[tuple[int, int], bytes], ndarray: type, depth: int
) -> None:
    cls = type(value)
    if cls is ndarray:
        if value.flags.c_contiguous and not value.flags.writeable:
            digest = spans.get((value.__array_interface__["data"][0], value.nbytes))
            if digest is not None:
                _remember(value, digest)
        return
    if depth == 0:
        return
    if cls is dict:
        items: Any = value.values()
    elif cls is list or cls is tuple:
        items = value
    else:
        return
    for item in items:
        _walk_arrays(item, spans, ndarray, depth - 1)


def _remember(arr: Any, digest: bytes) -> None:
    key = id(arr)

    def forget(_ref: weakref.ref[Any]) -> None:
        _propagated.pop(key, None)

    _propagated[key] = (weakref.ref(arr, forget), digest)
