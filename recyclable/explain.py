"""Why a call would miss: `explain_call` compares it with the closest stored call.

The library function behind ``recyclable cache explain``; it only reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recyclable.cache import Cache, validate_pool_name
from recyclable.callkey import CallKey
from recyclable.manifest import Manifest, ManifestError, load_manifest
from recyclable.pool import _differences

__all__ = ["Explanation", "check_entry", "explain_call"]

# How many stored calls `explain_call` compares with, at most.
_EXPLAIN_LIMIT = 5000


@dataclass(frozen=True)
class Explanation:
    """Whether a call would be loaded, and if not, why.

    Attributes:
        hit: a stored, complete entry exists for the call.
        key: the call's key.
        action: the action.
        reason: one sentence: what is stored, or what differs from the closest stored call.

    """

    hit: bool
    key: str
    action: str
    reason: str


def explain_call(cache: Cache, callkey: CallKey, pool: str | None = None) -> Explanation:
    """Say whether ``callkey`` would be loaded from ``cache``, and if not, why.

    Lookups are by key across the whole cache, so a hit does not depend on the
    pool; a miss is explained against the closest stored call of the same
    action, in ``pool`` first and then anywhere in the cache.

    Args:
        cache: the cache.
        callkey: the call (``func.__recyclable__.key_for(bound_arguments)``).
        pool: the pool the call would run in, to look for similar calls first.

    """
    store = cache.local_store
    data = store.read_manifest(callkey.key)
    if data is not None:
        problem = check_entry(store, callkey.key, data)
        if problem is None:
            manifest = load_manifest(data)
            return Explanation(
                True,
                callkey.key,
                callkey.action,
                f"stored {manifest.get('created', '')} (computed in "
                f"{float(manifest.get('compute_seconds', 0.0)):.3f} s): it would be loaded",
            )
        return Explanation(
            False,
            callkey.key,
            callkey.action,
            f"an entry exists but is damaged ({problem}): it would be recomputed",
        )
    candidates: list[str] = []
    if pool is not None and store.pool_exists(validate_pool_name(pool)):
        candidates.extend(store.iter_markers(pool))
    seen = set(candidates)
    candidates.extend(k for k in store.iter_manifest_keys() if k not in seen)
    best: list[str] | None = None
    for key in candidates[:_EXPLAIN_LIMIT]:
        stored = _read(store, key)
        if stored is None:
            continue
        if stored.get("plugin") != callkey.plugin or stored.get("action") != callkey.action:
            continue
        reasons = _differences(callkey, stored)
        if best is None or len(reasons) < len(best):
            best = reasons
    if best is None:
        reason = f"new call: no stored call of {callkey.action} in cache {cache.path}"
    else:
        reason = "closest stored call differs: " + ("; ".join(best) or "in no component")
    return Explanation(False, callkey.key, callkey.action, reason)


def check_entry(store: Any, key: str, data: bytes) -> str | None:
    """Why an entry would not load, or None when it looks sound.

    Checks the manifest (checksum, fields) and that every blob exists with
    its recorded size, without reading the blobs: a quick answer for
    ``explain``.  `Cache.verify` hashes everything.
    """
    try:
        manifest = load_manifest(data)
    except ManifestError as exc:
        return f"manifest: {exc}"
    if manifest.get("key") != key:
        return "manifest is filed under another key"
    try:
        stream = manifest["stream"]
        parts = [] if "inline" in stream else [stream]
        parts.extend(manifest["buffers"])
        blobs = [(str(part["digest"]), int(part["size"])) for part in parts]
    except (KeyError, TypeError, ValueError) as exc:
        return f"manifest lacks a field ({exc})"
    for digest, size in blobs:
        actual = store.blob_size(digest)
        if actual is None:
            return f"data {digest} missing"
        if actual != size:
            return f"data {digest} has {actual} bytes, expected {size}"
    return None


def _read(store: Any, key: str) -> Manifest | None:
    data = store.read_manifest(key)
    if data is None:
        return None
    try:
        return load_manifest(data)
    except ManifestError:
        return None
