"""Verification of a cache's store: every manifest and data file checked, damage quarantined.

`Cache.verify` is the public entry point; nothing is unpickled, so verifying
runs no stored code.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import xxhash

from recyclable.collect import _manifest_bytes
from recyclable.manifest import ManifestError, load_manifest
from recyclable.scan import TICK, ProgressHook
from recyclable.store.base import Store
from recyclable.store.local import DamagedBlob, LocalStore

__all__ = ["VerifyReport", "verify_store"]

logger = logging.getLogger("recyclable")


@dataclass(frozen=True)
class VerifyReport:
    """What `Cache.verify` found.

    Attributes:
        entries: manifests checked.
        blobs: blobs checked (each read in full and checksummed).
        bytes: bytes of blob data checksummed.
        damaged: ``(key, reason)`` of every entry that failed and was quarantined.
        dangling_markers: pool markers whose entry does not exist (harmless:
            such a call is recomputed).

    """

    entries: int
    blobs: int
    bytes: int
    damaged: list[tuple[str, str]] = field(default_factory=list)
    dangling_markers: int = 0

    @property
    def ok(self) -> bool:
        """True when no entry was damaged."""
        return not self.damaged


def verify_store(
    store: Store, secret: bytes | None, *, progress: ProgressHook | None = None
) -> VerifyReport:
    """Check every entry: manifest checksum (and signature), every blob's size and checksum.

    Damaged entries are moved to quarantine, exactly as a load would, and
    dropped from their pools, so the next call of the same step recomputes
    it.  Nothing is unpickled, so verifying runs no stored code.

    Returns:
        A `VerifyReport`; its ``damaged`` list names each quarantined entry and why.

    """
    checked_blobs: dict[str, str | None] = {}
    damaged: list[tuple[str, str]] = []
    entries = 0
    nbytes = 0
    keys = list(store.iter_manifest_keys())
    told = 0
    for done, key in enumerate(keys, 1):
        # Every thousand entries, or every 64 MiB of data hashed.
        if progress is not None and (done & TICK == 1 or nbytes - told >= 1 << 26):
            told = nbytes
            progress("verifying entries", done, len(keys))
        data = _manifest_bytes(store, key)
        if data is None:
            continue  # removed meanwhile
        entries += 1
        try:
            manifest = load_manifest(data, secret)
            if manifest.get("key") != key:
                raise ManifestError("manifest is filed under another key")
            infos = _blob_infos(manifest)
        except (ManifestError, KeyError, TypeError, ValueError) as exc:
            damaged.append((key, str(exc)))
            with contextlib.suppress(OSError):
                store.quarantine_manifest(key, data)
            continue
        problem = None
        for digest, size in infos:
            if digest not in checked_blobs:
                checked_blobs[digest], read = _check_blob(store, digest, size)
                nbytes += read
                if checked_blobs[digest] is not None:
                    with contextlib.suppress(OSError):
                        store.quarantine_blob(digest)
            problem = problem or checked_blobs[digest]
        if problem is not None:
            damaged.append((key, f"blob {problem}"))
            with contextlib.suppress(OSError):
                store.quarantine_manifest(key, data)
    # A quarantined entry is recomputed on its next call; drop the markers
    # so that call is not reported as an unexplained missing manifest.
    for key, _ in damaged:
        if store.read_manifest(key) is None:
            for pool in store.list_pools():
                with contextlib.suppress(OSError):
                    store.remove_marker(pool, key)
    present = set(keys) - {key for key, _ in damaged}
    dangling = sum(
        1 for pool in store.list_pools() for key in store.iter_markers(pool) if key not in present
    )
    for key, reason in damaged:
        logger.warning("verify: entry %s is damaged (%s); moved to quarantine", key, reason)
    return VerifyReport(entries, len(checked_blobs), nbytes, damaged, dangling)


def _blob_infos(manifest: Mapping[str, object]) -> list[tuple[str, int]]:
    infos: list[tuple[str, int]] = []
    stream = manifest["stream"]
    if not isinstance(stream, dict):
        raise ManifestError("stream record is not an object")
    if "inline" not in stream:
        infos.append((str(stream["digest"]), int(stream["size"])))
    buffers = manifest["buffers"]
    if not isinstance(buffers, list):
        raise ManifestError("buffers record is not a list")
    infos.extend((str(info["digest"]), int(info["size"])) for info in buffers)
    return infos


def _check_blob(store: Store, digest: str, size: int) -> tuple[str | None, int]:
    """Read a blob in full and checksum it: (problem or None, bytes read)."""
    if not isinstance(store, LocalStore):
        try:
            store.load_blob(digest, size, mmap_mode=None, trust_verdict=False)
        except DamagedBlob as exc:
            return f"{digest} {exc.reason}", 0
        return None, size
    hasher = xxhash.xxh3_128()
    read = 0
    try:
        fd = os.open(f"{store.objects}/{digest[:2]}/{digest}", os.O_RDONLY)
    except FileNotFoundError:
        return f"{digest} missing", 0
    try:
        # Unbuffered reads straight into the hasher: most blobs take one read.
        while chunk := os.read(fd, 1 << 22):
            hasher.update(chunk)
            read += len(chunk)
    finally:
        os.close(fd)
    if read != size:
        return f"{digest} has {read} bytes, expected {size}", read
    if hasher.hexdigest() != digest:
        return f"{digest} fails its checksum", read
    return None, read
