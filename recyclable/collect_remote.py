"""Garbage collection of an object-store cache: the local rules, with copies for renames.

An object store has no rename and no ``utime``.  The collector still gives
the guarantee the local one gives, that cleaning never hurts a live run, by
the same steps: "rename aside" becomes a server-side copy under ``tmp/``
followed by a delete, and what protects a live writer is not a blob's age
but the second reading of manifests after the candidates are out of sight,
together with the writer's own check after publishing.  `Cache.garbage_collect`
and `Cache.remove_pool` are the public entry points.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING

from recyclable.collect import (
    MARKER_GRACE,
    GarbageReport,
    _blobs_of_key,
    sweep_entries,
)
from recyclable.runs import live_run_keys
from recyclable.store.local import writer_state

if TYPE_CHECKING:
    from recyclable.store.remote import FsspecStore

__all__ = ["collect_remote_garbage"]


def collect_remote_garbage(
    store: FsspecStore, *, grace: float, dry_run: bool, protect: Collection[str] = ()
) -> GarbageReport:
    """Delete entries no pool references, unreferenced blobs and leftovers, on an object store.

    * Manifests are listed before pool markers (writers mark before they
      publish).  An unmarked manifest is read, deleted, and put back if a
      pool marked it meanwhile.
    * Unreferenced blobs older than ``grace`` by the server's clock (and
      blobs of entries deleted in this pass, uploaded before it began) are
      set aside.  Then the manifests published since the first listing are
      read, and every blob they use is copied back.  A writer that publishes
      later finds its blob gone in its post-publish check and uploads it
      again; a reader that misses a blob set aside copies it back.
    * Leftovers under ``tmp/`` go when their writer, on this host, is dead,
      or once older than ``grace``; blobs set aside by a collection only
      after an hour too (a collection of another host may be using them).

    Args:
        store: the cache's store.
        grace: age in seconds below which unreferenced blobs and leftovers stay.
        dry_run: count what would be removed, remove nothing.
        protect: keys of entries to keep even though no pool references them.

    Returns:
        What was removed (or, in a dry run, would be).

    """
    try:
        started = store.server_now()
    except OSError:
        if not dry_run:
            raise
        started = time.time()  # a read-only store: a dry run needs no probe
    cutoff = started - grace
    manifests = list(store.iter_manifest_keys())
    referenced = set(protect) | live_run_keys(store)
    for pool in store.list_pools():
        referenced.update(store.iter_markers(pool))
    entries_removed, live, freed, kept = sweep_entries(
        store, manifests, referenced, dry_run=dry_run
    )
    blobs_removed, bytes_removed = _collect_blobs(
        store, started, cutoff, live=live, freed=freed, kept=kept, dry_run=dry_run
    )
    temporary = 0
    for path, info in list(store.iter_temp()):
        name = path.rsplit("/", 1)[-1]
        state = writer_state(name)
        # Objects of a running process of this host (an opener's probe, a
        # copy set aside by a running collection) stay whatever the grace,
        # and so do copies set aside by a collection of another host: taking
        # a probe between its two creates would make the opener conclude the
        # store ignores conditional creates.  Only a very old one, whose pid
        # may since have been reused, is taken for debris; probes of crashed
        # openers go after the grace.
        if state == "live" or name.startswith("gc-"):
            limit = min(cutoff, started - MARKER_GRACE)
        else:
            limit = cutoff
        if state == "dead" or info.st_mtime <= limit:
            if not dry_run:
                store.remove_tree(path)
            temporary += 1
    return GarbageReport(entries_removed, blobs_removed, bytes_removed, temporary)


def _collect_blobs(
    store: FsspecStore,
    started: float,
    cutoff: float,
    *,
    live: set[str],
    freed: set[str],
    kept: set[str],
    dry_run: bool,
) -> tuple[int, int]:
    """Delete unreferenced blobs; return (count, bytes)."""
    candidates: list[tuple[str, int]] = []
    for digest, info in list(store.iter_blobs()):
        if digest in live:
            continue
        # Blobs of entries removed in this pass: uploaded no later than the
        # pass began (object stores stamp whole seconds).  Neither age keeps
        # a writer safe here; the second reading of manifests below does.
        old = (info.st_mtime <= started) if digest in freed else (info.st_mtime < cutoff)
        if old:
            candidates.append((digest, info.st_size))
    if dry_run:
        return len(candidates), sum(size for _, size in candidates)
    aside = []
    for digest, size in candidates:
        moved = store.set_blob_aside(digest)
        if moved is not None:
            aside.append((digest, moved, size))
    wanted: set[str] = set()
    if aside:
        for key in set(store.iter_manifest_keys()) - kept:
            wanted |= _blobs_of_key(store, key)
    blobs_removed = 0
    bytes_removed = 0
    for digest, moved, size in aside:
        if not store.finish_blob_aside(digest, moved, keep=digest in wanted):
            blobs_removed += 1
            bytes_removed += size
    return blobs_removed, bytes_removed
