"""Verification of a cache's store: every manifest and data file checked, damage quarantined.

`Cache.verify` is the public entry point; nothing is unpickled, so verifying
runs no stored code.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import xxhash

from recyclable.forkmap import fork_map
from recyclable.manifest import ManifestError, load_manifest
from recyclable.scan import FIRST_READ, TICK, ProgressHook, read_rest, sharded_names
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
    checks = _Checks(store, secret)
    keys: list[str]
    if isinstance(store, LocalStore):
        # Plain strings and one read per manifest: a cache of 100,000 entries.
        keys = sharded_names(str(store.entries), ".json")
        _verify_halves(store, str(store.entries), keys, checks, progress)
    else:
        keys = list(store.iter_manifest_keys())
        told = 0
        for key in keys:
            data = store.read_manifest(key)
            if data is None:
                continue  # removed meanwhile
            checks.entries += 1
            # Every thousand entries, or every 64 MiB of data hashed.
            if progress is not None and (
                checks.entries & TICK == 1 or checks.bytes - told >= 1 << 26
            ):
                told = checks.bytes
                progress("verifying entries", checks.entries, len(keys))
            if secret is None and _sound_inline(data, key):
                continue
            checks.entry(key, data)
    damaged = checks.damaged
    # A quarantined entry is recomputed on its next call; drop the markers
    # so that call is not reported as an unexplained missing manifest.
    for key, _ in damaged:
        if store.read_manifest(key) is None:
            for pool in store.list_pools():
                with contextlib.suppress(OSError):
                    store.remove_marker(pool, key)
    present = set(keys) - {key for key, _ in damaged}
    dangling = _dangling_markers(store, present)
    for key, reason in damaged:
        logger.warning("verify: entry %s is damaged (%s); moved to quarantine", key, reason)
    return VerifyReport(checks.entries, len(checks.blobs), checks.bytes, damaged, dangling)


#: What a forked child's checks found (see `_Checks.found`).
Found = tuple[int, dict[str, "str | None"], dict[str, int], list[tuple[str, str]], list[Any]]


class _Checks:
    """The full checks of an entry, and what they found so far.

    With ``quarantine`` false (a half of a split pass, which must only read)
    the damage is recorded, not moved: `absorb` moves it afterwards.
    """

    def __init__(self, store: Store, secret: bytes | None, *, quarantine: bool = True) -> None:
        self.store = store
        self.secret = secret
        self.quarantine = quarantine
        self.entries = 0
        self.bytes = 0
        #: Each data file checked: its problem, or None when sound.
        self.blobs: dict[str, str | None] = {}
        #: Bytes read of each data file checked.
        self.read: dict[str, int] = {}
        self.damaged: list[tuple[str, str]] = []
        #: ``(key, bytes)`` of each damaged manifest left in place (quarantine off).
        self.judged: list[tuple[str, bytes]] = []

    def entry(self, key: str, data: bytes) -> None:
        """Check one manifest in full and the data files it references; quarantine damage."""
        store = self.store
        try:
            manifest = load_manifest(data, self.secret)
            if manifest.get("key") != key:
                raise ManifestError("manifest is filed under another key")
            infos = _blob_infos(manifest)
        except (ManifestError, KeyError, TypeError, ValueError) as exc:
            self.damaged.append((key, str(exc)))
            self._quarantine_manifest(key, data)
            return
        problem = None
        checked = self.blobs
        for digest, size in infos:
            if digest not in checked:
                checked[digest], read = _check_blob(store, digest, size)
                self.read[digest] = read
                self.bytes += read
                if checked[digest] is not None and self.quarantine:
                    with contextlib.suppress(OSError):
                        store.quarantine_blob(digest)
            problem = problem or checked[digest]
        if problem is not None:
            self.damaged.append((key, f"blob {problem}"))
            self._quarantine_manifest(key, data)

    def _quarantine_manifest(self, key: str, data: bytes) -> None:
        if not self.quarantine:
            self.judged.append((key, data))
            return
        with contextlib.suppress(OSError):
            self.store.quarantine_manifest(key, data)

    def found(self) -> Found:
        """What these checks found, as plain values (a forked child's result)."""
        return (self.entries, self.blobs, self.read, self.damaged, self.judged)

    def absorb(self, found: Found) -> None:
        """Add what another process's checks found, and quarantine the damage it left."""
        entries, blobs, read, damaged, judged = found
        self.entries += entries
        for digest, problem in blobs.items():
            if digest in self.blobs:
                continue  # checked here too: this verdict stands, its bytes counted once
            self.blobs[digest] = problem
            self.bytes += read[digest]
            if problem is not None:
                with contextlib.suppress(OSError):
                    self.store.quarantine_blob(digest)
        for key, data in judged:
            with contextlib.suppress(OSError):
                self.store.quarantine_manifest(key, data)
        self.damaged.extend(damaged)


def _verify_halves(
    store: LocalStore,
    entries: str,
    keys: list[str],
    checks: _Checks,
    progress: ProgressHook | None,
) -> None:
    """`_verify_local`, the second half of a large cache checked by a forked child.

    The child only reads (`recyclable.forkmap`), and so does this process
    meanwhile: a data file two entries share, quarantined by one half while
    the other reads it, would be reported missing there instead of damaged.
    Each half records the damage it finds; it is quarantined here once both
    are done.  Should the child fail, its half is checked here.
    """

    def work(part: Sequence[str], report: ProgressHook | None) -> Found:
        found = _Checks(store, checks.secret, quarantine=False)
        _verify_local(entries, part, found, report)
        return found.found()

    for found in fork_map(work, keys, progress=progress):
        checks.absorb(found)


def _verify_local(
    entries: str, keys: Sequence[str], checks: _Checks, progress: ProgressHook | None
) -> None:
    """Check the manifests of ``keys`` under ``entries`` and what they reference.

    `recyclable.scan.read_manifests` and `_sound_inline` inlined: at 100,000
    entries a generator's frame and a call per entry are a sixth of the
    pass.  Only an entry that has data files, or is not of the usual shape,
    goes through `_Checks.entry`.
    """
    # `recyclable.scan.read_manifests` inlined: a generator's frame per item
    # is a tenth of the pass at 100,000 entries.
    open_, read, close, flags, whole = os.open, os.read, os.close, os.O_RDONLY, FIRST_READ
    hexdigest = xxhash.xxh3_128_hexdigest
    inline = _INLINE_LOAD.fullmatch if checks.secret is None else None
    magic = len(_MAGIC)
    total = len(keys)
    done = told = 0
    for key in keys:
        try:
            fd = open_(f"{entries}/{key[:2]}/{key}.json", flags)
        except FileNotFoundError:
            continue  # removed since it was listed
        try:
            data = read(fd, whole)
            if len(data) == whole:
                data = read_rest(fd, data)
        finally:
            close(fd)
        done += 1
        # Every thousand entries, or every 64 MiB of data hashed.
        if progress is not None and (done & TICK == 1 or checks.bytes - told >= 1 << 26):
            told = checks.bytes
            progress("verifying entries", done, total)
        if inline is not None:
            # `_sound_inline`, inlined.
            header, _, payload = data.partition(b"\n")
            if (
                header.startswith(_MAGIC)
                and header[magic:].partition(b" ")[0] == hexdigest(payload).encode()
            ):
                load_line, _, meta_line = payload.partition(b"\n")
                match = inline(load_line)
                if match is not None and match[1] == key.encode() and meta_line.isascii():
                    continue
        checks.entry(key, data)
    checks.entries += done


# The load line of an entry whose result is inline and that has no buffers,
# as `recyclable.manifest.dump_manifest` writes it (compact, keys sorted).
# Matching it whole proves what parsing it would: a JSON object, filed under
# the key it names, referencing no data file.
_INLINE_LOAD = re.compile(
    rb'\{"buffers":\[\],"compute_seconds":-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?,'
    rb'"key":"([0-9a-f]+)","stream":\{"digest":"[0-9a-f]+","inline":"[A-Za-z0-9+/=]*",'
    rb'"size":[0-9]+\}\}'
)
_MAGIC = b"recyclable-manifest 1 "


def _sound_inline(data: bytes, key: str) -> bool:
    """True for a sound manifest of ``key`` without data files, checked without parsing it.

    The same checks as `load_manifest` (without a secret) and the key and
    data-file checks of `verify_store`: header, checksum, the load line (by a
    pattern it must match whole) and a meta line that decodes (ASCII, as the
    writer's JSON always is).  False sends the manifest through the full
    checks, which say what is wrong, if anything.
    """
    header, _, payload = data.partition(b"\n")
    if not header.startswith(_MAGIC):
        return False
    if header[len(_MAGIC) :].partition(b" ")[0] != xxhash.xxh3_128_hexdigest(payload).encode():
        return False
    load_line, _, meta_line = payload.partition(b"\n")
    match = _INLINE_LOAD.fullmatch(load_line)
    return match is not None and match.group(1) == key.encode() and meta_line.isascii()


def _dangling_markers(store: Store, present: set[str]) -> int:
    """How many pool markers name no entry in ``present``."""
    if isinstance(store, LocalStore):
        return sum(
            len(set(sharded_names(str(store.pool_dir(pool)))) - present)
            for pool in store.list_pools()
        )
    return sum(
        1 for pool in store.list_pools() for key in store.iter_markers(pool) if key not in present
    )


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
    try:
        fd = os.open(f"{store.objects}/{digest[:2]}/{digest}", os.O_RDONLY)
    except FileNotFoundError:
        return f"{digest} missing", 0
    try:
        # One read of the known size and a byte more, unbuffered, straight
        # into the hasher: a short read of a regular file is its end, so a
        # blob of the right size needs no second read to find it.
        want = max(1, min(size + 1, 1 << 24))
        chunk = os.read(fd, want)
        hasher.update(chunk)
        read = len(chunk)
        if read == want:
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
