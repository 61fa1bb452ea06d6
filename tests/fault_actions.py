"""Steps the fault tests run in child processes (importable through PYTHONPATH=tests)."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from recyclable import Cache, recyclable

#: The shared buffer: 1 MiB, stored as its own blob.
SHARED = np.arange(1 << 17, dtype=np.int64)


@recyclable
def shared_and_big(big_bytes: int) -> dict[str, np.ndarray]:
    """A result holding the shared buffer and then a buffer too large for the disk."""
    return {"a": SHARED, "big": np.ones(big_bytes, dtype=np.uint8)}


@recyclable
def shared_only(blob: str) -> dict[str, np.ndarray]:
    """A result holding only the shared buffer; computed once its blob is on disk."""
    deadline = time.monotonic() + 60
    while not os.path.exists(blob) and time.monotonic() < deadline:
        pass  # a tight loop: publish while the other writer is still writing its big buffer
    return {"a": SHARED}


def main() -> None:
    """``python fault_actions.py CACHE POOL FUNC ARG``: run one step in a pool."""
    cache_dir, pool, func, arg = sys.argv[1:5]
    value = int(arg) if arg.isdigit() else arg
    with Cache(cache_dir).create_pool(pool, reuse=True):
        result = globals()[func](value)
    print(sorted(result))


if __name__ == "__main__":
    main()
