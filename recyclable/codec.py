"""Result ↔ bytes: pickle protocol 5 with large buffers kept out of band.

`encode` returns the in-band pickle stream plus every large contiguous buffer
(numpy arrays, pandas blocks, anything exposing ``PickleBuffer``) as a
separate zero-copy memoryview, so the store can write each straight from the
value's own memory.  `decode` accepts the buffers back as memoryviews (for
instance of a memory-mapped file), so a large array comes back as a view of the
file rather than a copy.

The codec knows nothing about where bytes go.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

__all__ = ["OUT_OF_BAND_MIN", "decode", "encode"]

#: Buffers at least this large are stored as separate blobs; smaller ones stay
#: in the pickle stream, where a separate file would cost more than it saves.
OUT_OF_BAND_MIN = 64 * 1024


def encode(value: Any) -> tuple[bytes, list[memoryview]]:
    """Pickle ``value``; return the stream and its large out-of-band buffers.

    Raises:
        Exception: whatever pickle raises for a value it cannot serialise.

    """
    buffers: list[memoryview] = []

    def keep_large(buffer: pickle.PickleBuffer) -> bool:
        view = buffer.raw()
        if view.nbytes < OUT_OF_BAND_MIN:
            return True  # in band
        buffers.append(view)
        return False

    data = pickle.dumps(value, protocol=5, buffer_callback=keep_large)
    return data, buffers


def decode(data: bytes | bytearray | memoryview, buffers: Sequence[Any]) -> Any:
    """Unpickle a stream produced by `encode`, with its buffers in the same order."""
    return pickle.loads(data, buffers=buffers)
