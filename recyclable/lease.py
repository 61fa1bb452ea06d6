"""Single-flight claims: one process (or thread) computes a call, the others wait for its result.

A claim is a lease file ``<cache>/leases/ab/<key>``, made atomically: a file
of the holder's (`recyclable.leasespare`), its record written first, is
hard-linked at that path, which fails when the path exists, as ``O_CREAT |
O_EXCL`` would.  It holds JSON naming its holder: host, boot id, pid, the
process's start time and a random token.  The holder's heartbeat is the
file's mtime, refreshed with ``os.utime`` by a daemon thread while the call
runs; refreshing the mtime never rewrites the file, so a reader never sees a
half-written lease.  The holder keeps its lease file open: the descriptor pins
the inode, which identifies the file as its own when it releases it.
Releasing unlinks the lease's path; the file itself is kept for the next
claim, so that a run of misses does not make and free an inode for each.

A waiter polls (with bounded backoff) for the result to be published and, on
each poll, judges the holder:

* same host and boot: the holder is dead when its pid is gone, is a zombie,
  or now belongs to a process with another start time (pid reuse);
* another host (or a reboot): the holder is dead when its heartbeat is older
  than ``stale`` seconds.

A dead holder's lease is taken over; a live one is waited for at most
``timeout`` seconds, after which the waiter computes without a claim.  A
lease never guards correctness (publishing is atomic, first writer wins): the
worst a mistaken judgement costs is a duplicate computation.

Threads of one process share the same file lease: a thread finding a lease
held by its own process waits on an in-process event instead of polling.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from recyclable._proc import own_identity, process_start_time, same_process
from recyclable.leasespare import Spare, Spares, link_spare
from recyclable.store.local import temp_name
from recyclable.store.publish import NO_LINKS

__all__ = [
    "DEFAULT_LEASE_STALE",
    "DEFAULT_LEASE_TIMEOUT",
    "Claim",
    "LeaseHolder",
    "Leases",
    "holder_is_dead",
    "process_start_time",
]

logger = logging.getLogger("recyclable")

T = TypeVar("T")

#: How long a waiter waits for a live holder before computing itself.
DEFAULT_LEASE_TIMEOUT = 3600.0
#: A heartbeat older than this marks a holder on another host as dead.
DEFAULT_LEASE_STALE = 60.0

_HOST = socket.gethostname()
_POLL_FIRST = 0.005
_POLL_MAX = 0.25


def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


_BOOT = _boot_id()


_instances: weakref.WeakSet[Leases] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for leases in list(_instances):
        leases._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease, as recorded in the lease file."""

    host: str
    boot: str | None
    pid: int
    start: int | None
    token: str

    @classmethod
    def current(cls) -> LeaseHolder:
        """The holder record for the calling process."""
        pid, start = own_identity()
        return cls(_HOST, _BOOT, pid, start, secrets.token_hex(8))

    def to_json(self) -> bytes:
        """The lease file's content."""
        return json.dumps(
            {
                "host": self.host,
                "boot": self.boot,
                "pid": self.pid,
                "start": self.start,
                "token": self.token,
                "acquired": time.time(),
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LeaseHolder | None:
        """Parse a lease file; None when it is not a complete lease record."""
        try:
            raw = json.loads(data)
            return cls(
                str(raw["host"]),
                None if raw.get("boot") is None else str(raw["boot"]),
                int(raw["pid"]),
                None if raw.get("start") is None else int(raw["start"]),
                str(raw["token"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def holder_is_dead(holder: LeaseHolder | None, heartbeat: float, stale: float) -> bool:
    """Judge a lease holder from its record and the lease file's mtime.

    Args:
        holder: the parsed record, or None when the file could not be parsed
            (a holder that died between creating and filling it).
        heartbeat: the lease file's mtime (epoch seconds).
        stale: age of a heartbeat beyond which a holder on another host is dead.

    Returns:
        True when the holder is known dead (or silent for longer than ``stale``).

    """
    silent = time.time() - heartbeat > stale
    if holder is None:
        return silent
    if holder.host != _HOST or holder.boot != _BOOT:
        return silent
    # Our own pid too: in a container every entrypoint is pid 1, and the
    # lease of a killed earlier one must not look like ours.
    return same_process(holder.pid, holder.start) is False


@dataclass
class Claim:
    """The outcome of waiting to compute a call.

    Attributes:
        result: what ``probe`` found (the holder's published result), or None.
        held: True when this caller holds the lease and must release it.
        reason: how the wait ended: ``"hit"``, ``"acquired"``, ``"took-over"``,
            ``"timed-out"`` or ``"unavailable"`` (no lease could be created).

    """

    result: Any
    held: bool
    reason: str
    key: str = ""


class _Held:
    """A lease this process holds: its path and its file (a `Spare`, kept open).

    The open descriptor pins the file's inode: while we hold it no other file
    can get that inode number, so (device, inode) tells our lease file from
    one a waiter created after taking ours over, without reading it back, and
    the heartbeat touches our file through it, never another's.
    """

    __slots__ = ("done", "path", "spare")

    def __init__(self, path: Path, spare: Spare) -> None:
        self.path = path
        self.spare = spare
        self.done = threading.Event()

    def is_ours(self) -> bool:
        try:
            info = os.stat(self.path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self.spare.identity


class Leases:
    """The leases of one cache directory.

    Args:
        root: the cache directory.
        timeout: longest wait, in seconds, for a live holder before computing anyway.
        stale: heartbeat age, in seconds, beyond which a holder on another host is dead.
        file_mode: permission bits of new lease files.
        exact_mode: set ``file_mode`` regardless of the umask (shared caches).
        make_dirs: creates a missing directory with the cache's modes.

    """

    def __init__(
        self,
        root: Path,
        *,
        timeout: float = DEFAULT_LEASE_TIMEOUT,
        stale: float = DEFAULT_LEASE_STALE,
        file_mode: int = 0o644,
        exact_mode: bool = False,
        make_dirs: Callable[[Path], None] | None = None,
    ) -> None:
        self.dir = root / "leases"
        self.tmp = root / "tmp"
        self.timeout = timeout
        self.stale = stale
        self.file_mode = file_mode
        self.exact_mode = exact_mode
        self._make_dirs = make_dirs or (lambda path: path.mkdir(parents=True, exist_ok=True))
        self._held: dict[str, _Held] = {}
        self._spares = Spares(
            self.tmp, file_mode=file_mode, exact_mode=exact_mode, make_dirs=self._make_dirs
        )
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._heart: threading.Thread | None = None
        _instances.add(self)

    def _after_fork(self) -> None:
        # The child holds none of the parent's leases, has no heartbeat
        # thread, and must not inherit a lock that thread held at the fork.
        for held in self._held.values():
            with contextlib.suppress(OSError):
                os.close(held.spare.fd)  # the child's copy; the parent's stays open
        self._held = {}
        self._spares.forget_after_fork()
        self._lock = threading.Lock()
        self._heart = None

    def path(self, key: str) -> Path:
        """Where the lease of ``key`` lives."""
        return self.dir / key[:2] / key

    # --- claiming ---------------------------------------------------------------------

    def claim(self, key: str, probe: Callable[[], T | None]) -> Claim:
        """Wait until this caller may compute ``key``, or until ``probe`` finds a result.

        Args:
            key: the call's key.
            probe: looks for a published result; called after each failed
                attempt to take the lease, and once more after taking it.

        Returns:
            A `Claim`: with a result, or with ``held`` true (release it with
            `release`), or neither (timed out, or no lease could be created).

        """
        deadline = time.monotonic() + self.timeout
        pause = _POLL_FIRST
        reason = "acquired"
        logged = False
        while True:
            try:
                acquired = self._try_create(key)
            except OSError as exc:
                # A read-only or full cache: single-flight is an optimisation, go without.
                logger.debug("no lease for %s (%s): computing without one", key[:12], exc)
                return Claim(None, False, "unavailable", key)
            if acquired:
                found = probe()
                if found is not None:
                    self.release(key)
                    return Claim(found, False, "hit", key)
                return Claim(None, True, reason, key)
            found = probe()
            if found is not None:
                return Claim(found, False, "hit", key)
            state = self._break_if_dead(key)
            if state != "alive":
                if state == "broken":
                    reason = "took-over"
                pause = _POLL_FIRST
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning(
                    "gave up waiting %g s for the holder of the lease on %s; computing it here",
                    self.timeout,
                    key[:12],
                )
                return Claim(None, False, "timed-out", key)
            if not logged:
                logger.info("waiting for another process to compute %s", key[:12])
                logged = True
            held = self._held.get(key)
            if held is not None:
                held.done.wait(min(pause, remaining))
            else:
                time.sleep(min(pause, remaining))
            pause = min(pause * 2, _POLL_MAX)

    def _try_create(self, key: str) -> bool:
        path = self.path(key)
        record = LeaseHolder.current().to_json()
        if self._spares.linkable:
            try:
                return self._link_claim(key, path, record)
            except OSError as exc:
                if exc.errno not in NO_LINKS:
                    raise
                logger.debug("no hard links in %s: leases made in place", self.dir)
                self._spares.linkable = False
        made = self._spares.create_at(path, record)
        if made is None:
            return False
        with self._lock:
            self._held[key] = _Held(path, made)
        self._start_heartbeat()
        return True

    def _link_claim(self, key: str, path: Path, record: bytes) -> bool:
        # A kept lease file, filled, then linked at the lease's path (`recyclable.leasespare`).
        with self._lock:
            spare = self._spares.take()
        try:
            spare.fill(record)  # before the link: nobody reads a lease half-written
            try:
                linked = link_spare(spare, path, self._make_dirs)
            except FileNotFoundError:
                # Garbage collection removed our spare (idle past its grace): make another.
                spare.remove()
                with self._lock:
                    spare = self._spares.take()
                spare.fill(record)
                linked = link_spare(spare, path, self._make_dirs)
        except OSError:
            spare.remove()
            raise
        with self._lock:
            if not linked:
                self._spares.give_back(spare)
                return False
            self._held[key] = _Held(path, spare)
        self._start_heartbeat()
        return True

    def _break_if_dead(self, key: str) -> str:
        """Take a dead holder's lease out of the way: ``"broken"``, ``"gone"`` or ``"alive"``."""
        path = self.path(key)
        try:
            stat = os.stat(path)
            data = path.read_bytes()
        except FileNotFoundError:
            return "gone"  # released meanwhile: try to create it again at once
        except OSError:
            return "alive"
        holder = LeaseHolder.from_json(data)
        if not holder_is_dead(holder, stat.st_mtime, self.stale):
            return "alive"
        logger.warning(
            "taking over the lease on %s: its holder %s is dead",
            key[:12],
            "(unreadable)" if holder is None else f"pid {holder.pid} on {holder.host}",
        )
        return "broken" if self._remove_if_same(path, data) else "alive"

    def _remove_if_same(self, path: Path, judged: bytes) -> bool:
        # Rename aside and confirm it is the very lease judged dead (same
        # content, which holds a random token; inode numbers are reused at
        # once): two waiters judging the same dead lease must not remove the
        # one the faster of them created since.
        self._make_dirs(self.tmp)
        aside = self.tmp / temp_name(f"lease-{path.name}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        try:
            moved = aside.read_bytes()
        except FileNotFoundError:
            return True
        if moved != judged:
            # We took a live lease: put it back unless a newer one exists.
            with contextlib.suppress(OSError):
                os.link(aside, path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(aside)
        return True

    def release(self, key: str) -> None:
        """Give up a lease this process holds (after publishing, or when the call failed)."""
        with self._lock:
            held = self._held.pop(key, None)
        if held is None:
            return
        unlinked = False
        if held.is_ours():
            try:
                os.unlink(held.path)
                unlinked = True
            except OSError:
                pass
        if not held.spare.kept:
            held.spare.close()  # after the unlink: until then the inode is pinned
        elif unlinked:
            with self._lock:
                self._spares.give_back(held.spare)
        else:
            # Another process moved our lease (and may link it back), or it
            # could not be unlinked: a file some lease may still name is
            # never filled for another key.
            held.spare.remove()
        held.done.set()

    def drop_spares(self) -> None:
        """Remove the lease files kept for later claims (a pool of the cache was left)."""
        with self._lock:
            self._spares.drop()

    # --- heartbeat --------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        with self._lock:
            if self._heart is not None and self._heart.is_alive():
                return
            self._heart = threading.Thread(
                target=self._beat, name="recyclable-lease-heartbeat", daemon=True
            )
            self._heart.start()

    def _beat(self) -> None:
        interval = max(self.stale / 4, 0.05)
        while True:
            self._wake.wait(interval)
            with self._lock:
                if not self._held:
                    self._heart = None
                    return
                # Under the lock: `release` closes a descriptor only once it is
                # out of `_held`, so none is touched after its number is reused.
                for lease in self._held.values():
                    try:
                        os.utime(lease.spare.fd)
                    except OSError as exc:
                        logger.debug("cannot renew lease %s: %s", lease.path, exc)

    # --- cleaning ---------------------------------------------------------------------

    def iter_files(self) -> list[Path]:
        """Every lease file in the cache."""
        found: list[Path] = []
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for shard in os.scandir(self.dir):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    found.extend(Path(entry.path) for entry in os.scandir(shard.path))
        return found

    def remove_dead(self, *, dry_run: bool = False) -> int:
        """Remove leases whose holders are dead; return how many."""
        removed = 0
        for path in self.iter_files():
            try:
                stat = os.stat(path)
                data = path.read_bytes()
            except OSError:
                continue
            dead = holder_is_dead(LeaseHolder.from_json(data), stat.st_mtime, self.stale)
            if dead and (dry_run or self._remove_if_same(path, data)):
                removed += 1
        return removed
