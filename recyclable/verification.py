"""Verification of stored entries: manifests, sizes and checksums of every data file.

`verify_cache` is a minimal, self-contained verifier used by ``recyclable cache
verify``; it quarantines what fails, exactly as a damaged entry found by a
lookup is quarantined.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import xxhash

from recyclable.cache import Cache
from recyclable.manifest import ManifestError, load_manifest

__all__ = ["VerifyReport", "check_entry", "verify_cache"]


@dataclass(frozen=True)
class VerifyReport:
    """What `verify_cache` checked and found.

    Attributes:
        entries: entries checked.
        blobs: data files checked.
        damaged: ``(key, reason)`` of every entry that failed; each was quarantined.

    """

    entries: int
    blobs: int
    damaged: tuple[tuple[str, str], ...]


def verify_cache(cache: Cache, *, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Check every entry's manifest and data checksums; quarantine what fails.

    A quarantined entry is a miss from then on (it is recomputed when next
    needed); nothing that verifies is touched.

    Args:
        cache: the cache.
        progress: called with the number of entries checked so far, every 100.

    """
    store = cache.store
    entries = 0
    checked_blobs: dict[str, str | None] = {}
    damaged: list[tuple[str, str]] = []
    for key in list(store.iter_manifest_keys()):
        data = store.read_manifest(key)
        if data is None:
            continue
        entries += 1
        problem = check_entry(store, key, data, checksums=True, memo=checked_blobs)
        if problem is not None:
            store.quarantine_manifest(key)
            damaged.append((key, problem))
        if progress is not None and entries % 100 == 0:
            progress(entries)
    for digest, problem in checked_blobs.items():
        if problem is not None and problem != "missing":
            store.quarantine_blob(digest)
    return VerifyReport(entries, len(checked_blobs), tuple(damaged))


def check_entry(
    store: Any,
    key: str,
    data: bytes,
    *,
    checksums: bool,
    memo: dict[str, str | None] | None = None,
) -> str | None:
    """Why an entry is damaged, or None when it verifies (``checksums``: hash every data file)."""
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
    if "inline" in stream:
        inline = base64.b64decode(stream["inline"])
        if checksums and xxhash.xxh3_128_hexdigest(inline) != stream["digest"]:
            return "inline data fails its checksum"
    for digest, size in blobs:
        known = memo.get(digest, "") if memo is not None else ""
        if known != "":
            if known is not None:
                return f"data {digest} {known}"
            continue
        problem = _check_blob(store, digest, size, checksums=checksums)
        if memo is not None:
            memo[digest] = problem
        if problem is not None:
            return f"data {digest} {problem}"
    return None


def _check_blob(store: Any, digest: str, size: int, *, checksums: bool) -> str | None:
    actual = store.blob_size(digest)
    if actual is None:
        return "missing"
    if actual != size:
        return f"has {actual} bytes, expected {size}"
    if checksums:
        data = store.read_blob(digest, mmap_mode="r")
        try:
            if data is None:
                return "missing"
            if xxhash.xxh3_128_hexdigest(data) != digest:
                return "fails its checksum"
        finally:
            if isinstance(data, memoryview):
                data.release()
    return None
