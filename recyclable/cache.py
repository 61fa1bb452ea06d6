"""Cache: a directory of stored calls, its format VERSION, its pools, garbage collection.

A cache directory is recognised by its ``VERSION`` file.  Opening a
non-empty directory without one, a file, or a cache of a newer format is an
error; the library never wipes a directory it did not create.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from recyclable import _env
from recyclable.errors import (
    CacheFormatError,
    CacheLocationError,
    CachePermissionError,
    ConfigurationError,
    PoolExistsError,
    PoolNameError,
    PoolNotFoundError,
    RecyclableWarning,
)
from recyclable.lease import DEFAULT_LEASE_STALE, DEFAULT_LEASE_TIMEOUT, Leases
from recyclable.manifest import ManifestError, load_manifest
from recyclable.pool import Pool
from recyclable.store.local import LocalStore, temp_name, writer_state

__all__ = ["CACHE_FORMAT", "Cache", "GarbageReport", "VerifyReport", "default_cache_path"]

logger = logging.getLogger("recyclable")

#: The on-disk format this version writes and reads.
CACHE_FORMAT = 1
_VERSION_TEXT = f"recyclable cache\nformat: {CACHE_FORMAT}\n"
_SHARED_LINE = "shared: true\n"
_VERSION_RE = re.compile(r"\Arecyclable cache\nformat: (\d+)\n")

#: Pool names: letters, digits, ``_``, ``-`` and ``.``, starting with a letter
#: or digit, at most 200 characters (so a pool is one portable directory name).
POOL_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,199}\Z")

#: Staged files and unreferenced blobs younger than this are left alone by
#: garbage collection: a running writer may be about to publish them.
DEFAULT_GRACE_SECONDS = 600.0

#: Pool markers of unpublished entries younger than this are kept whatever the grace.
_MARKER_GRACE = 3600.0

_MMAP_MODES = ("r", "c", None)


def default_cache_path() -> Path:
    """``$RECYCLABLE_CACHE`` if set, else the platform's per-user cache directory."""
    configured = _env.default_cache_dir()
    if configured is not None:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("recyclable", appauthor=False))


@dataclass(frozen=True)
class GarbageReport:
    """What a garbage collection removed (or, in a dry run, would remove).

    Attributes:
        entries: manifests no pool referenced.
        blobs: data files no remaining manifest referenced.
        bytes: the size of those blobs.
        temporary: staging files and directories left by finished or killed writers.
        leases: claims whose holders are dead.
        markers: pool markers of entries that were never published (a writer
            was killed between marking and publishing), older than an hour and
            than the grace period.

    """

    entries: int
    blobs: int
    bytes: int
    temporary: int
    leases: int = 0
    markers: int = 0


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


