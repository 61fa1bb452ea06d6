"""Pool: a named set of stored calls, the context manager that activates it, lookup and store.

Lookups are by key across the whole cache (an entry is stored once and shared
by every pool); a pool's membership markers say which entries it keeps alive.
A hit on an entry another pool stored adds this pool's marker to it.

Store order: blobs → pool marker → manifest (atomic publish).  The marker
before the manifest means garbage collection, which lists manifests before
markers, can never see a published entry of a live pool as unreferenced.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

import xxhash

from recyclable import _context, _env
from recyclable import explain as _explain
from recyclable._context import active_pool
from recyclable._crashpoints import crash_point
from recyclable.callkey import CallKey
from recyclable.codec import decode, encode
from recyclable.errors import MissingCodeError, NotRecyclableWarning, RecyclableWarning
from recyclable.fingerprint import SCHEMA_VERSION, remember_loaded_arrays
from recyclable.lease import Claim
from recyclable.manifest import (
    Manifest,
    ManifestError,
    VerifiedManifests,
    dump_manifest,
    load_manifest,
    mac,
)
from recyclable.roundtrip import digest_or_none, survives
from recyclable.runtable import run_data
from recyclable.steps import Step, StepLog
from recyclable.store.local import DamagedBlob, LocalStore
from recyclable.store.publish import load_written, write_blobs

if TYPE_CHECKING:
    from recyclable.cache import Cache, GarbageReport
    from recyclable.memory import Memory

__all__ = ["Pool", "PoolStats"]

logger = logging.getLogger("recyclable")

# Pickle streams up to this size live inside the manifest: a small hit then
# costs one file read instead of two.
INLINE_MAX = 16 * 1024

# Previous pools of the current context, so `with pool:` restores exactly what
# was active before, per thread and per asyncio task.
_previous: ContextVar[tuple[Pool | None, ...]] = ContextVar("recyclable_previous", default=())

_MISSING = object()


class _Withheld(Exception):
    """A store was stopped before publishing (a gate said no): undo it quietly."""


@dataclass
class PoolStats:
    """What a pool object did in this process: the numbers behind a run summary.

    Attributes:
        loaded: calls answered from the store.
        computed: calls that ran and were stored (or attempted to be).
        seconds_saved: compute time, as originally recorded, of the loaded calls.
        bytes_read: bytes of stored data loaded.
        bytes_written: bytes of data written (blobs already present not counted).
        keys: the keys this pool object touched, loaded or computed.
        steps: each call in order, with nesting, state, time, size and lineage
            (`recyclable.steps.Step`); what the end-of-run table shows.

    """

    loaded: int = 0
    computed: int = 0
    seconds_saved: float = 0.0
    bytes_read: int = 0
    bytes_written: int = 0
    keys: set[str] = field(default_factory=set)
    steps: list[Step] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The numbers and the steps as JSON-able data (what ``recyclable run --json`` gives)."""
        return run_data(self)


class Hit:
    """A stored result found for a call.

    Attributes:
        value: the loaded result.
        manifest: the entry's verified manifest.
        size: bytes of stored data loaded (pickle stream and buffers).

    """

    # A plain slotted class: made on every hit, where a frozen dataclass's
    # __init__ (object.__setattr__ per field) would cost as much as a syscall.
    __slots__ = ("manifest", "size", "value")

    def __init__(self, value: Any, manifest: Manifest, size: int = 0) -> None:
        self.value = value
        self.manifest = manifest
        self.size = size

    def __repr__(self) -> str:
        return f"Hit({self.value!r}, key={self.manifest.get('key')!r})"


