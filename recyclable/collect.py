"""Garbage collection of a cache's store: the rules that keep live runs safe.

It takes no lock; it works on a `LocalStore` and the cache's `Leases`
(`recyclable.collect_remote` collects an object store, `recyclable.verify`
checks a store).  `Cache.garbage_collect` and `Cache.remove_pool` are the
public entry points.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from recyclable.forkmap import fork_map
from recyclable.lease import Leases
from recyclable.runs import live_run_keys
from recyclable.scan import (
    TICK,
    ProgressHook,
    Tally,
    manifest_blobs,
    read_file,
    referenced_blobs,
    sharded_names,
    sharded_stats,
)
from recyclable.store.base import Store
from recyclable.store.local import LocalStore, writer_state

if TYPE_CHECKING:
    from recyclable.store.remote import FsspecStore

__all__ = ["GarbageReport", "collect_garbage"]

logger = logging.getLogger("recyclable")

#: Pool markers of unpublished entries (and staging files of live writers)
#: younger than this are kept whatever the grace.
MARKER_GRACE = 3600.0


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

    def __str__(self) -> str:
        """``2 entries, 3 data files (1.5 MiB), 1 staging file, 0 leases, 0 markers``."""
        size = float(self.bytes)
        unit = "B"
        for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
            if size < 1024 or unit == "TiB":
                break
            size /= 1024
        amount = f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        return (
            f"{self.entries} entries, {self.blobs} data files ({amount}), {self.temporary} "
            f"staging files, {self.leases} leases, {self.markers} markers"
        )


def collect_garbage(
    store: LocalStore,
    leases: Leases,
    *,
    grace: float,
    dry_run: bool,
    protect: Collection[str] = (),
    progress: ProgressHook | None = None,
    removed: list[str] | None = None,
    tally: Tally | None = None,
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
      refresh a reused blob's mtime just before publishing.  Every candidate
      blob is renamed aside first; then the manifests published since the
      first listing are read, and what they reference, or what was touched
      since, is put back.  A writer publishing later finds its blob gone in
      its post-publish check and writes it again.
    * Staging files of a process of this host that is no longer running
      are removed at once, those of a running one are kept (up to an
      hour, in case its pid was reused); those of other hosts once older
      than ``grace``.
    * Leases whose holders are dead are removed.
    * Keys that a live run has noted (`recyclable.runs`) count as referenced:
      a run notes a key before looking it up, so an entry it is loading stays
      even if another run just dropped its marker.

    Args:
        store: the cache's store.
        leases: the cache's leases.
        grace: age in seconds below which unreferenced blobs and staging files stay.
        dry_run: count what would be removed, remove nothing.
        protect: keys of entries to keep even though no pool references them.
        progress: told how far the collection got (see `recyclable.scan.ProgressHook`).
        removed: when given, the keys of the manifests removed (or that would
            be) are appended to it.
        tally: when given, filled with the sizes of what was listed and read.

    Returns:
        What was removed (or, in a dry run, would be).

    """
    # File times come from the filesystem's coarse clock (or an NFS
    # server's): compare them with a time read from that same clock, and
    # treat a file stamped in the very same tick as touched after it.
    try:
        started = store.filesystem_now()
    except OSError:
        if not dry_run:
            raise
        started = time.time()  # a read-only cache: a dry run needs no probe file
    cutoff = started - grace
    listing = sharded_names(str(store.entries), ".json")
    manifests = set(listing)
    if tally is not None:
        tally.listed = manifests
    markers = {pool: sharded_names(str(store.pool_dir(pool))) for pool in store.list_pools()}
    referenced = live_run_keys(store) | set(protect)
    for keys in markers.values():
        referenced.update(keys)
    # Referenced manifests are read only if some blob is old enough to be
    # collected (`_collect_blobs`): their blobs matter for nothing else.
    entries_removed, live_blobs, freed_blobs, kept = sweep_entries(
        store,
        manifests,
        referenced,
        dry_run=dry_run,
        read_referenced=False,
        progress=progress,
        removed=removed,
        sizes=None if tally is None else tally.manifests,
    )
    blobs_removed, bytes_removed = _collect_blobs(
        store,
        started,
        cutoff,
        live=live_blobs,
        freed=freed_blobs,
        kept=kept,
        # In the order listed: reading files in directory order is a tenth faster.
        unread=[key for key in listing if key in referenced],
        dry_run=dry_run,
        progress=progress,
        tally=tally,
    )
    temporary = 0
    # Staging files of a live writer of this host stay whatever the grace
    # (they may be published any moment); only a very old one, whose pid
    # may since have been reused, is taken for debris.
    live_cutoff = min(cutoff, started - MARKER_GRACE)
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
    dead_leases = leases.remove_dead(dry_run=dry_run)
    # A marker is a writer's first step: only long-abandoned ones are debris.
    dangling = _remove_dangling_markers(
        store, leases, markers, manifests, min(cutoff, started - MARKER_GRACE), dry_run=dry_run
    )
    report = GarbageReport(
        entries_removed, blobs_removed, bytes_removed, temporary, dead_leases, dangling
    )
    logger.debug("garbage collection of %s: %s", store.root, report)
    return report


