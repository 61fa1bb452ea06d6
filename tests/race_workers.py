"""Functions child processes run in race tests; a light module, so children start fast."""

from __future__ import annotations

import os
import pickle
import random
import time
from typing import Any

import xxhash

from recyclable import Cache
from recyclable.manifest import dump_manifest


def manifest_bytes(key: str, label: str) -> bytes:
    """A valid manifest for ``key`` whose ``writer`` field says who wrote it."""
    stream = pickle.dumps(label)
    return dump_manifest(
        {
            "format": 1,
            "key": key,
            "stream": {
                "digest": xxhash.xxh3_128_hexdigest(stream),
                "inline": "",
                "size": len(stream),
            },
            "buffers": [],
            "compute_seconds": 0.0,
            "writer": label,
        }
    )


def publish(
    location: str,
    options: dict[str, Any] | None,
    key: str,
    label: str,
    barrier: Any,
    results: Any,
    environ: dict[str, str],
) -> None:
    """Open the store, wait for every racer, then publish this racer's manifest for ``key``.

    ``environ`` is what the racer's own environment would hold (credentials):
    a forkserver child inherits the server's environment, not the test's.
    """
    os.environ.update(environ)
    store = Cache(location, storage_options=options).store
    data = manifest_bytes(key, label)
    barrier.wait(timeout=120)
    results.put((label, store.publish_manifest(key, data)))


def open_new_caches(
    urls: list[str],
    options: dict[str, Any] | None,
    barrier: Any,
    results: Any,
    environ: dict[str, str],
) -> None:
    """For each URL: wait for every racer, then open (and so create) the cache there.

    Each racer starts its open a different few milliseconds after the others,
    so that one lists the prefix while another has just created the cache.
    """
    os.environ.update(environ)
    stagger = random.Random(os.getpid())
    for url in urls:
        barrier.wait(timeout=120)
        time.sleep(stagger.uniform(0, 0.03))
        try:
            Cache(url, storage_options=options)
        except Exception as exc:  # reported to the test, which fails on it
            results.put(f"{url}: {type(exc).__name__}: {exc}")
        else:
            results.put("ok")
