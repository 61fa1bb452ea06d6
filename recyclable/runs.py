"""Run records: which keys each run of a pool needs, so that finishing one run never undoes another.

A run registers itself in its pool as ``pools/<pool>/.runs/<host>.<pid>.<random>.run``
(markers live in two-hex-character shard directories, so a dot-directory never
clashes with them).  The file holds one JSON header line ``{host, pid,
pid_start, started, identity}`` and then one key per line, appended *before*
the key is looked up or stored.  While the run lives its record is refreshed by
a heartbeat; a run that fails re-adds the markers of the stored keys it used,
appends ``#ended`` and leaves the record.

A record is **live** when it is not ended and its process runs: on the same
host, the pid exists and started when the record says; on another host (a
shared filesystem), the heartbeat is younger than `STALE_SECONDS`.  A record
left behind by a run that failed or was killed is **unfinished**.

When a run succeeds and releases its pool (`RunRecord.finish` with
``release=True``, what ``recyclable run`` does with its default pool), it
removes the markers of the keys it used, and of the keys of unfinished runs of
the *same call* (same identity: the run it resumed), except keys that a live
run or an unfinished run of *other* parameters also used: their progress stays.
The pool directory goes only when no marker and no record is left, and garbage
collection then reclaims the entries no pool references.

Garbage collection treats every key in a live record as referenced, so an entry
a live run is loading survives even if another run has just dropped its marker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import xxhash

from recyclable.errors import CacheIOError, RecyclableError
from recyclable.fingerprint import fingerprint
from recyclable.lease import process_start_time
from recyclable.store.local import LocalStore, temp_name, write_new_file

if TYPE_CHECKING:
    from recyclable.cache import GarbageReport
    from recyclable.pool import Pool
    from recyclable.store.base import Store

__all__ = [
    "HEARTBEAT_SECONDS",
    "STALE_SECONDS",
    "ReleaseReport",
    "RunInfo",
    "RunRecord",
    "call_identity",
    "list_runs",
    "live_run_keys",
]

logger = logging.getLogger("recyclable")

#: How often a live run refreshes its record.
HEARTBEAT_SECONDS = 30.0
#: A record from another host whose heartbeat is older than this is not live.
STALE_SECONDS = 300.0

RUNS_DIR = ".runs"
_ENDED = b"#ended\n"
# Tries to create the record while finishing runs remove the empty pool directory.
_LINK_ATTEMPTS = 20
_KEY_RE = re.compile(r"\A[0-9a-f]{32}\Z")
_HOST = socket.gethostname() or "host"


@dataclass(frozen=True)
class RunInfo:
    """One run registered in a pool.

    Attributes:
        path: the record file.
        host: the host the run ran on.
        pid: its process id there.
        started: when it started (ISO 8601, UTC).
        identity: the call it ran (see `call_identity`), or None.
        keys: the keys it looked up or stored.
        live: whether its process still runs.
        heartbeat: the record's last refresh (epoch seconds).

    """

    path: Path
    host: str
    pid: int
    started: str
    identity: str | None
    keys: frozenset[str]
    live: bool
    heartbeat: float


@dataclass(frozen=True)
class ReleaseReport:
    """What finishing a run did to its pool.

    Attributes:
        released: markers removed from the pool.
        kept: markers of keys this run used that stay for other runs.
        superseded: unfinished earlier runs of the same call whose records were retired.
        remaining: markers left in the pool afterwards.
        pool_removed: the pool directory is gone.
        garbage: what the garbage collection that followed removed, if one ran.

    """

    released: int
    kept: int
    superseded: int
    remaining: int
    pool_removed: bool
    garbage: GarbageReport | None


def call_identity(plugin: str, action: str, arguments: dict[str, Any]) -> str | None:
    """A digest of one top-level call (action and bound arguments), or None if unhashable.

    Two runs with the same identity ran the same command, so the later
    successful one may retire the earlier one's record.
    """
    hasher = xxhash.xxh3_128()
    hasher.update(f"{plugin}\0{action}\0".encode())
    try:
        for name in sorted(arguments):
            hasher.update(name.encode() + b"\0")
            hasher.update(fingerprint(arguments[name], where=f"argument {name!r}"))
    except Exception:  # noqa: BLE001 - an unhashable call is simply never "the same"
        return None
    return hasher.hexdigest()


class RunRecord:
    """Registers one run in a pool and records every key it uses.

    Use as a context manager around the run, outside or inside ``with pool:``.
    Leaving it with an exception keeps the record (the run is unfinished and
    its progress stays); leaving it normally removes the record but no marker.
    Call `finish` with ``release=True`` inside the block to also give the pool
    back (see the module docstring).

    Args:
        pool: the pool the run uses.
        identity: what the run computes (see `call_identity`); None never matches.
        heartbeat: seconds between refreshes of the record.

    Example:
        >>> with RunRecord(pool, identity=ident) as run, pool:   # doctest: +SKIP
        ...     result = pipeline(data)
        ...     run.finish(release=True)

    """

    def __init__(
        self, pool: Pool, *, identity: str | None = None, heartbeat: float = HEARTBEAT_SECONDS
    ) -> None:
        self.pool = pool
        self.identity = identity
        self.heartbeat = heartbeat
        self.path: Path | None = None
        self._keys: set[str] = set()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed_write = False

    @property
    def keys(self) -> frozenset[str]:
        """The keys this run has used so far."""
        return frozenset(self._keys)

    def __enter__(self) -> RunRecord:
        if self.path is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.path is None:
            return
        if exc_type is None:
            self.finish(release=False)
        else:
            self.abandon()

    def start(self) -> None:
        """Write the record and attach it to the pool.

        Raises:
            ValueError: the pool object already has a run record attached.
            CacheIOError: the record cannot be written (a read-only or full
                cache); the run can go on without one, loading what is stored.

        """
        try:
            self._register()
        except OSError as exc:
            if isinstance(exc, RecyclableError):
                raise
            raise CacheIOError.from_os_error(
                exc, f"register the run in pool {self.pool.name!r}", self.pool.cache.path
            ) from None

    def _register(self) -> None:
        pool = self.pool
        if pool.on_key is not None:
            raise ValueError(
                f"pool {pool.name!r} already has a run record attached in this process; "
                "finish that run first, or open the pool through another Cache object"
            )
        store = pool.cache.local_store
        runs = store.pool_dir(pool.name) / RUNS_DIR
        header = {
            "host": _HOST,
            "pid": os.getpid(),
            "pid_start": process_start_time(os.getpid()),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "identity": self.identity,
        }
        # Staged and linked, so a reader never sees a record without its header.
        store.make_dirs(store.tmp)
        staged = store.tmp / temp_name("run")
        write_new_file(
            staged,
            [(json.dumps(header, sort_keys=True) + "\n").encode()],
            mode=store.file_mode,
            exact_mode=store.shared,
        )
        host = _HOST.replace(os.sep, "_")[:64]
        final = runs / f"{host}.{os.getpid()}.{secrets.token_hex(6)}.run"
        try:
            for attempt in range(_LINK_ATTEMPTS):
                try:
                    # The cache's modes: group members of a shared cache add runs too.
                    store.make_dirs(runs)
                    os.link(staged, final)
                    break
                except FileNotFoundError:
                    # Another run's release removed the empty pool directory
                    # after (or during) our mkdir: create it again and retry.
                    if attempt == _LINK_ATTEMPTS - 1:
                        raise
        finally:
            staged.unlink()
        self.path = final
        self._fd = os.open(final, os.O_WRONLY | os.O_APPEND)
        pool.on_key = self.note
        if self.heartbeat > 0:
            self._thread = threading.Thread(
                target=self._beat, name="recyclable-run-heartbeat", daemon=True
            )
            self._thread.start()

    def note(self, key: str) -> None:
        """Record that this run uses ``key`` (called by the pool before each lookup and store)."""
        if key in self._keys:
            return
        with self._lock:
            if key in self._keys or self._fd is None:
                return
            try:
                os.write(self._fd, (key + "\n").encode())
            except OSError as exc:
                # Without the line another run may drop this key's marker: a
                # later miss, never a wrong hit.
                if not self._failed_write:
                    self._failed_write = True
                    logger.warning("could not update run record %s: %s", self.path, exc)
            self._keys.add(key)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            path = self.path
            if path is None:
                return
            try:
                os.utime(path)
            except FileNotFoundError:
                return
            except OSError as exc:
                logger.debug("run record heartbeat failed: %s", exc)

    def _detach(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.pool.on_key == self.note:
            self.pool.on_key = None
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _keep_markers(self) -> None:
        """Mark every stored entry this run used, before the record stops protecting them.

        Another run's release may have removed a marker this run still needed
        (it noted the key just after that run read the records).
        """
        store = self.pool.cache.local_store
        for key in list(self._keys):
            if store.manifest_path(key).exists():
                store.add_marker(self.pool.name, key)

    def abandon(self) -> None:
        """End the run as unfinished: the record and every marker stay for a resumption."""
        if self.path is None:
            return
        self._keep_markers()
        # The process may live on (an in-process caller): say the run is over.
        with self._lock:
            if self._fd is not None:
                try:
                    os.write(self._fd, _ENDED)
                except OSError as exc:
                    logger.warning("could not mark run record %s as ended: %s", self.path, exc)
        self._detach()

    def finish(self, *, release: bool) -> ReleaseReport:
        """End the run successfully; with ``release`` give back what it used.

        Args:
            release: remove the markers this run (and the unfinished earlier
                runs of the same call) used, unless other runs need them; remove
                the pool when it ends up empty; then collect garbage.

        Returns:
            What happened to the pool.

        Raises:
            ValueError: the run was not started.

        """
        path = self.path
        if path is None:
            raise ValueError("RunRecord.finish() called on a run that was not started")
        self._detach()
        self.path = None
        pool = self.pool
        store = pool.cache.local_store
        if not release:
            self._keep_markers()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return ReleaseReport(0, 0, 0, _count(store.iter_markers(pool.name)), False, None)
        superseded = [
            run
            for run in list_runs(pool)
            if run.path != path
            and not run.live
            and self.identity is not None
            and run.identity == self.identity
        ]
        candidates = set(self._keys)
        for run in superseded:
            candidates |= run.keys
        for run in superseded:
            with contextlib.suppress(FileNotFoundError):
                run.path.unlink()
        # Our record goes before the records are read: of two runs finishing
        # at once, each sharing keys with the other, at least the later one
        # then reads no record of the other and removes the shared markers.
        # (Read before unlinking, each would spare them for the other.)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        protect: set[str] = set()
        for run in list_runs(pool):
            protect |= run.keys
        release_keys = candidates - protect
        for key in release_keys:
            store.remove_marker(pool.name, key)
        # A run that noted one of these keys after `list_runs` above may just
        # have lost its marker; garbage collection still spares the entry (it
        # is in a live record), and that run re-adds the marker if it ends
        # without releasing (see `_keep_markers`).  Re-adding markers here
        # instead would race with that run's own release and leak them.
        released = release_keys
        pool_removed = store.remove_pool_if_empty(pool.name)
        garbage = pool.cache.garbage_collect() if released else None
        remaining = 0 if pool_removed else _count(store.iter_markers(pool.name))
        report = ReleaseReport(
            released=len(released),
            kept=len(self._keys & protect),
            superseded=len(superseded),
            remaining=remaining,
            pool_removed=pool_removed,
            garbage=garbage,
        )
        logger.debug(
            "released %d marker(s) of pool %s, kept %d for other runs, retired %d unfinished "
            "run(s) of the same call; pool %s",
            report.released,
            pool.name,
            report.kept,
            report.superseded,
            "removed" if pool_removed else f"keeps {remaining} entries",
        )
        return report


def list_runs(pool: Pool, *, now: float | None = None) -> list[RunInfo]:
    """Every run registered in ``pool``, live or unfinished."""
    return list(_read_runs(pool.cache.local_store, pool.name, now=now))


def live_run_keys(store: Store) -> set[str]:
    """The keys used by every live run of every pool of a store (local stores only)."""
    keys: set[str] = set()
    if not isinstance(store, LocalStore):
        return keys
    for name in store.list_pools():
        for run in _read_runs(store, name, now=None):
            if run.live:
                keys |= run.keys
    return keys


def _read_runs(store: LocalStore, pool: str, *, now: float | None) -> Iterator[RunInfo]:
    runs = store.pool_dir(pool) / RUNS_DIR
    try:
        names = sorted(os.listdir(runs))
    except (FileNotFoundError, NotADirectoryError):
        return
    when = time.time() if now is None else now
    for name in names:
        if not name.endswith(".run"):
            continue
        path = runs / name
        try:
            mtime = os.stat(path).st_mtime
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            continue
        info = _parse(path, text, mtime, when)
        if info is not None:
            yield info


def _parse(path: Path, text: str, mtime: float, now: float) -> RunInfo | None:
    header_line, _, rest = text.partition("\n")
    try:
        header = json.loads(header_line)
        host = str(header["host"])
        pid = int(header["pid"])
    except (ValueError, KeyError, TypeError):
        return None
    pid_start = header.get("pid_start")
    identity = header.get("identity")
    keys = frozenset(line for line in rest.split("\n") if _KEY_RE.match(line))
    ended = _ENDED.decode().strip() in rest.split("\n")
    return RunInfo(
        path=path,
        host=host,
        pid=pid,
        started=str(header.get("started", "")),
        identity=identity if isinstance(identity, str) else None,
        keys=keys,
        live=not ended and _is_live(host, pid, pid_start, mtime, now),
        heartbeat=mtime,
    )


def _is_live(host: str, pid: int, pid_start: object, mtime: float, now: float) -> bool:
    if host != _HOST or os.name == "nt":
        # Elsewhere (or where signal 0 is not a probe) only the heartbeat tells.
        return now - mtime < STALE_SECONDS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    # A recycled pid belongs to a process that started later.
    return pid_start is None or process_start_time(pid) in (None, pid_start)


def _count(items: Iterable[object]) -> int:
    return sum(1 for _ in items)