def _collect_blobs(
    store: LocalStore,
    started: float,
    cutoff: float,
    *,
    live: set[str],
    freed: set[str],
    kept: set[str],
    unread: list[str],
    dry_run: bool,
    progress: ProgressHook | None,
    tally: Tally | None,
) -> tuple[int, int]:
    """Delete unreferenced blobs; return (count, bytes).

    ``unread`` are kept entries whose manifests were not read yet: they are
    read (once) only when some blob is old enough to be a candidate.  Their
    blobs' ages were judged before that reading, as the rules require: a
    writer that publishes such an entry after the collection started has
    written or touched its blobs since, so they are not candidates.
    """
    candidates: list[tuple[str, float, int]] = []
    stats = sharded_stats(str(store.objects), progress=progress, what="listing data files")
    if tally is not None:
        tally.blobs = {digest: size for digest, (size, _) in stats.items()}
    for digest, (size, mtime) in stats.items():
        if digest in live:
            continue
        # Blobs of entries removed just now need no grace period: a writer
        # reusing one refreshes its mtime, which puts it past `started`.
        limit = started if digest in freed else cutoff
        if mtime < limit:
            candidates.append((digest, limit, size))
    if candidates and unread:
        live |= _referenced_blobs(
            str(store.entries),
            unread,
            None if tally is None else tally.manifests,
            progress=progress,
            what="reading entries in use",
        )
        candidates = [c for c in candidates if c[0] not in live]
    if not candidates:
        return 0, 0
    if dry_run:
        return len(candidates), sum(size for _, _, size in candidates)
    # Take every candidate out of sight first, then read the manifests
    # published since the first listing and spare what they reference.  A
    # writer that publishes later still finds its blob gone when it checks
    # after publishing, and writes it again; a reader that misses it
    # meanwhile finds it set aside and links it back.
    aside = []
    for digest, limit, size in candidates:
        moved = store.set_blob_aside(digest)
        if moved is not None:
            aside.append((digest, moved, limit, size))
    wanted = _referenced_blobs(
        str(store.entries), set(sharded_names(str(store.entries), ".json")) - kept
    )
    blobs_removed = 0
    bytes_removed = 0
    for digest, moved, limit, size in aside:
        if store.finish_blob_aside(
            digest, moved, keep_if_touched_after=limit, keep=digest in wanted
        ):
            continue
        blobs_removed += 1
        bytes_removed += size
    return blobs_removed, bytes_removed


