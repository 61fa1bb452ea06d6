"""Looking after a cache: what it holds, budgets, removal (why a call would miss: `explain`).

These are the library functions behind ``recyclable cache ...``; each takes a
`Cache` and only reads the store, except `collect_garbage` and `remove_pool`.
Verification is `Cache.verify`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from recyclable.cache import Cache, GarbageReport
from recyclable.entryrows import Row, entry_rows
from recyclable.errors import PoolInUseError, PoolNotFoundError
from recyclable.explain import Explanation, explain_call
from recyclable.forkmap import fork_map
from recyclable.pool import Pool
from recyclable.runs import list_runs, live_run_keys
from recyclable.scan import (
    BlobSizes,
    CacheScan,
    ProgressHook,
    Tally,
    entry_sizes,
    manifest_blobs,
    read_file,
    scan_cache,
    sharded_names,
    sharded_totals,
)
from recyclable.showrows import ShownRow, merged, shown_parts

__all__ = [
    "BudgetReport",
    "CacheSummary",
    "EntrySummary",
    "Explanation",
    "PoolSummary",
    "collect_garbage",
    "explain_call",
    "list_entries",
    "pool_rows",
    "pool_shown",
    "pool_shown_parts",
    "pool_shown_rows",
    "remove_pool",
    "summarize_cache",
    "summarize_pools",
]


@dataclass(frozen=True)
class CacheSummary:
    """A cache at a glance.

    Attributes:
        path: the cache directory.
        format: its on-disk format version.
        bytes: bytes of stored entries and data.
        entries: published entries.
        blobs: stored data files.
        pools: pools.
        quarantined: files set aside by verification.
        temporary: staging files (a writer's, or leftovers for ``gc``).

    """

    path: str
    format: int
    bytes: int
    entries: int
    blobs: int
    pools: int
    quarantined: int
    temporary: int


@dataclass(frozen=True)
class PoolSummary:
    """One pool: what it holds and when it was last used.

    Attributes:
        name: the pool's name.
        entries: entries it holds (markers whose entry exists).
        bytes: bytes of those entries (shared data counted in each pool holding it).
        last_used: the latest change to the pool (a marker added, a run started), epoch seconds.
        live_runs: runs using it now.
        unfinished_runs: runs that failed or were killed and can be resumed.

    """

    name: str
    entries: int
    bytes: int
    last_used: float
    live_runs: int
    unfinished_runs: int


@dataclass(frozen=True)
class EntrySummary:
    """One stored call.

    Attributes:
        key: the entry's key.
        plugin: the plugin of the action.
        action: the action.
        arguments: ``(name, digest)`` of each argument in the key.
        bytes: stored bytes (manifest and data).
        compute_seconds: how long the call took when it was computed.
        created: when it was stored (ISO 8601).
        values: ``(name, short text)`` of each argument (a scalar's repr, else its
            type), from the entry's lineage; empty for entries stored without it.
        inputs: ``(argument, part, key, result part)`` of each argument another stored
            call produced (see `recyclable.steps.Step`).

    """

    key: str
    plugin: str
    action: str
    arguments: tuple[tuple[str, str], ...]
    bytes: int
    compute_seconds: float
    created: str
    values: tuple[tuple[str, str], ...] = ()
    inputs: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class BudgetReport:
    """What a budgeted garbage collection did.

    Attributes:
        garbage: what was removed (or would be, in a dry run).
        evicted: keys of the unpooled entries chosen for eviction, least recently stored
            first (without a budget: every unpooled entry removed, sorted by key).
        kept_unpooled: unpooled entries kept within the budget.
        bytes_after: the cache's size afterwards (estimated in a dry run).
        within_budget: the size is within ``max_bytes`` (pooled entries are never evicted).

    """

    garbage: GarbageReport
    evicted: tuple[str, ...]
    kept_unpooled: int
    bytes_after: int
    within_budget: bool


def summarize_cache(
    cache: Cache, *, scan: CacheScan | None = None, progress: ProgressHook | None = None
) -> CacheSummary:
    """Count and size what a cache holds (one ``scandir`` and ``stat`` pass).

    Args:
        cache: the cache.
        scan: a pass already made over it (`recyclable.scan.scan_cache`), to reuse.
        progress: told how far the pass got (see `recyclable.scan.ProgressHook`).

    """
    store = cache.local_store
    if scan is not None:
        entries, blobs = len(scan.manifests), len(scan.blobs)
        size = scan.bytes
    else:
        # Counts and sizes only: no record per file.
        root = str(store.root)
        entries, entry_bytes = sharded_totals(
            f"{root}/entries", ".json", progress=progress, what="listing entries"
        )
        blobs, blob_bytes = sharded_totals(
            f"{root}/objects", progress=progress, what="listing data files"
        )
        size = entry_bytes + blob_bytes
    return CacheSummary(
        path=str(cache.path),
        format=cache.format,
        bytes=size,
        entries=entries,
        blobs=blobs,
        pools=len(store.list_pools()),
        quarantined=_count_files(store.quarantine),
        temporary=sum(1 for _ in store.iter_temp()),
    )


def summarize_pools(cache: Cache, *, progress: ProgressHook | None = None) -> list[PoolSummary]:
    """Every pool of the cache, sorted by name.

    Each pool's markers are listed (not stat-ed: a marker is never touched
    after its creation, so the shard directories' times say when the latest
    was added), and each entry's manifest is read once, whichever pools
    hold it, to find its data files.
    """
    store = cache.local_store
    sizes = BlobSizes(str(store.objects))
    marked = {name: sharded_names(f"{store.pools}/{name}") for name in cache.pools()}
    # Each entry read once, whichever pools hold it, in the order listed.
    unique = list(dict.fromkeys(key for keys in marked.values() for key in keys))
    # Read in two halves where that is safe, the second by a forked child.
    entry_bytes: dict[str, int] = {}
    manifests = str(store.entries)
    for part in fork_map(
        lambda keys, report: entry_sizes(manifests, keys, sizes, progress=report),
        unique,
        progress=progress,
    ):
        entry_bytes.update(part)
    found = []
    for name, keys in marked.items():
        root = f"{store.pools}/{name}"
        last_used = _mtime(root)
        for shard in _scandir(root):
            last_used = max(last_used, _mtime(shard.path))
        # Missing (removed meanwhile) and damaged entries are not entries the pool holds.
        held = [entry_bytes[key] for key in keys if key in entry_bytes]
        entries = len(held)
        size = sum(held)
        runs = list_runs(Pool(cache, name))
        for run in runs:
            last_used = max(last_used, run.heartbeat)
        found.append(
            PoolSummary(
                name=name,
                entries=entries,
                bytes=size,
                last_used=last_used,
                live_runs=sum(1 for run in runs if run.live),
                unfinished_runs=sum(1 for run in runs if not run.live),
            )
        )
    return found


def list_entries(
    cache: Cache, pool: str, *, progress: ProgressHook | None = None
) -> list[EntrySummary]:
    """The entries a pool holds, oldest first.

    Raises:
        PoolNameError: the name is not valid.
        PoolNotFoundError: no such pool.

    """
    return [
        EntrySummary(
            key=key,
            plugin=plugin,
            action=action,
            arguments=tuple((str(n), str(d)) for n, d in arguments),
            bytes=size,
            compute_seconds=seconds,
            created=created,
            values=tuple((str(n), str(t)) for n, t in values),
            inputs=tuple(tuple(str(part) for part in item) for item in inputs),
        )
        for created, action, key, plugin, arguments, size, seconds, values, inputs in pool_rows(
            cache, pool, progress=progress
        )
    ]


def pool_rows(cache: Cache, pool: str, *, progress: ProgressHook | None = None) -> list[Row]:
    """The entries a pool holds as rows (`recyclable.entryrows.Row`), oldest first.

    What `list_entries` returns, without a record per entry: the form
    ``recyclable cache show`` prints from.

    Raises:
        PoolNameError: the name is not valid.
        PoolNotFoundError: no such pool.

    """
    opened = cache.pool(pool)
    store = cache.local_store
    keys = sharded_names(f"{store.pools}/{opened.name}")
    return entry_rows(str(store.entries), keys, BlobSizes(str(store.objects)), progress=progress)


def pool_shown_rows(
    cache: Cache, pool: str, *, progress: ProgressHook | None = None
) -> list[ShownRow]:
    """The entries a pool holds as the text ``recyclable cache show`` prints, oldest first.

    The fields of `pool_rows`, each as its JSON text (see `recyclable.showrows`).

    Raises:
        PoolNameError: the name is not valid.
        PoolNotFoundError: no such pool.

    """
    return pool_shown(cache, pool, _same, progress=progress)


T = TypeVar("T")
R = TypeVar("R")


def pool_shown(
    cache: Cache,
    pool: str,
    render: Callable[[ShownRow], T],
    *,
    progress: ProgressHook | None = None,
) -> list[T]:
    """``render(row)`` of each row of `pool_shown_rows`, in its order.

    A large pool's second half is read and rendered in a forked child where
    that is safe (`recyclable.showrows.shown_parts`), so ``render`` must
    return values `marshal` encodes: a row's text, a tuple of cells.

    Raises:
        PoolNameError: the name is not valid.
        PoolNotFoundError: no such pool.

    """
    return merged(
        pool_shown_parts(cache, pool, functools.partial(_each, render), progress=progress)
    )


def pool_shown_parts(
    cache: Cache,
    pool: str,
    render: Callable[[list[ShownRow]], R],
    *,
    progress: ProgressHook | None = None,
) -> list[R]:
    """``render(rows)`` of one or two parts of the pool's rows, each part sorted.

    For output made of the parts' rows together (a table whose columns are
    padded where each part was read): see `recyclable.showrows.shown_parts`.

    Raises:
        PoolNameError: the name is not valid.
        PoolNotFoundError: no such pool.

    """
    opened = cache.pool(pool)
    store = cache.local_store
    return shown_parts(
        str(store.entries),
        f"{store.pools}/{opened.name}",
        BlobSizes(str(store.objects)),
        render,
        progress=progress,
    )


def _each(render: Callable[[ShownRow], T], rows: list[ShownRow]) -> list[tuple[str, T]]:
    return [(row[0], render(row)) for row in rows]


def _same(row: ShownRow) -> ShownRow:
    return row


def collect_garbage(
    cache: Cache,
    *,
    max_bytes: int | None = None,
    older_than: float | None = None,
    dry_run: bool = False,
    now: float | None = None,
    progress: ProgressHook | None = None,
) -> BudgetReport:
    """Garbage collection, optionally keeping unpooled entries within a budget.

    Without a budget every entry no pool references is removed (as
    `Cache.garbage_collect`).  With one, unpooled entries are evicted least
    recently stored first (the manifest's modification time, i.e. when the
    entry was stored; loads do not refresh it) while they are older than
    ``older_than`` seconds or the cache is larger than ``max_bytes``; the others
    are kept.  Entries in a pool, or used by a live run, are never evicted.

    Args:
        cache: the cache.
        max_bytes: the size the cache should not exceed.
        older_than: evict unpooled entries stored more than this many seconds ago.
        dry_run: report, remove nothing.
        now: the current time (epoch seconds), for tests.
        progress: told how far the collection got (see `recyclable.scan.ProgressHook`).

    Raises:
        ValueError: a budget is negative.

    """
    for name, value in (("max_bytes", max_bytes), ("older_than", older_than)):
        if value is not None and value < 0:
            raise ValueError(f"collect_garbage({name}=...) must be >= 0, got {value!r}")
    store = cache.local_store
    when = time.time() if now is None else now
    if max_bytes is None and older_than is None:
        # No budget: the collection's own listing and reads give the size afterwards.
        tally = Tally()
        removed: list[str] = []
        garbage = cache.garbage_collect(
            dry_run=dry_run, progress=progress, removed=removed, tally=tally
        )
        gone = set(removed)
        read = tally.manifests
        after = sum(tally.blobs.values()) - garbage.bytes
        after += sum(read.values()) - sum(read.get(key, 0) for key in gone)
        # Only the manifests the collection did not read need a stat (set operations:
        # a cache in use has 100,000 entries and more).
        for key in tally.listed - gone - read.keys():
            with contextlib.suppress(FileNotFoundError):
                after += os.stat(f"{store.entries}/{key[:2]}/{key}.json").st_size
        return BudgetReport(
            garbage=garbage,
            evicted=tuple(sorted(removed)),
            kept_unpooled=0,
            bytes_after=after,
            within_budget=True,
        )
    # One pass for the sizes and ages; the collection itself reads what it needs.
    found = scan_cache(str(store.root), progress=progress)
    total = found.bytes
    evict: list[str] = []
    keep: set[str] = set()
    referenced = live_run_keys(store)
    for pool in store.list_pools():
        referenced.update(sharded_names(str(store.pool_dir(pool))))
    sizes = BlobSizes(str(store.objects), found.blobs)
    unpooled: list[tuple[float, str, int]] = []
    for key, (size, mtime) in found.manifests.items():
        if key in referenced:
            continue
        data = read_file(f"{store.entries}/{key[:2]}/{key}.json")
        blobs = manifest_blobs(data) if data is not None else None
        unpooled.append((mtime, key, size + sizes.total(blobs or ())))
    unpooled.sort()
    budget = total
    for used, key, size in unpooled:
        too_old = older_than is not None and when - used > older_than
        too_big = max_bytes is not None and budget > max_bytes
        if too_old or too_big:
            evict.append(key)
            budget -= size
        else:
            keep.add(key)
    taken: list[str] = []
    garbage = cache.garbage_collect(dry_run=dry_run, protect=keep, progress=progress, removed=taken)
    # The size afterwards, from the pass made before (writers may have added since).
    after = total - garbage.bytes - sum(found.manifests.get(key, (0, 0.0))[0] for key in taken)
    return BudgetReport(
        garbage=garbage,
        evicted=tuple(evict),
        kept_unpooled=len(keep),
        bytes_after=after,
        within_budget=max_bytes is None or after <= max_bytes,
    )


def remove_pool(cache: Cache, name: str, *, force: bool = False) -> GarbageReport:
    """Remove a pool and reclaim what no other pool uses, unless a live run uses it.

    Args:
        cache: the cache.
        name: the pool.
        force: remove it even while runs use it (their progress is lost).

    Raises:
        PoolNameError: the name is not valid.
        PoolNotFoundError: no such pool.
        PoolInUseError: a live run uses the pool and ``force`` is false.

    """
    pool = cache.pool(name)
    live = [f"{run.host}:{run.pid}" for run in list_runs(pool) if run.live]
    if live and not force:
        raise PoolInUseError(name, live)
    try:
        return cache.remove_pool(name)
    except PoolNotFoundError:
        raise PoolNotFoundError(
            f"pool {name!r} was removed by another process while this one was removing it"
        ) from None


# --- helpers ------------------------------------------------------------------------------


def _mtime(path: Any) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0


def _scandir(path: Any) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _count_files(root: Any) -> int:
    count = 0
    for _, _, files in os.walk(root):
        count += len(files)
    return count


def format_time(epoch: float) -> str:
    """Local ISO-8601 time (to the second) of an epoch timestamp, or ``-`` for none."""
    if epoch <= 0:
        return "-"
    return datetime.fromtimestamp(epoch).isoformat(sep=" ", timespec="seconds")
