"""The object-store store: the local layout and guarantees on ``s3://`` and other fsspec URLs.

An object store has no rename and no hard link, but it has something better
for our purpose: a single PUT is all-or-nothing.  So:

- blobs are uploaded whole, unconditionally (content-addressed: any two
  writers of a name upload the same bytes);
- a manifest is published last, with a *conditional create*
  (``pipe_file(..., mode="create")``, i.e. S3 ``If-None-Match: *``): the
  first writer wins and a loser is told so;
- the hit path is ``GET`` manifest, ``GET`` blobs, ``HEAD`` marker: nothing is
  listed, nothing is renamed.

Not every S3-compatible server honours conditional creates, and fsspec's
generic ``mode="create"`` is a check-then-write.  When a store is opened a
probe creates the same object twice; if the second create is not refused, a
`RecyclableWarning` says so once and manifests are published
last-writer-wins.  That is still correct: every manifest is self-contained
and names immutable blobs, so whichever complete manifest a reader finds
loads a correct result.

Credentials are never handled here: fsspec and the backend read them from
the environment (or whatever the caller passed in ``storage_options``).
Memory-mapping is impossible; blobs are read into memory (a writable
``bytearray``) and verified by the pool like any other.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import xxhash

from recyclable.errors import (
    CacheLocationError,
    ConfigurationError,
    MissingDependencyError,
    RecyclableWarning,
)
from recyclable.store.local import DamagedBlob, temp_name
from recyclable.store.remotebase import ObjectStat, shard_of, upload_time
from recyclable.store.remotepools import ObjectStorePools

__all__ = ["FsspecStore", "ObjectStat", "open_fsspec_store"]

logger = logging.getLogger("recyclable")

T = TypeVar("T")

#: An existing blob last uploaded longer ago than this is uploaded again
#: instead of skipped: the upload refreshes its modification time, which tells
#: garbage collection (grace period 600 s by default) a writer still uses it.
BLOB_REFRESH_SECONDS = 300.0

#: How often a publish is retried when the server reports a concurrent
#: conditional write in flight (S3 409 ConditionalRequestConflict).
CONFLICT_RETRIES = 6

# URLs whose missing conditional creates were already reported in this process.
_warned_urls: set[str] = set()
_warned_lock = threading.Lock()


#: Probes in a row that must say "no conditional create" before it is believed.
_PROBE_ATTEMPTS = 3


def _as_bytes(chunks: Sequence[Any]) -> bytes | bytearray:
    # Object-store clients accept bytes or bytearray bodies, not arbitrary
    # buffers, and a PUT needs the whole body: join into one.
    if len(chunks) == 1 and isinstance(chunks[0], (bytes, bytearray)):
        return chunks[0]
    return b"".join(memoryview(chunk).cast("B") for chunk in chunks)


def _is_conflict(exc: BaseException) -> bool:
    return "ConditionalRequestConflict" in f"{type(exc).__name__} {exc}"


class FsspecStore(ObjectStorePools):
    """A cache's bytes in an object store (S3, GCS, Azure, ...) reached through fsspec.

    Open one with `open_fsspec_store`; `Cache` does so for any URL whose
    protocol is not ``file``.

    Args:
        fs: the fsspec filesystem.
        root: the cache's root inside ``fs`` (e.g. ``"bucket/prefix"``).
        url: the URL the cache was opened with (for messages).
        durable: accepted for symmetry with `LocalStore`; an acknowledged PUT
            is already durable.

    Attributes:
        conditional_create: True when the store refuses a second create of the
            same object (first writer wins); False when manifests are published
            last-writer-wins (see the module docstring).

    """

    # --- the cache's VERSION and the conditional-create probe -------------------------

    def read_version(self) -> str | None:
        """The text of the cache's ``VERSION`` object, or None when there is none."""
        try:
            data = self.fs.cat_file(f"{self.root}/VERSION", **self._small_read)
        except FileNotFoundError:
            return None
        return bytes(data).decode(errors="replace")

    def is_empty(self) -> bool:
        """True when nothing is stored under the root (so a new cache may be made there)."""
        try:
            return not self._listing(lambda: self.fs.ls(self.root, detail=False))
        except FileNotFoundError:
            return True

    def create_version(self, text: str) -> None:
        """Publish ``VERSION`` (first writer wins; a concurrent opener's equal text is kept).

        Raises:
            CacheLocationError: the root cannot be written (no such bucket, no permission).

        """
        try:
            self.fs.pipe_file(f"{self.root}/VERSION", text.encode(), mode="create")
        except FileExistsError:
            pass
        except TypeError:
            # An fsspec without create-only uploads: the probe will say so.
            if self.read_version() is None:
                self._put(f"{self.root}/VERSION", text.encode())
        except (OSError, ValueError) as exc:
            raise CacheLocationError(
                f"cannot create a cache at {self.url} ({type(exc).__name__}: {exc}); check "
                "that the bucket exists and that this process's credentials may write to it"
            ) from exc

    def probe_conditional_create(self) -> bool:
        """Find out whether the store refuses a second create of one object; remember it.

        Creates a throw-away object under ``tmp/`` twice and deletes it.  When
        the second create is not refused, warn once per URL and process
        (`RecyclableWarning`) and publish manifests last-writer-wins from now on.

        One answer that says "no support" is not taken on trust: a collector
        of another host may delete the object between the two creates, and a
        create may fail for a passing reason (a dropped connection, a retried
        request that finds its own first attempt).  The probe is repeated with
        a fresh object, and only `_PROBE_ATTEMPTS` answers in a row that say
        so, or an fsspec that cannot make create-only uploads at all, decide.
        """
        reason = ""
        for _ in range(_PROBE_ATTEMPTS):
            answer = self._probe_once()
            if answer is None:
                # A read-only cache publishes nothing, so how it would
                # publish does not matter.
                logger.info(
                    "cache %s is not writable here; conditional-create probe skipped", self.url
                )
                return self.conditional_create
            supported, reason, definite = answer
            if supported:
                self.conditional_create = True
                return True
            if definite:
                break
        return self._no_conditional_create(reason)

    def _probe_once(self) -> tuple[bool, str, bool] | None:
        """One probe: (supported, why not, whether the answer is final); None if read-only."""
        path = f"{self._tmp}/{temp_name('probe')}"
        try:
            self.fs.pipe_file(path, b"probe", mode="create")
        except PermissionError:
            return None
        except (TypeError, NotImplementedError) as exc:
            return False, f"a create-only upload is not possible ({exc})", True
        except (OSError, ValueError) as exc:
            return False, f"a create-only upload fails ({type(exc).__name__}: {exc})", False
        try:
            self.fs.pipe_file(path, b"probe", mode="create")
        except FileExistsError:
            supported, reason = True, ""
        except (TypeError, NotImplementedError) as exc:
            supported, reason = False, f"a second create-only upload is not possible ({exc})"
        except (OSError, ValueError) as exc:
            supported = False
            reason = f"a second create-only upload fails with {type(exc).__name__}: {exc}"
        else:
            supported = False
            reason = "a second create-only upload of the same object was accepted"
        with contextlib.suppress(OSError):
            self.fs.rm_file(path)
        return supported, reason, False

    def _no_conditional_create(self, reason: str) -> bool:
        self.conditional_create = False
        with _warned_lock:
            first = self.url not in _warned_urls
            _warned_urls.add(self.url)
        if first:
            warnings.warn(
                f"recyclable: the object store at {self.url} does not honour conditional "
                f"creates ({reason}); manifests are published last-writer-wins, which is "
                "still correct (entries are self-contained, data immutable) but concurrent "
                "writers of one call may both store it. Use a store with If-None-Match "
                "support (AWS S3, recent MinIO) to avoid the duplicate uploads.",
                RecyclableWarning,
                stacklevel=2,
            )
        return False

    # --- helpers ----------------------------------------------------------------------

    # --- blobs ------------------------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        """Where the blob with this digest lives."""
        return f"{self._objects}/{shard_of(digest)}/{digest}"

    def write_blob(self, digest: str, chunks: Sequence[Any]) -> bool:
        """Upload a blob whole, unless a recent upload of the same bytes is there.

        An existing blob last uploaded more than `BLOB_REFRESH_SECONDS` ago is
        uploaded again: that refreshes its modification time, the object-store
        equivalent of the local store's ``utime``, so garbage collection keeps it.

        Returns:
            True when no blob of this digest existed before.
        """
        path = self.blob_path(digest)
        info = self._info(path)
        if info is not None and upload_time(info) > time.time() - BLOB_REFRESH_SECONDS:
            return False
        self._put(path, _as_bytes(chunks))
        return info is None

    def touch_blob(self, digest: str) -> bool:
        """Whether a blob exists (an object's time cannot be refreshed without re-uploading).

        The writer's check after publishing re-uploads a blob that a collection
        removed meanwhile, as on a local disk.
        """
        return self._info(self.blob_path(digest)) is not None

    def load_blob(
        self, digest: str, size: int, *, mmap_mode: str | None, trust_verdict: bool
    ) -> bytearray:
        """A blob's bytes, read into memory and checked against its size and its name.

        Nothing can be mapped from an object store, and no verdict can be
        remembered on an object: every load hashes (``mmap_mode`` and
        ``trust_verdict`` are accepted for the store contract and ignored).

        Raises:
            DamagedBlob: the blob is missing, of another size, or fails its checksum.
        """
        data = self.read_blob(digest, mmap_mode=None)
        if data is None and self._restore_from_collection(digest):
            # A collection had set it aside while checking for new entries
            # that use it: put back, as on a local disk.
            data = self.read_blob(digest, mmap_mode=None)
        if data is None:
            raise DamagedBlob(digest, "is missing", present=False)
        if len(data) != size:
            raise DamagedBlob(digest, f"has {len(data)} bytes, expected {size}", present=True)
        if xxhash.xxh3_128_hexdigest(data) != digest:
            raise DamagedBlob(digest, "fails its checksum", present=True)
        return data

    def blob_size(self, digest: str) -> int | None:
        """The size of a stored blob, or None when it is missing."""
        info = self._info(self.blob_path(digest))
        return None if info is None else int(info["size"])

    def read_blob(self, digest: str, *, mmap_mode: str | None) -> bytearray | None:
        """A blob's bytes, read into memory (``mmap_mode`` is ignored: nothing to map)."""
        try:
            data = self.fs.cat_file(self.blob_path(digest))
        except FileNotFoundError:
            return None
        return data if isinstance(data, bytearray) else bytearray(data)

    def quarantine_blob(self, digest: str) -> None:
        """Move a blob that failed verification out of the way, so it is written afresh."""
        self._move_to_quarantine(self.blob_path(digest), f"blob-{digest}")

    def iter_blobs(self) -> Iterator[tuple[str, ObjectStat]]:
        """Every stored blob's digest, size and last upload time."""
        found = self._listing(lambda: self.fs.find(self._objects, detail=True))
        for path, info in found.items():
            yield path.rsplit("/", 1)[-1], ObjectStat(int(info.get("size", 0)), upload_time(info))

    def server_now(self) -> float:
        """The current time as the store stamps objects (the upload time of a fresh probe).

        Ages of objects are judged against the server's clock, not ours.
        """
        path = f"{self._tmp}/{temp_name('clock')}"
        self._put(path, b"")
        try:
            info = self._info(path)
        finally:
            self._remove(path)
        return time.time() if info is None else upload_time(info)

    def set_blob_aside(self, digest: str) -> str | None:
        """Take a blob out of sight (copy it under ``tmp/``, delete it); None when it is missing.

        The first step of deleting it: readers that miss it meanwhile copy it
        back (`load_blob`), and the collection copies it back itself if an
        entry published since its first listing uses it.
        """
        aside = f"{self._tmp}/{temp_name(f'gc-{digest}')}"
        try:
            self.fs.copy(self.blob_path(digest), aside)
        except FileNotFoundError:
            return None
        self._remove(self.blob_path(digest))
        return aside

    def finish_blob_aside(self, digest: str, aside: str, *, keep: bool) -> bool:
        """Put a blob set aside back (``keep``) or delete it for good; True when it stays."""
        if keep:
            # Gone already: another collection finished with it, or a reader restored it.
            with contextlib.suppress(FileNotFoundError):
                self.fs.copy(aside, self.blob_path(digest))
            self._remove(aside)
            return True
        self._remove(aside)
        # A reader, or a writer's check after publishing, may have put it back.
        return self._info(self.blob_path(digest)) is not None

    def _restore_from_collection(self, digest: str) -> bool:
        """Copy back a blob a collection has set aside; True when one was found."""
        try:
            found = self._listing(lambda: self.fs.glob(f"{self._tmp}/gc-{digest}.*"))
        except FileNotFoundError:
            return False
        for aside in found:
            try:
                self.fs.copy(aside, self.blob_path(digest))
            except FileNotFoundError:
                continue  # the collection finished with it meanwhile
            return True
        return False

    # --- manifests --------------------------------------------------------------------

    def manifest_path(self, key: str) -> str:
        """Where the manifest of this key lives."""
        return f"{self._entries}/{shard_of(key)}/{key}.json"

    def read_manifest(self, key: str) -> bytes | None:
        """The manifest's bytes, or None when no entry is published for ``key``."""
        try:
            return bytes(self.fs.cat_file(self.manifest_path(key), **self._small_read))
        except FileNotFoundError:
            return None

    def publish_manifest(self, key: str, data: bytes) -> bool:
        """Publish a manifest with a conditional create; False when another one was there first."""
        path = self.manifest_path(key)
        if not self.conditional_create:
            # Last writer wins (see the module docstring); skipping an existing
            # manifest only saves an upload.
            if self._info(path) is not None:
                return False
            self._put(path, data)
            return True
        for attempt in range(CONFLICT_RETRIES):
            try:
                self.fs.pipe_file(path, data, mode="create")
            except FileExistsError:
                return False
            except OSError as exc:
                # Another conditional write of this key is in flight: once it
                # settles, ours either wins or meets FileExistsError.
                if not _is_conflict(exc) or attempt == CONFLICT_RETRIES - 1:
                    raise
                time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
            else:
                return True
        raise OSError(errno.EAGAIN, f"publishing {path} kept conflicting")  # pragma: no cover

    def delete_manifest(self, key: str) -> None:
        """Remove a manifest (an entry no pool references any more)."""
        self._remove(self.manifest_path(key))

    def delete_manifest_unless(self, key: str, wanted: Callable[[], bool]) -> bool:
        """Remove a manifest unless ``wanted()``, asked once it is gone, says to keep it.

        Without a rename: the manifest's bytes are read, it is deleted, and
        put back (create-if-absent) if a pool marked the entry meanwhile.  A
        pool adopting the entry either is seen by ``wanted`` or finds the
        manifest gone and stores the entry again.

        Returns:
            True when the manifest was removed.

        """
        path = self.manifest_path(key)
        try:
            data = bytes(self.fs.cat_file(path, **self._small_read))
        except FileNotFoundError:
            return False
        self._remove(path)
        if not wanted():
            return True
        try:
            if self.conditional_create:
                self.fs.pipe_file(path, data, mode="create")
            elif self._info(path) is None:
                self._put(path, data)
        except FileExistsError:
            pass  # a writer published the entry again meanwhile
        return False

    def quarantine_manifest(self, key: str, judged: bytes | None = None) -> bool:
        """Move a manifest that failed verification out of the way.

        With ``judged`` (the bytes found damaged) a manifest that has been
        replaced since by a good one is left alone.
        """
        path = self.manifest_path(key)
        if judged is not None:
            try:
                if self.fs.cat_file(path) != judged:
                    return False
            except FileNotFoundError:
                return False
        self._move_to_quarantine(path, f"entry-{key}.json")
        return True

    def delete_blob(self, digest: str) -> None:
        """Leave a blob a failed store uploaded to garbage collection.

        Another writer of the same bytes may have found it present and
        published an entry using it; an object store cannot tell (nothing is
        touched), and a failed upload frees no local disk.  Unreferenced, it
        goes at the next collection after the grace period.
        """

    def forget_created(self, digests: Sequence[str]) -> None:
        """Nothing to forget: `delete_blob` never deletes (see there)."""

    def iter_manifest_keys(self) -> Iterator[str]:
        """The keys of every published manifest."""
        for path in self._listing(lambda: self.fs.find(self._entries)):
            name = path.rsplit("/", 1)[-1]
            if name.endswith(".json"):
                yield name[: -len(".json")]


def open_fsspec_store(
    url: str, storage_options: Mapping[str, Any] | None = None, *, durable: bool = False
) -> FsspecStore:
    """Open the store at ``url`` through fsspec (the probe is left to the caller).

    Raises:
        MissingDependencyError: fsspec, or the backend for the URL's protocol, is not installed.

    """
    try:
        import fsspec.core
    except ImportError as exc:
        raise MissingDependencyError(
            f"Cache({url!r}) needs fsspec and a backend for its protocol; install them "
            "with: pip install 'recyclable[s3]' (for s3://) or fsspec plus the backend"
        ) from exc
    try:
        fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except ImportError as exc:
        raise MissingDependencyError(
            f"Cache({url!r}) needs the fsspec backend for its protocol ({exc}); for s3:// "
            "install it with: pip install 'recyclable[s3]'"
        ) from exc
    except ValueError as exc:
        raise ConfigurationError(
            f"Cache(path=...) got the URL {url!r}, which fsspec cannot open ({exc}); use a "
            "local directory or a URL of an installed fsspec protocol, e.g. 's3://bucket/prefix'"
        ) from exc
    return FsspecStore(fs, root, url=url, durable=durable)