class Cache:
    """A cache directory holding stored results shared by named pools.

    Args:
        path: the cache directory; created (private to the user) when absent.
            Defaults to ``$RECYCLABLE_CACHE`` or the user cache directory.
        durable: fsync every write before publishing it (slower; survives
            power loss, not only process crashes).
        mmap: how large stored arrays are loaded: ``"r"`` memory-mapped
            read-only (default), ``"c"`` memory-mapped copy-on-write
            (writable, changes stay in memory), ``None`` read into memory.
        shared: create the cache for a group of users: directories
            group-writable and setgid, files group-writable.  Only a shared
            cache may be opened by a user who does not own it.
        secret: sign every manifest with an HMAC under this key and refuse
            entries that are unsigned or signed with another key.  Stored
            results are unpickled, which can run code: use a secret whenever
            someone else can write to the cache directory.
        lease_timeout: seconds a call waits for another live process computing
            the same call before computing it itself.
        lease_stale: seconds without a heartbeat after which a process on
            another host computing a call is considered dead.

    Raises:
        TypeError: an argument has the wrong type.
        CacheLocationError: the path is a file, or a non-empty directory that is not a cache.
        CacheFormatError: the cache was written by a newer version of recyclable.
        CachePermissionError: the cache belongs to another user and is not shared.

    Security:
        Loading a stored result unpickles it.  Anyone who can write to the
        cache directory can therefore make your process run their code.  A
        private cache (the default, mode 0700) is safe; for a shared one,
        give every trusted user the same ``secret``.

    Example:
        >>> from recyclable import Cache
        >>> cache = Cache("/tmp/my-cache")                 # doctest: +SKIP
        >>> pool = cache.create_pool("analysis", reuse=True)  # doctest: +SKIP

    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        durable: bool = False,
        mmap: str | None = "r",
        shared: bool = False,
        secret: str | bytes | None = None,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
        lease_stale: float = DEFAULT_LEASE_STALE,
    ) -> None:
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"Cache(path=...) expects a str or os.PathLike, got {type(path).__name__} "
                f"{path!r}; pass a directory path, or None for the default cache"
            )
        if mmap not in _MMAP_MODES:
            raise ConfigurationError(
                f"Cache(mmap=...) got {mmap!r}; use 'r' (read-only map), "
                "'c' (copy-on-write map) or None (load into memory)"
            )
        self.path = Path(path).expanduser() if path is not None else default_cache_path()
        self.path = self.path.absolute()
        self.durable = bool(durable)
        self.mmap = mmap
        self.secret = _check_secret(secret)
        self.shared = bool(shared)
        self.format = self._open_or_create()
        self._check_owner()
        self.read_only = not os.access(self.path, os.W_OK)
        self.store = LocalStore(self.path, durable=self.durable, shared=self.shared)
        self.leases = Leases(
            self.path,
            timeout=_check_seconds("lease_timeout", lease_timeout),
            stale=_check_seconds("lease_stale", lease_stale),
            file_mode=self.store.file_mode,
            make_dirs=self.store.make_dirs,
        )
        self._pools: dict[str, Pool] = {}

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r})"

    # --- location and format ----------------------------------------------------------

    def _open_or_create(self) -> int:
        path = self.path
        if path.exists() and not path.is_dir():
            raise CacheLocationError(
                f"cache path {path} is a file, not a directory; choose a directory path "
                "(it will be created) or remove the file"
            )
        version_file = path / "VERSION"
        if not version_file.exists():
            if path.is_dir() and any(path.iterdir()):
                raise CacheLocationError(
                    f"{path} is a non-empty directory but not a recyclable cache (it has no "
                    "VERSION file); choose an empty or new directory for the cache"
                )
            self._create(path)
        return self._read_format(version_file)

    def _create(self, path: Path) -> None:
        store = LocalStore(path, durable=self.durable, shared=self.shared)
        store.make_dirs(path)
        if self.shared:
            os.chmod(path, store.dir_mode)
        for sub in ("objects", "entries", "pools", "leases", "tmp", "quarantine"):
            store.make_dirs(path / sub)
        # Publish VERSION last and atomically: a concurrent opener sees either
        # no cache yet (and creates the same one) or a complete one.
        staged = path / "tmp" / temp_name("VERSION")
        text = _VERSION_TEXT + (_SHARED_LINE if self.shared else "")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, store.file_mode)
        try:
            os.write(fd, text.encode())
            if self.shared:
                os.fchmod(fd, store.file_mode)
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(staged, path / "VERSION")
        except FileExistsError:
            pass
        finally:
            staged.unlink()
        if self.durable:
            for directory in (path, path.parent):
                fd = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def _check_owner(self) -> None:
        info = self.path.stat()
        if info.st_uid == os.geteuid():
            return
        version = (self.path / "VERSION").read_text(errors="replace")
        if _SHARED_LINE in version:
            self.shared = True
            return
        raise CachePermissionError(
            f"cache {self.path} belongs to user id {info.st_uid}, not to you (user id "
            f"{os.geteuid()}), and was not created as a shared cache; loading its results "
            "would run code its owner can plant. Use your own cache directory, or ask the "
            "owner to create a shared one with Cache(path, shared=True, secret=...)"
        )

    def _read_format(self, version_file: Path) -> int:
        text = version_file.read_text(errors="replace")
        match = _VERSION_RE.match(text)
        if match is None:
            raise CacheFormatError(
                f"{version_file} is not a recyclable VERSION file (it reads {text[:60]!r}); "
                "this directory was not made by recyclable, or the file was edited"
            )
        found = int(match.group(1))
        if _SHARED_LINE in text:
            self.shared = True
        if found > CACHE_FORMAT:
            raise CacheFormatError(
                f"cache {self.path} has format {found}, but this version of recyclable "
                f"reads format {CACHE_FORMAT} or older; upgrade recyclable to a version "
                f"that reads format {found}, or use another cache directory"
            )
        return found

    # --- pools ------------------------------------------------------------------------

    def create_pool(self, name: str, reuse: bool = False) -> Pool:
        """Create a pool, or open an existing one when ``reuse`` is true.

        Args:
            name: letters, digits, ``_``, ``-`` and ``.``; starts with a letter
                or digit; at most 200 characters.
            reuse: open the pool if it already exists instead of raising.

        Raises:
            PoolNameError: the name is not valid.
            PoolExistsError: the pool exists and ``reuse`` is false.

        """
        validate_pool_name(name)
        try:
            created = self.store.create_pool(name)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM) or not reuse:
                raise
            # A read-only cache: lookups work across the whole cache, so the
            # pool still serves stored results; it just cannot record anything.
            warnings.warn(
                f"recyclable: cannot create pool {name!r} in cache {self.path} "
                f"({exc.strerror}); stored results are loaded but new ones are not kept",
                RecyclableWarning,
                stacklevel=2,
            )
            return self._pool_object(name)
        if not created and not reuse:
            raise PoolExistsError(
                f"pool {name!r} already exists in cache {self.path}; pass reuse=True to "
                "resume with it, or choose another name"
            )
        return self._pool_object(name)

    def pool(self, name: str) -> Pool:
        """Open an existing pool.

        Raises:
            PoolNameError: the name is not valid.
            PoolNotFoundError: no pool of that name exists.

        """
        validate_pool_name(name)
        if not self.store.pool_exists(name):
            known = ", ".join(self.pools()) or "none"
            raise PoolNotFoundError(
                f"no pool {name!r} in cache {self.path} (pools: {known}); create it with "
                f"cache.create_pool({name!r})"
            )
        return self._pool_object(name)

    def _pool_object(self, name: str) -> Pool:
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = Pool(self, name)
        return pool

    def pools(self) -> list[str]:
        """The names of the cache's pools, sorted."""
        return self.store.list_pools()

    def remove_pool(self, name: str, *, grace: float = DEFAULT_GRACE_SECONDS) -> GarbageReport:
        """Remove a pool and reclaim the entries and data no other pool uses.

        Raises:
            PoolNotFoundError: no pool of that name exists.

        """
        validate_pool_name(name)
        aside = self.store.detach_pool(name)
        if aside is None:
            raise PoolNotFoundError(f"no pool {name!r} in cache {self.path} to remove")
        self._pools.pop(name, None)
        self.store.remove_tree(aside)
        return self.garbage_collect(grace=grace)

    # --- garbage collection -----------------------------------------------------------

    def garbage_collect(
        self, *, grace: float = DEFAULT_GRACE_SECONDS, dry_run: bool = False
    ) -> GarbageReport:
        """Delete entries no pool references, unreferenced blobs and leftovers of dead writers.

        Never takes a lock, and never runs by itself (not at process exit
        either).  The rules that keep a running writer safe:

        * Manifests are listed before pool markers, and writers create their
          marker before publishing, so an entry published into a live pool is
          always seen as referenced.  A manifest is renamed aside before the
          markers are checked once more, so a pool adopting it meanwhile keeps it.
        * Unreferenced blobs younger than ``grace`` seconds stay (a writer may
          be about to publish the manifest that references them); writers
          refresh a reused blob's mtime just before publishing, and a blob's
          mtime is checked again after it is renamed aside.  Before deleting,
          manifests published since the first listing are read and the blobs
          they reference spared.
        * Staging files of a process of this host that is no longer running
          are removed at once, those of a running one are kept (up to an
          hour, in case its pid was reused); those of other hosts once older
          than ``grace``.
        * Leases whose holders are dead are removed.

        Args:
            grace: age in seconds below which unreferenced blobs and staging files stay.
            dry_run: count what would be removed, remove nothing.

        Returns:
            What was removed (or, in a dry run, would be).

        Raises:
            TypeError: ``grace`` is not a number.

        """
        grace = _check_seconds("grace", grace)
        store = self.store
        # File times come from the filesystem's coarse clock (or an NFS
        # server's): compare them with a time read from that same clock, and
        # treat a file stamped in the very same tick as touched after it.
        started = store.filesystem_now()
        cutoff = started - grace
        manifests = set(store.iter_manifest_keys())
        referenced = self._referenced_keys()
        entries_removed = 0
        live_blobs: set[str] = set()
        freed_blobs: set[str] = set()
        kept: set[str] = set()
        for key in manifests:
            blobs = self._blobs_of_key(key)
            if key in referenced:
                live_blobs |= blobs
                kept.add(key)
                continue
            removed = dry_run or store.delete_manifest_unless(key, self._marked_check(key))
            if removed:
                entries_removed += 1
                freed_blobs |= blobs
            else:
                live_blobs |= blobs
                kept.add(key)
        blobs_removed, bytes_removed = self._collect_blobs(
            started, cutoff, live_blobs, freed_blobs, kept, dry_run=dry_run
        )
        temporary = 0
        # Staging files of a live writer of this host stay whatever the grace
        # (they may be published any moment); only a very old one, whose pid
        # may since have been reused, is taken for debris.
        live_cutoff = min(cutoff, started - _MARKER_GRACE)
        for path, info in list(store.iter_temp()):
            state = writer_state(path.name)
            if state == "live":
                debris = info.st_mtime <= live_cutoff
            else:
                debris = state == "dead" or info.st_mtime <= cutoff
            if debris:
                if not dry_run:
                    store.remove_tree(path)
                temporary += 1
        leases = self.leases.remove_dead(dry_run=dry_run)
        # A marker is a writer's first step: only long-abandoned ones are debris.
        markers = self._remove_dangling_markers(
            manifests, min(cutoff, started - _MARKER_GRACE), dry_run=dry_run
        )
        report = GarbageReport(
            entries_removed, blobs_removed, bytes_removed, temporary, leases, markers
        )
        logger.info("garbage collection of %s: %s", self.path, report)
        return report

    def _collect_blobs(
        self,
        started: float,
        cutoff: float,
        live_blobs: set[str],
        freed_blobs: set[str],
        kept: set[str],
        *,
        dry_run: bool,
    ) -> tuple[int, int]:
        """Delete unreferenced blobs; return (count, bytes)."""
        store = self.store
        candidates: list[tuple[str, float, int]] = []
        for digest, info in list(store.iter_blobs()):
            if digest in live_blobs:
                continue
            # Blobs of entries removed just now need no grace period: a writer
            # reusing one refreshes its mtime, which puts it past `started`.
            limit = started if digest in freed_blobs else cutoff
            if info.st_mtime < limit:
                candidates.append((digest, limit, info.st_size))
        if not candidates:
            return 0, 0
        # Manifests published since the first listing may reference a
        # candidate (a writer that refreshed it just before this collection
        # started): read them, and spare what they reference.
        wanted: set[str] = set()
        for key in set(store.iter_manifest_keys()) - kept:
            wanted |= self._blobs_of_key(key)
        blobs_removed = 0
        bytes_removed = 0
        for digest, limit, size in candidates:
            if digest in wanted:
                continue
            if dry_run or store.delete_blob_if_idle(digest, limit):
                blobs_removed += 1
                bytes_removed += size
        return blobs_removed, bytes_removed

    def _remove_dangling_markers(self, manifests: set[str], cutoff: float, *, dry_run: bool) -> int:
        store = self.store
        removed = 0
        for pool in store.list_pools():
            for key in list(store.iter_markers(pool)):
                if key in manifests:
                    continue
                mtime = store.marker_mtime(pool, key)
                # Young markers and claimed keys may belong to a writer about to publish.
                if mtime is None or mtime > cutoff or self.leases.path(key).exists():
                    continue
                if store.read_manifest(key) is not None:
                    continue
                if not dry_run:
                    store.remove_marker(pool, key)
                removed += 1
        return removed

    def _referenced_keys(self) -> set[str]:
        referenced: set[str] = set()
        for pool in self.store.list_pools():
            referenced.update(self.store.iter_markers(pool))
        return referenced

    def _marked_check(self, key: str) -> Callable[[], bool]:
        store = self.store
        return lambda: any(store.has_marker(pool, key) for pool in store.list_pools())

    def _blobs_of_key(self, key: str) -> set[str]:
        data = self.store.read_manifest(key)
        if data is None:
            return set()
        # A manifest that fails to parse is left for verification to
        # quarantine; its blobs are not protected by it.  The signature is not
        # checked here: a forged manifest may keep blobs alive, never load them.
        try:
            return _blobs_of(load_manifest(data))
        except ManifestError:
            return set()

    # --- verification -----------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Check every entry: manifest checksum (and signature), every blob's size and checksum.

        Damaged entries are moved to quarantine, exactly as a load would, and
        dropped from their pools, so the next call of the same step recomputes
        it.  Nothing is unpickled, so verifying runs no stored code.

        Returns:
            A `VerifyReport`; its ``damaged`` list names each quarantined entry and why.

        """
        store = self.store
        checked_blobs: dict[str, str | None] = {}
        damaged: list[tuple[str, str]] = []
        entries = 0
        nbytes = 0
        keys = list(store.iter_manifest_keys())
        for key in keys:
            data = store.read_manifest(key)
            if data is None:
                continue  # removed meanwhile
            entries += 1
            try:
                manifest = load_manifest(data, self.secret)
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
            1
            for pool in store.list_pools()
            for key in store.iter_markers(pool)
            if key not in present
        )
        for key, reason in damaged:
            logger.warning("verify: entry %s is damaged (%s); moved to quarantine", key, reason)
        return VerifyReport(entries, len(checked_blobs), nbytes, damaged, dangling)


def _blob_infos(manifest: dict[str, object]) -> list[tuple[str, int]]:
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


def _check_blob(store: LocalStore, digest: str, size: int) -> tuple[str | None, int]:
    """Read a blob in full and checksum it: (problem or None, bytes read)."""
    import xxhash

    hasher = xxhash.xxh3_128()
    read = 0
    try:
        with open(store.blob_path(digest), "rb") as handle:
            while chunk := handle.read(1 << 22):
                hasher.update(chunk)
                read += len(chunk)
    except FileNotFoundError:
        return f"{digest} missing", 0
    if read != size:
        return f"{digest} has {read} bytes, expected {size}", read
    if hasher.hexdigest() != digest:
        return f"{digest} fails its checksum", read
    return None, read


def _blobs_of(manifest: dict[str, object]) -> set[str]:
    blobs: set[str] = set()
    stream = manifest.get("stream")
    if isinstance(stream, dict) and "inline" not in stream and "digest" in stream:
        blobs.add(str(stream["digest"]))
    buffers = manifest.get("buffers")
    if isinstance(buffers, list):
        blobs.update(str(info["digest"]) for info in buffers if isinstance(info, dict))
    return blobs


def _check_secret(secret: object) -> bytes | None:
    if secret is None:
        return None
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes):
        raise TypeError(
            f"Cache(secret=...) expects str or bytes, got {type(secret).__name__}; pass the "
            "shared key, e.g. secret=os.environ['RECYCLABLE_SECRET']"
        )
    if not secret:
        raise ConfigurationError(
            "Cache(secret=...) got an empty secret; pass a non-empty key, or None for "
            "unsigned entries"
        )
    return secret


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} expects a number of seconds, got {type(value).__name__} {value!r}; "
            f"e.g. {name}=60"
        )
    if not value >= 0:
        raise ConfigurationError(f"{name} must be zero or more seconds, got {value!r}")
    return float(value)


def validate_pool_name(name: object) -> str:
    """Return ``name`` if it is a valid pool name.

    Raises:
        PoolNameError: it is not a str, or does not match the documented pattern.

    """
    if not isinstance(name, str):
        raise PoolNameError(
            f"pool name must be a str, got {type(name).__name__} {name!r}; "
            "use letters, digits, '_', '-' and '.'"
        )
    if not POOL_NAME_RE.match(name) or ".." in name:
        raise PoolNameError(
            f"invalid pool name {name!r}: use 1-200 letters, digits, '_', '-' and '.', "
            "starting with a letter or digit, with no path separators and no '..'"
        )
    return name
