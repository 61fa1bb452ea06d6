"""Pool: a named set of stored calls, the context manager that activates it, lookup and store.

Lookups are by key across the whole cache (an entry is stored once and shared
by every pool); a pool's membership markers say which entries it keeps alive.
A hit on an entry another pool stored adds this pool's marker to it.

Storing a result and single flight are `recyclable.poolwrite.PoolWriter`'s,
a base class of `Pool`.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from recyclable import _context, _env
from recyclable import explain as _explain
from recyclable._context import active_pool
from recyclable.callkey import CallKey
from recyclable.codec import decode, encode
from recyclable.errors import MissingCodeError, RecyclableWarning
from recyclable.fingerprint import remember_loaded_arrays
from recyclable.manifest import (
    Manifest,
    ManifestError,
    VerifiedManifests,
    load_manifest,
    mac,
)
from recyclable.poolwrite import PoolWriter
from recyclable.runtable import run_data
from recyclable.steps import Step, StepLog
from recyclable.store.local import DamagedBlob

if TYPE_CHECKING:
    from recyclable.cache import Cache, GarbageReport
    from recyclable.memory import Memory

__all__ = ["Pool", "PoolStats"]

logger = logging.getLogger("recyclable")

# Previous pools of the current context, so `with pool:` restores exactly what
# was active before, per thread and per asyncio task; each with the
# `_context.Activation` of the entry that replaced it, which this stack keeps
# alive in every context where that entry's pool may be active.
_previous: ContextVar[tuple[tuple[Pool | None, _context.Activation], ...]] = ContextVar(
    "recyclable_previous", default=()
)

_MISSING = object()


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
        saved: the compute time the entry recorded (seconds).

    """

    # A plain slotted class: made on every hit, where a frozen dataclass's
    # __init__ (object.__setattr__ per field) would cost as much as a syscall.
    __slots__ = ("manifest", "saved", "size", "value")

    def __init__(self, value: Any, manifest: Manifest, size: int = 0, saved: float = 0.0) -> None:
        self.value = value
        self.manifest = manifest
        self.size = size
        self.saved = saved

    def __repr__(self) -> str:
        return f"Hit({self.value!r}, key={self.manifest.get('key')!r})"


class Pool(PoolWriter):
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
        # The activation is alive before the pool is active (see `_context.live`).
        _previous.set((*_previous.get(), (active_pool.get(), _context.Activation())))
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
            active_pool.set(stack[-1][0])
            _previous.set(stack[:-1])  # lets go of this entry's activation, after
        else:  # exited in another context than it was entered in
            active_pool.set(None)
        # Only the `with` that started the display stops it (the pool may be entered again inside).
        if self._progress is not None and len(_previous.get()) == self._progress_owner:
            self._progress.stop()
            self._progress = None
        # The lease files kept for the next claims go with the run (`recyclable.leasespare`).
        self.cache.leases.drop_spares()

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
        saved = float(manifest.get("compute_seconds", 0.0))
        stats = self.stats
        stats.loaded += 1
        stats.bytes_read += nbytes
        stats.seconds_saved += saved
        stats.keys.add(key)
        return Hit(value, manifest, nbytes, saved)

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


def timed(func: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``func`` and return its result with the wall-clock seconds it took."""
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start
