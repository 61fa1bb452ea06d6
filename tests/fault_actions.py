"""Steps the fault tests run in child processes (importable through PYTHONPATH=tests)."""

from __future__ import annotations

import sys

import crash_hook
import numpy as np

from recyclable import Cache, recyclable

#: The shared buffer: 1 MiB, stored as its own blob.
SHARED = np.arange(1 << 17, dtype=np.int64)


@recyclable
def shared_medium_and_big(big_bytes: int) -> dict[str, np.ndarray]:
    """The shared buffer, a medium one that fits, then one too large for the disk.

    The medium buffer's write is where a test holds the writer (its
    ``mid-blob`` point, the second of the store), after the shared blob is
    published and before the large one fails.
    """
    return {
        "a": SHARED,
        "b": np.full(1 << 17, 7, dtype=np.int64),
        "big": np.ones(big_bytes, dtype=np.uint8),
    }


@recyclable
def shared_only(blob: str) -> dict[str, np.ndarray]:
    """A result holding only the shared buffer."""
    return {"a": SHARED}


def main() -> None:
    """``python fault_actions.py CACHE POOL FUNC ARG``: run one step in a pool."""
    crash_hook.install_from_environment()
    cache_dir, pool, func, arg = sys.argv[1:5]
    value = int(arg) if arg.isdigit() else arg
    with Cache(cache_dir).create_pool(pool, reuse=True):
        result = globals()[func](value)
    print(sorted(result))


if __name__ == "__main__":
    main()
