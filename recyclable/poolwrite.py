"""The write side of a `Pool`: storing a computed result, and single flight.

Store order: blobs → pool marker → manifest (atomic publish).  The marker
before the manifest means garbage collection, which lists manifests before
markers, can never see a published entry of a live pool as unreferenced.

`PoolWriter` is a base class of `Pool`, not a separate object: a miss calls
``pool.store_result`` and ``pool._write`` directly, with no layer between.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import socket
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import xxhash

from recyclable._crashpoints import crash_point
from recyclable.codec import decode, encode
from recyclable.errors import NotRecyclableWarning
from recyclable.fingerprint import SCHEMA_VERSION, remember_loaded_arrays
from recyclable.lease import Claim
from recyclable.manifest import dump_manifest, mac
from recyclable.roundtrip import digest_or_none, survives
from recyclable.store.local import DamagedBlob, LocalStore
from recyclable.store.publish import load_written, write_blobs

if TYPE_CHECKING:
    from recyclable.cache import Cache
    from recyclable.callkey import CallKey
    from recyclable.pool import Hit, PoolStats
    from recyclable.steps import StepLog
    from recyclable.store.base import Store

__all__ = ["INLINE_MAX", "PoolWriter"]

logger = logging.getLogger("recyclable")

# Pickle streams up to this size live inside the manifest: a small hit then
# costs one file read instead of two.
INLINE_MAX = 16 * 1024

# Read once: each manifest names its writer, and asking costs a system call.
_HOST = socket.gethostname()


class _Withheld(Exception):
    """A store was stopped before publishing (a gate said no): undo it quietly."""


class PoolWriter:
    """Storing results and claiming calls: the half of `Pool` a miss runs through."""

    # Set by `Pool.__init__`.
    cache: Cache
    name: str
    stats: PoolStats
    steps: StepLog
    on_key: Callable[[str], None] | None
    _store: Store
    _marked: set[str]

    if TYPE_CHECKING:

        def lookup(self, callkey: CallKey) -> Hit | None:
            """`Pool.lookup`: what a claim that waited for another writer loads."""

        def _warn_once(self, topic: str, message: str, *, stacklevel: int = 5) -> None: ...

    # --- store ------------------------------------------------------------------------

    def store(
        self,
        callkey: CallKey,
        value: Any,
        seconds: float,
        *,
        gate: Callable[[], bool] | None = None,
    ) -> bool:
        """Store a computed result; True when it was stored.

        The result is returned to the caller whatever happens here: a value
        that cannot be pickled, a read-only cache or a full disk give one
        `RecyclableWarning` and nothing half-written stays behind.

        Args:
            callkey: the call's key.
            value: the result.
            seconds: how long the call took.
            gate: called once the data is written, just before publishing;
                False withdraws the store (e.g. the call changed an argument).

        """
        return self.store_result(callkey, value, seconds, gate=gate)[0]

    def store_result(
        self,
        callkey: CallKey,
        value: Any,
        seconds: float,
        *,
        gate: Callable[[], bool] | None = None,
    ) -> tuple[bool, Any]:
        """Store a computed result and return (stored, the value the caller should get).

        The value returned is the one a hit would load: with a memory-mapped
        cache (``mmap="r"``, the default, or ``"c"``) a result with large
        buffers comes back over the stored blobs, read-only (or
        copy-on-write) exactly as on a hit, so the first run and the re-run
        see the same types, flags and writability.  Otherwise it is
        ``value`` itself.

        A result whose fingerprint changes through the round trip (state
        pickle drops) is not stored: a `NotRecyclableWarning` names its type
        and the fix.
        """
        if self.on_key is not None:
            self.on_key(callkey.key)
        stats = self.stats
        stats.computed += 1
        stats.keys.add(callkey.key)
        if self.cache.read_only:
            self._warn_once(
                "read-only",
                f"recyclable: cache {self.cache.path} is read-only; stored results are "
                "loaded but new results are not kept",
            )
            return False, value
        try:
            stream, buffers = encode(value)
        except Exception as exc:  # noqa: BLE001 - any pickling failure means "not stored"
            self._warn_once(
                f"unpicklable:{callkey.action}",
                f"recyclable: the result of {callkey.action} cannot be stored "
                f"({type(exc).__name__}: {exc}); it is returned but will be recomputed "
                "next time. Return a picklable value to make the step recyclable.",
            )
            return False, value
        digests: list[bytes] = []  # filled as `_write` names each buffer's blob
        loaded: list[Any] = []

        def check() -> bool:
            if gate is not None and not gate():
                return False
            before = digest_or_none(value, buffers, digests)
            if before is None and not (buffers and self._maps_loads()):
                return True  # nothing to compare, nothing to map
            try:
                back, views = self._load_back_rewriting(stream, buffers, digests)
            except Exception as exc:  # noqa: BLE001 - a blob that does not load is not published
                # An equal blob another writer left damaged, say: no entry, the result stands.
                logger.warning(
                    "not storing %s (key %s): its data does not load back (%s)",
                    callkey.action,
                    callkey.key[:12],
                    exc,
                )
                return False
            if not survives(before, back, views, digests):
                self._not_recyclable(callkey, value)
                return False
            loaded.append(back)
            return True

        created: list[str] = []
        try:
            self._write(
                callkey,
                value,
                stream,
                buffers,
                seconds,
                created=created,
                digests=digests,
                gate=check,
            )
        except (OSError, _Withheld) as exc:
            # Free what this attempt added (a full disk needs the space back);
            # a concurrent writer that shares a blob re-writes it after publishing.
            for digest in created:
                with contextlib.suppress(OSError):
                    self._store.delete_blob(digest)
            if self._store.read_manifest(callkey.key) is None:
                with contextlib.suppress(OSError):
                    self._store.remove_marker(self.name, callkey.key)
            if isinstance(exc, OSError):
                self._warn_once(
                    f"oserror:{exc.errno}",
                    f"recyclable: could not store the result of {callkey.action} in "
                    f"{self.cache.path} ({exc.strerror or exc}); results are returned but not "
                    "kept. Free space or fix permissions to resume recycling.",
                )
            return False, value
        return True, loaded[0] if loaded and buffers and self._maps_loads() else value

    def _maps_loads(self) -> bool:
        return self.cache.mmap is not None and isinstance(self._store, LocalStore)

    def _load_back_rewriting(
        self, stream: bytes, buffers: list[memoryview], digests: list[bytes]
    ) -> tuple[Any, list[Any]]:
        """`_load_back`, writing a blob again from our buffer when it is gone or damaged.

        A garbage collection running meanwhile may take a blob not yet
        referenced by a manifest; an equal blob left by another writer may be
        damaged.  Either way our own bytes replace it (a few times at most).
        """
        hexes = [d.hex() for d in digests]
        for _ in range(3):
            try:
                return self._load_back(stream, buffers, digests)
            except DamagedBlob as exc:
                if exc.digest not in hexes:
                    raise
                if exc.present:
                    self._store.quarantine_blob(exc.digest)
                self._store.write_blob(exc.digest, [buffers[hexes.index(exc.digest)]])
        return self._load_back(stream, buffers, digests)

    def _load_back(
        self, stream: bytes, buffers: list[memoryview], digests: list[bytes]
    ) -> tuple[Any, list[Any]]:
        """Decode a result just written, over its blobs as a hit maps them (or its own memory)."""
        views: list[Any] = list(buffers)
        if buffers and self._maps_loads():
            trust = self.cache.verify_loads == "once" and self.cache.secret is None
            store = self._store
            assert isinstance(store, LocalStore)  # `_maps_loads`
            views = [
                load_written(
                    store, d.hex(), b.nbytes, mmap_mode=self.cache.mmap, trust_verdict=trust
                )
                for d, b in zip(digests, buffers, strict=True)
            ]
        back = decode(stream, views)
        if views is not buffers and self.cache.mmap == "r":
            remember_loaded_arrays(back, views, [d.hex() for d in digests])
        return back, views

    def _not_recyclable(self, callkey: CallKey, value: Any) -> None:
        warnings.warn(
            f"recyclable: the result of {callkey.action} ({_type_name(value)}) does not survive "
            "storing: its fingerprint changes through a pickle round trip, so a re-run would "
            "load something else. It is returned but not stored. Give the type a __reduce__ "
            "(or __getstate__/__setstate__) that keeps all its state, or register a "
            "fingerprint with recyclable.register_fingerprint that leaves out what pickling "
            "does not keep.",
            NotRecyclableWarning,
            stacklevel=8,  # the decorated call (through the store's gate)
        )

    def _write(
        self,
        callkey: CallKey,
        value: Any,
        stream: bytes,
        buffers: list[memoryview],
        seconds: float,
        *,
        created: list[str] | None = None,
        digests: list[bytes] | None = None,
        gate: Callable[[], bool] | None = None,
    ) -> None:
        """Write a result's blobs, then (if ``gate`` agrees) its marker and manifest.

        ``created`` collects the blobs this call created (for undoing a failed
        store); ``digests`` each buffer's xxh3_128, which names its blob.
        """
        store = self._store
        created = [] if created is None else created
        digests = [] if digests is None else digests
        local = isinstance(store, LocalStore)
        blob_infos = write_blobs(store, buffers, created, digests, local=local)
        written = sum(buffer.nbytes for buffer in buffers)
        stream_digest = xxhash.xxh3_128_hexdigest(stream)
        if len(stream) <= INLINE_MAX:
            stream_info: dict[str, Any] = {
                "digest": stream_digest,
                "inline": base64.b64encode(stream).decode(),
                "size": len(stream),
            }
        else:
            if store.write_blob(stream_digest, [stream]):
                created.append(stream_digest)
            stream_info = {"digest": stream_digest, "size": len(stream)}
            if self.cache.secret is not None:
                stream_info["mac"] = mac(self.cache.secret, stream)
        written += len(stream)
        if gate is not None and not gate():
            raise _Withheld
        crash_point("after-blob")
        body = {
            "format": 1,
            "key": callkey.key,
            "plugin": callkey.plugin,
            "action": callkey.action,
            "code": callkey.code,
            # A list, not an object: the action's own function comes first.
            "code_parts": [list(item) for item in callkey.code_parts.items()],
            "schema": SCHEMA_VERSION,
            "arguments": [list(pair) for pair in callkey.arguments],
            # Order-free digests, only where they differ: "same items in another order".
            "arguments_unordered": [list(pair) for pair in callkey.unordered_arguments()],
            "stream": stream_info,
            "buffers": blob_infos,
            "result_type": _type_name(value),
            "compute_seconds": round(seconds, 6),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "writer": {"host": _HOST, "pid": os.getpid()},
            "library": _library_version(),
        }
        self.steps.annotate(body)
        store.add_marker(self.name, callkey.key)
        crash_point("after-marker")
        # Refresh every blob just before publishing: garbage collection keeps
        # blobs touched after it started, so one that reused an old blob early
        # in a long store is not mistaken for unreferenced now.
        for info, buffer in zip(blob_infos, buffers, strict=True):
            if not store.touch_blob(info["digest"]):
                store.write_blob(info["digest"], [buffer])
        if "inline" not in stream_info and not store.touch_blob(stream_digest):
            store.write_blob(stream_digest, [stream])
        won = store.publish_manifest(callkey.key, dump_manifest(body, self.cache.secret))
        store.forget_created(created)
        created.clear()  # published: its blobs belong to the entry now, never undo them
        crash_point("after-publish")
        if not store.has_marker(self.name, callkey.key):
            store.add_marker(self.name, callkey.key)  # the pool was removed and re-created
        self._marked.add(callkey.key)
        # A garbage collection that ran between our blob writes and the publish
        # may have removed a blob it saw unreferenced: put it back.
        for info, buffer in zip(blob_infos, buffers, strict=True):
            if store.blob_size(info["digest"]) is None:
                store.write_blob(info["digest"], [buffer])
        if "inline" not in stream_info and store.blob_size(stream_digest) is None:
            store.write_blob(stream_digest, [stream])
        self.stats.bytes_written += written
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "stored %s (key %s, %s; computed in %.3f s%s) in pool %s",
                callkey.action,
                callkey.key[:12],
                _human_bytes(written),
                seconds,
                "" if won else ", another writer's equal entry kept",
                self.name,
            )

    # --- single flight --------------------------------------------------------------

    def claim(self, callkey: CallKey) -> Claim:
        """Wait for the right to compute a call that missed, or for another caller's result.

        Returns:
            A `Claim` whose ``result`` is a `Hit` when another process or
            thread published the result meanwhile; otherwise the caller
            computes, then calls `release`.

        """
        return self.cache.leases.claim(callkey.key, lambda: self.lookup(callkey))

    def release(self, claim: Claim) -> None:
        """Release the lease of a `Claim` (after storing, or when the call raised)."""
        if claim.held:
            self.cache.leases.release(claim.key)


def _type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _library_version() -> str:
    from recyclable import __version__

    return __version__