def _referenced_blobs(
    entries: str,
    keys: Collection[str],
    sizes: dict[str, int] | None = None,
    *,
    progress: ProgressHook | None = None,
    what: str = "reading entries",
) -> set[str]:
    """`referenced_blobs`, the second half of many keys read by a forked child.

    Reading 100,000 manifests is most of a collection's time, and the read
    only reads: `recyclable.forkmap` gives half of it to a child where that
    is safe, which returns the digests it found and the manifests' sizes.
    """

    def work(
        part: Sequence[str], report: ProgressHook | None
    ) -> tuple[set[str], dict[str, int] | None]:
        found: dict[str, int] | None = None if sizes is None else {}
        return referenced_blobs(entries, part, found, progress=report, what=what), found

    live: set[str] = set()
    for blobs, found in fork_map(work, list(keys), progress=progress):
        live |= blobs
        if found and sizes is not None:
            sizes.update(found)
    return live


def _remove_dangling_markers(
    store: LocalStore,
    leases: Leases,
    markers: Mapping[str, list[str]],
    manifests: set[str],
    cutoff: float,
    *,
    dry_run: bool,
) -> int:
    # ``markers`` were listed before: a marker added since is younger than any cutoff.
    removed = 0
    for pool, keys in markers.items():
        for key in set(keys) - manifests:
            mtime = store.marker_mtime(pool, key)
            # Young markers and claimed keys may belong to a writer about to publish.
            if mtime is None or mtime > cutoff or leases.path(key).exists():
                continue
            if store.read_manifest(key) is not None:
                continue
            if not dry_run:
                store.remove_marker(pool, key)
            removed += 1
    return removed


def _marked_check(store: Store, key: str) -> Callable[[], bool]:
    return lambda: any(store.has_marker(pool, key) for pool in store.list_pools())


def sweep_entries(
    store: LocalStore | FsspecStore,
    manifests: Iterable[str],
    referenced: Collection[str],
    *,
    dry_run: bool,
    read_referenced: bool = True,
    progress: ProgressHook | None = None,
    removed: list[str] | None = None,
    sizes: dict[str, int] | None = None,
) -> tuple[int, set[str], set[str], set[str]]:
    """Remove the unreferenced entries (unless marked meanwhile); what their blobs became.

    Returns the number removed, the blobs kept entries use, the blobs of
    removed entries, and the kept keys.  Shared by the local and the
    object-store collector, which differ only in how blobs go.  With
    ``read_referenced`` false the manifests of referenced keys are not read
    (they are kept, and their blobs are left out of the blobs returned);
    ``removed``, when given, collects the removed keys, ``sizes`` the size of
    each manifest read.
    """
    removed_count = 0
    live: set[str] = set()
    freed: set[str] = set()
    names = manifests if isinstance(manifests, set) else set(manifests)
    # Set operations, not a test per key: most entries of a cache in use are referenced.
    refs = referenced if isinstance(referenced, (set, frozenset)) else set(referenced)
    kept = names & refs
    if read_referenced:
        for key in kept:
            live |= _blobs_of_key(store, key, sizes)
    if progress is not None:
        progress("sweeping entries", len(kept), len(names))
    for done, key in enumerate(names - kept, len(kept) + 1):
        if progress is not None and done & TICK == 1:
            progress("sweeping entries", done, len(names))
        blobs = _blobs_of_key(store, key, sizes)
        if dry_run or store.delete_manifest_unless(key, _marked_check(store, key)):
            removed_count += 1
            freed |= blobs
            if removed is not None:
                removed.append(key)
        else:
            live |= blobs
            kept.add(key)
    return removed_count, live, freed, kept


def _manifest_bytes(store: Store, key: str) -> bytes | None:
    # A pass over every manifest: on a local store one read each (no probe for the end).
    if isinstance(store, LocalStore):
        return read_file(f"{store.entries}/{key[:2]}/{key}.json")
    return store.read_manifest(key)


def _blobs_of_key(store: Store, key: str, sizes: dict[str, int] | None = None) -> set[str]:
    data = _manifest_bytes(store, key)
    if data is None:
        return set()
    if sizes is not None:
        sizes[key] = len(data)
    # A manifest that fails to parse is left for verification to
    # quarantine; its blobs are not protected by it.  The signature is not
    # checked here: a forged manifest may keep blobs alive, never load them.
    return manifest_blobs(data, checked=False) or set()