class Pool:
    """A named pool in a `Cache`; ``with pool:`` makes recyclable calls use it.

    Create or open one with `Cache.create_pool`.  Entering the pool activates
    it for the current thread or asyncio task and restores the previously
    active pool (or none) on exit, so pools nest.

    Example:
        >>> from recyclable import Cache
        >>> cache = Cache("/tmp/example-cache")          # doctest: +SKIP
        >>> with cache.create_pool("run", reuse=True):   # doctest: +SKIP
        ...     result = my_pipeline(data)

    """

    def __init__(self, cache: Cache, name: str) -> None:
        self.cache = cache
        self.name = name
        self.stats = PoolStats()
        #: The calls of this pool object, for the end-of-run table, progress and the report.
        self.steps = StepLog()
        self.stats.steps = self.steps.steps
        #: Show a progress line on stderr (or on this stream) for steps that run long.
        self.progress: bool | TextIO = False
        self._progress: Any = None
        self._progress_owner = 0
        self._store = cache.store
        self._warned: set[str] = set()
        # Keys this object has seen marked in the pool: a repeated hit need
        # not check the marker again.
        self._marked: set[str] = set()
        # Manifests verified by this object: a repeated hit compares bytes
        # instead of hashing and parsing them again.
        self._verified = VerifiedManifests(cache.secret)
        # The hit path's read: one read() where the store has it (the
        # checksum catches a short one; a failing manifest is read again whole).
        self._read_entry: Callable[[str], bytes | None] = getattr(
            self._store, "read_manifest_quick", self._store.read_manifest
        )
        #: Called with each key before it is looked up or stored; a run record
        #: (`recyclable.runs.RunRecord`) uses it to say which keys a live run needs.
        self.on_key: Callable[[str], None] | None = None

    def __repr__(self) -> str:
        return f"Pool({self.name!r}, cache={str(self.cache.path)!r})"

    # --- context manager --------------------------------------------------------------

    def __enter__(self) -> Pool:
        # Parse the switch now, so a bad value is reported at the `with` line.
        _env.recycling_disabled()
        if self.progress and self._progress is None:
            # Started before the pool is active, so a bad setting leaves nothing active.
            from recyclable.progress import Progress

            self._progress = Progress.start(self, self.progress)
            self._progress_owner = len(_previous.get())
        _context.entering()  # before the pool is active: see decorator._never_pooled
        _previous.set((*_previous.get(), active_pool.get()))
        active_pool.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack = _previous.get()
        if stack:
            active_pool.set(stack[-1])
            _previous.set(stack[:-1])
        else:  # exited in another context than it was entered in
            active_pool.set(None)
        # Only the `with` that started the display stops it (the pool may be entered again inside).
        if self._progress is not None and len(_previous.get()) == self._progress_owner:
            self._progress.stop()
            self._progress = None

    # --- seeing a run -----------------------------------------------------------------

    def summary(self, *, elapsed: float | None = None, failed: bool = False) -> str:
        """The end-of-run table: each step with nesting, state, time or time saved, size; totals."""
        from recyclable.runtable import render_table

        return render_table(self, elapsed=elapsed, failed=failed)

    def report(self, path: str | os.PathLike[str]) -> Path:
        """Write a self-contained HTML page of this run's steps (before any: the pool's entries).

        The page shows the step graph with its lineage edges, each step
        coloured loaded / computed / failed, its time, size and argument
        values on hover or click, the time saved and the slowest steps.  It
        loads nothing from the network.
        """
        from recyclable.report import write_report

        return write_report(self, path)

    def memory(self, **options: Any) -> Memory:
        """joblib.Memory's interface on this pool, for code that takes a ``memory=``.

        Args:
            **options: `recyclable.Memory` options; arrays load as this pool's
                cache loads them unless ``mmap_mode=`` says otherwise.

        Returns:
            A `recyclable.Memory` whose loads and stores count in ``pool.stats``.

        Example:
            >>> pipe = Pipeline(steps, memory=pool.memory())   # doctest: +SKIP

        """
        from recyclable.memory import Memory

        return Memory(self, **options)

    # --- membership -------------------------------------------------------------------

    def keys(self) -> Iterator[str]:
        """The keys of the entries this pool holds.

        Raises:
            CacheIOError: the pool's directory cannot be read (the message says what to fix).

        """
        with self.cache._io(f"list the entries of pool {self.name!r}"):
            yield from self._store.iter_markers(self.name)

    def __len__(self) -> int:
        return sum(1 for _ in self.keys())

    def __contains__(self, key: object) -> bool:
        with self.cache._io(f"read pool {self.name!r}"):
            return isinstance(key, str) and self._store.has_marker(self.name, key)

    def entries(self) -> Iterator[Manifest]:
        """The manifests of the entries this pool holds (entries that fail to parse are skipped)."""
        for key in self.keys():
            data = self._store.read_manifest(key)
            if data is None:
                continue
            try:
                yield load_manifest(data)
            except ManifestError:
                continue

    def remove(self) -> GarbageReport:
        """Remove the pool and reclaim the stored data no other pool uses; report what went.

        Entries still referenced by another pool stay.  Data a running writer
        has staged but not yet published is protected by garbage collection's
        grace period.
        """
        return self.cache.remove_pool(self.name)

    # --- lookup -----------------------------------------------------------------------

    def lookup(self, callkey: CallKey) -> Hit | None:
        """Load the stored result of a call, or None on a miss.

        A damaged entry (bad manifest, missing or corrupt blob, unreadable
        pickle) is a miss: it is moved to quarantine with a `RecyclableWarning`.
        """
        key = callkey.key
        if self.on_key is not None:
            self.on_key(key)
        try:
            data = self._read_entry(key)
        except OSError as exc:
            self._unreadable(exc)
            return None
        if data is None:
            if self._store.has_marker(self.name, callkey.key) and not os.path.exists(
                self.cache.leases.path(callkey.key)
            ):
                # The pool recorded this entry and nobody is writing it: its
                # manifest was deleted, or a store was interrupted.  Unless a
                # writer published and released its lease just after our read.
                data = self._store.read_manifest(callkey.key)
                if data is None:
                    self._reject(
                        callkey, ManifestError("its manifest is missing"), quarantine=False
                    )
                    return None
            else:
                return None
        try:
            verified = self._verified
            if verified.secret is not self.cache.secret:
                verified = self._verified = VerifiedManifests(self.cache.secret)
            try:
                manifest = verified.load(key, data)
            except ManifestError:
                # Judge the whole file as it is now: a short read, or a writer
                # that published again meanwhile, is not damage.
                again = self._store.read_manifest(key)
                if again is None or again == data:
                    raise
                data = again
                manifest = verified.load(key, data)
            value, nbytes = self._load_value(manifest)
        except MissingCodeError as exc:
            # The entry is sound; this process lacks the code it names (a
            # script's class, a module not installed here): a miss, kept.
            self._warn_once(
                f"missing-code:{callkey.key}",
                f"recyclable: the stored result of {callkey.action} (key {callkey.key[:12]}) "
                f"is not loaded: {exc}. It is computed instead; the entry stays.",
                stacklevel=6,
            )
            return None
        except Exception as exc:  # noqa: BLE001 - every failure of a stored entry is a miss
            self._verified.forget(key)
            if isinstance(exc, OSError):
                # The entry may be fine; this process just cannot read it.
                self._unreadable(exc)
                return None
            if isinstance(exc, DamagedBlob):
                if exc.present:
                    self._store.quarantine_blob(exc.digest)
                elif os.path.exists(self.cache.leases.path(callkey.key)):
                    # Its writer is still at work: a collection that ran while it
                    # published may have taken a blob the writer is now putting
                    # back.  A plain miss; single-flight then waits for the writer.
                    return None
            self._reject(callkey, exc, data)
            return None
        if key not in self._marked:
            if not self._store.has_marker(self.name, key):
                self._adopt(callkey, value, manifest)
            self._marked.add(key)
        stats = self.stats
        stats.loaded += 1
        stats.bytes_read += nbytes
        stats.seconds_saved += float(manifest.get("compute_seconds", 0.0))
        stats.keys.add(key)
        return Hit(value, manifest, nbytes)

    def _load_value(self, manifest: Manifest) -> tuple[Any, int]:
        stream: bytes | memoryview | bytearray | None = manifest.inline_stream()
        infos = manifest["buffers"]
        if stream is not None and not infos:
            return decode(stream, ()), len(stream)  # a small result: all in the manifest
        mmap_mode = self.cache.mmap
        store = self._store
        if stream is None:
            stream_info = manifest["stream"]
            # The stream is code for the unpickler: always hashed, never trusted on a verdict.
            stream = store.load_blob(
                stream_info["digest"], stream_info["size"], mmap_mode=None, trust_verdict=False
            )
            if self.cache.secret is not None:
                _authenticate(self.cache.secret, stream_info, stream)
        # A verdict is a file attribute anyone who can write the cache could
        # forge: a signed cache hashes every blob on every load.
        trust = self.cache.verify_loads == "once" and self.cache.secret is None
        buffers = [
            store.load_blob(info["digest"], info["size"], mmap_mode=mmap_mode, trust_verdict=trust)
            for info in infos
        ]
        value = decode(stream, buffers)
        if infos and mmap_mode == "r":
            remember_loaded_arrays(value, buffers, [info["digest"] for info in infos])
        return value, len(stream) + sum(info["size"] for info in infos)

    def _unreadable(self, exc: OSError) -> None:
        """A stored file cannot be read (permissions, I/O): a warned miss, nothing moved."""
        self._warn_once(
            f"unreadable:{exc.errno}",
            f"recyclable: cannot read stored results in cache {self.cache.path} "
            f"({exc.strerror or exc}: {exc.filename}); computing instead. Give your user read "
            "access to the cache, or use a cache of your own.",
        )

    def _adopt(self, callkey: CallKey, value: Any, manifest: Manifest) -> None:
        """Add this pool's marker to an entry another pool stored, so it stays alive."""
        try:
            self._store.add_marker(self.name, callkey.key)
            # Garbage collection may have removed the entry between our read
            # and our marker (it was referenced by nobody then): store it again.
            if self._store.read_manifest(callkey.key) is None:
                stream, buffers = encode(value)
                seconds = float(manifest.get("compute_seconds", 0.0))
                self._write(callkey, value, stream, buffers, seconds)
        except OSError as exc:
            # A read-only cache: the hit stands, the pool just does not record it.
            logger.debug("could not add %s to pool %s: %s", callkey.key[:12], self.name, exc)

    def _reject(
        self,
        callkey: CallKey,
        exc: BaseException,
        judged: bytes | None = None,
        *,
        quarantine: bool = True,
    ) -> None:
        if judged is not None and self._store.read_manifest(callkey.key) != judged:
            # Removed (garbage collection) or replaced (another writer, or a
            # reader that quarantined it) while we loaded it: a plain miss.
            logger.info("entry %s changed while loading (%s): recomputing", callkey.key[:12], exc)
            return
        moved = ""
        if quarantine and self._store.quarantine_manifest(callkey.key, judged):
            moved = "it was moved to quarantine and "
        warnings.warn(
            f"recyclable: stored result of {callkey.action} (key {callkey.key}) in cache "
            f"{self.cache.path} is damaged ({exc}); {moved}it will be recomputed",
            RecyclableWarning,
            stacklevel=4,
        )

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
            "writer": {"host": socket.gethostname(), "pid": os.getpid()},
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

    def _warn_once(self, topic: str, message: str, *, stacklevel: int = 5) -> None:
        if topic in self._warned:
            logger.info("%s", message)
            return
        self._warned.add(topic)
        warnings.warn(message, RecyclableWarning, stacklevel=stacklevel)

    # --- explaining a miss ------------------------------------------------------------

    def explain(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> str:
        """Say whether ``func(*args, **kwargs)`` would be loaded, and if not, why.

        Compares the call with the stored calls of the same action in this
        pool: "new call", "argument 'min_quality' changed", "code of denoise
        changed (helper trim changed)", "library format changed", ...

        Args:
            func: a ``@recyclable`` function or bound method.
            *args: the call's positional arguments.
            **kwargs: the call's keyword arguments.

        Raises:
            TypeError: ``func`` is not recyclable, or the arguments do not fit its signature.
            FingerprintError: an argument cannot be fingerprinted.

        Example:
            >>> pool.explain(denoise, reads, min_quality=25)   # doctest: +SKIP
            "argument 'min_quality' changed"
        """
        return _explain.explain_in_pool(self, func, *args, **kwargs)

    def explain_key(
        self,
        callkey: CallKey,
        *,
        limit: int | None = None,
        unkeyed: Sequence[tuple[str, str]] = (),
    ) -> str:
        """Say why ``callkey`` misses, comparing it with stored calls of the same action.

        ``unkeyed`` gives the (part, reason) of what the step reaches but its
        key leaves out (`ActionSpec.unkeyed`), so the answer can name them.
        """
        return _explain.explain_key_in_pool(self, callkey, limit=limit, unkeyed=unkeyed)


def _authenticate(secret: bytes, stream_info: dict[str, Any], stream: Any) -> None:
    """Check the signed MAC of a pickle stream kept in a blob (unpickling runs code)."""
    expected = stream_info.get("mac")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, mac(secret, stream)):
        raise ManifestError("pickle stream is not signed with this cache's secret")


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


def timed(func: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``func`` and return its result with the wall-clock seconds it took."""
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start
