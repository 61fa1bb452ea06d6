"""The miss path end to end: a step computed and stored, against its lower bound.

Run through ``benchmarks/run.py --only miss``.  A miss is timed from the call
to the value it returns: key, lease, compute, blob, mutation check, round
trip, marker, manifest, release.  Its lower bound is what any cache must do
for the same call, timed in the same rounds with the order alternating: hash
the argument once, compute, write the result once to a new file.  Nothing is
subtracted from either side.

The bound writes its file the cheapest way known on this machine, which is
also the way the store writes a blob, so that it stays a bound: blocks
allocated first (``posix_fallocate``), then the bytes in pieces of 1 MiB.
(On this VM a single write of 64 MiB measured 8-12× slower at times than
the same bytes in 1 MiB pieces, its time spent in the kernel's copy into new
page-cache folios; see ``WRITE_PIECE`` in ``recyclable/store/localwrite.py``.
Preallocated and written in pieces it measured 13-17 % cheaper.)  What the store adds on top is its
checksum of the result (one xxh3_128 pass, the blob's name), the lease, the
marker, the manifest and mapping the blob back.  The rows also name, in
their case, the ratio against the bound as first defined (the same file
written in one plain call, measured in the same rounds), for comparison with
earlier runs.

* **files kept**: every round stores a new entry in one cache and nothing is
  removed until the row is done, as in a real cache; the bound keeps its
  files too.  The cache is one in use: it holds `IN_USE_ENTRIES` entries,
  each with a small data file, before the rounds, so its shard directories
  exist, as they do after its first thousand or so entries (a new cache's
  first misses also make up to four of them each, 0.2-1 ms apiece on this
  VM; the bound writes into a directory that exists).  (Removing the files between
  rounds lets the next write reuse the page-cache pages just freed, which
  flatters both sides.)  That cache is made once for the group and every row
  stores into it; after a row only the row's own results (its data files,
  and the bound's files) are deleted, a few dozen files.

  **No row follows a mass deletion.**  On ext4 without a journal, as this
  VM's root filesystem is, a new file costs more the more inodes were freed
  in the last minute or so: the inode allocator checks each recently freed
  inode of the block group and passes over it.  Measured here, per create:
  39 µs on a quiet filesystem, 205 µs after 1,000 files were deleted, 1 ms
  after 5,000, 3.2 ms after 20,000.  A miss makes three new files (its data
  file's and its manifest's staging files, its pool's marker) where the bound
  makes one, so a row measured after the benchmark deleted a cache of its own
  would charge ours three times the benchmark's own debris.  Hence one cache
  for the group instead of one per row removed after it (3,000 entries, some
  9,000 files), and the scale group's cache of 100,000 entries is kept to the
  end of the run.  (The store itself frees no inode per miss: its lease file
  is kept between claims, see `recyclable.leasespare`.)
* **pages reused**: the data file of each miss's result is deleted after the
  miss, as the bound's file is, untimed, so each write reuses freed pages.
  The rest of the cache stays as it is in use (removing the pool instead
  would also take away its marker directories and the entries that keep the
  shard directories, and the next miss would make them again).
* **mutation check on / off**: a decorated step re-fingerprints its
  arguments after the call (`recyclable.mutation`); "off" is the
  ``recyclable.Memory`` setting, which skips it.
* **fed by a stored result**: the next step of a pipeline, whose argument is
  the result the previous step just stored (a read-only map of its blob).
  That argument's digest was taken when its blob was named, so the step's
  key does not hash it again, while the bound still hashes its argument once.
  The previous step runs untimed in each round; the bound's argument is the
  same values computed in memory.
* the fixed cost of a miss of ``f(int)``, against publishing one small file
  atomically (create, write, rename).

**The ratio of every miss row is the median of the rounds' own ratios**
(bound / ours of the two measurements of one round), not the ratio of the two
medians.  The cost of writing into new pages drifts several-fold within a row
on a shared VM; the two measurements of one round, taken one after the other
in alternating order, see the same machine, so their ratio cancels the drift,
where the two medians may come from rounds in different states.  The ratio
of the medians is printed in the case beside it (it has come out both above
and below the paired figure), and the time columns stay the plain medians.

Ratios are printed bound / ours: ``0.87×`` means ours takes 1.15 times the bound.
The 64 MiB rows also name the load average when the row ended.
"""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xxhash
from rounds import timed

from recyclable import Cache
from recyclable import recyclable as recyclable_decorator
from recyclable.poolwrite import INLINE_MAX

MiB = 1024 * 1024

_serial = itertools.count()


def double(a: np.ndarray) -> np.ndarray:
    """The step: one pass over the argument, a new result of the same size."""
    return a * 2.0


_PIECE = 1 << 20


def _write_file(path: Path, data: Any) -> None:
    """Create ``path`` holding ``data``: blocks allocated first, then 1 MiB per write."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data).cast("B")
        if view.nbytes >= _PIECE and hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, view.nbytes)
        for start in range(0, view.nbytes, _PIECE):
            piece = view[start : start + _PIECE]
            while piece:
                piece = piece[os.write(fd, piece) :]
    finally:
        os.close(fd)


def _write_file_plainly(path: Path, data: Any) -> None:
    """Create ``path`` holding ``data`` in one write call, no blocks allocated first."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class MissFigures(NamedTuple):
    """One 64 MiB miss row: medians in seconds and medians of per-round ratios."""

    ours: float
    bound: float
    per_round: float  # bound / ours
    plain_per_round: float  # the plain write's bound / ours


def _miss_row(
    workdir: Path,
    cache: Cache,
    arg: np.ndarray,
    *,
    keep: bool,
    check: bool,
    rounds: int,
) -> MissFigures:
    """A miss of ``double(arg)`` in ``cache`` against its bound, and the bound written plainly."""
    bound_dir = workdir / f"miss-bound-{next(_serial)}"
    bound_dir.mkdir()
    step = recyclable_decorator(name=f"double{next(_serial)}")(double)
    step.__recyclable__.checks_arguments = check  # off: as recyclable.Memory sets it

    def fresh_argument() -> None:
        # A new call each round (a new key and result), untimed: one element changes.
        arg[0] = float(next(_serial))

    def ours() -> float:
        fresh_argument()
        pool = cache.create_pool("p", reuse=True)
        with pool:
            before = (pool.stats.loaded, pool.stats.computed)
            elapsed = timed(lambda: step(arg))
            after = (pool.stats.loaded, pool.stats.computed)
        if (after[0] - before[0], after[1] - before[1]) != (0, 1):
            raise RuntimeError(f"miss row: expected one computed call, got {before} -> {after}")
        if not keep and _drop_data_files(cache, larger_than=arg.nbytes // 2) != 1:
            # Untimed: frees its pages.  Earlier rows' results were deleted after them.
            raise RuntimeError("pages reused: expected one result's data file")
        return elapsed

    def bound_by(write: Callable[[Path, Any], None]) -> Callable[[], float]:
        def bound() -> float:
            fresh_argument()
            target = bound_dir / f"result-{next(_serial)}"

            def run() -> None:
                xxhash.xxh3_128_digest(arg)  # the argument hashed once (its key)
                write(target, double(arg))  # computed, written once to a new file

            elapsed = timed(run)
            if not keep:
                target.unlink()
            return elapsed

        return bound

    return _figures(ours, bound_by, rounds, _row_cleanup(cache, bound_dir, arg.nbytes // 2))


def _drop_data_files(cache: Cache, *, larger_than: int) -> int:
    """Delete the cache's data files larger than ``larger_than`` bytes (the rounds' results)."""
    objects = cache.local_store.objects
    dropped = 0
    for shard in os.scandir(objects):
        for entry in os.scandir(shard.path):
            if entry.stat().st_size > larger_than:
                os.unlink(entry.path)
                dropped += 1
    return dropped


def _row_cleanup(cache: Cache, bound_dir: Path, larger_than: int) -> Callable[[], None]:
    """What a row deletes after its rounds: its results' data files and the bound's files.

    The cache in use stays, with the row's entries (their manifests and
    markers): deleting thousands of files would slow the next row's creates
    (see the module docstring).
    """

    def cleanup() -> None:
        _drop_data_files(cache, larger_than=larger_than)
        shutil.rmtree(bound_dir, ignore_errors=True)

    return cleanup


# Entries stored before a row's rounds: enough to make every shard
# directory of the cache's layout (256 of each kind) with near certainty.
IN_USE_ENTRIES = 3000


def _in_use(cache: Cache) -> None:
    """Store `IN_USE_ENTRIES` results in pool ``p``, each in a data file: a cache of a while of use.

    A young cache makes a shard directory for almost every file its first
    misses write (an entry's, its data file's, its marker's and its
    lease's: 0.2-1 ms each here); one in use has them all.  Each result is
    just past the inline limit, so that the data files' shards exist too (a
    cache of small results only has none: its first large result would make
    one).
    """
    step = recyclable_decorator(name=f"in_use{next(_serial)}")(_tiny)
    pool = cache.create_pool("p", reuse=True)
    with pool:
        for i in range(IN_USE_ENTRIES):
            step(i)
    if pool.stats.computed != IN_USE_ENTRIES:
        raise RuntimeError(f"filling the cache: expected {IN_USE_ENTRIES} stores, {pool.stats}")


def _tiny(i: int) -> bytes:
    # One distinct data file per call, just past the inline limit.
    return i.to_bytes(8, "little") * (INLINE_MAX // 8 + 1)


def _figures(
    ours: Callable[[], float],
    bound_by: Callable[[Callable[[Path, Any], None]], Callable[[], float]],
    rounds: int,
    cleanup: Callable[[], None],
) -> MissFigures:
    """Ours against the bound written both ways, in the same rounds; ``cleanup`` after."""
    series = [ours, bound_by(_write_file), bound_by(_write_file_plainly)]
    try:
        for measure in series:
            measure()  # untimed: warms the code paths and the directories
        a, b, c = _rounds(series, rounds)
        return MissFigures(
            statistics.median(a),
            statistics.median(b),
            statistics.median(y / x for x, y in zip(a, b, strict=True)),
            statistics.median(z / x for x, z in zip(a, c, strict=True)),
        )
    finally:
        cleanup()  # kept files add up: the large ones are freed once the row is done


def _fed_miss_row(workdir: Path, cache: Cache, arg: np.ndarray, rounds: int) -> MissFigures:
    """A miss of ``plus_one(double(arg))``'s second step, fed by the first's stored result."""
    bound_dir = workdir / f"fed-miss-bound-{next(_serial)}"
    bound_dir.mkdir()
    first = recyclable_decorator(name=f"double{next(_serial)}")(double)
    second = recyclable_decorator(name=f"plus_one{next(_serial)}")(plus_one)

    def ours() -> float:
        arg[0] = float(next(_serial))  # a new call each round, untimed
        pool = cache.create_pool("p", reuse=True)
        with pool:
            stored = first(arg)  # untimed: the previous step, stored
            if stored.flags.writeable:
                raise RuntimeError("fed miss row: the previous step's result is not its blob")
            before = (pool.stats.loaded, pool.stats.computed)
            elapsed = timed(lambda: second(stored))
            after = (pool.stats.loaded, pool.stats.computed)
        if (after[0] - before[0], after[1] - before[1]) != (0, 1):
            raise RuntimeError(f"fed miss row: expected one computed call, got {before} -> {after}")
        return elapsed

    def bound_by(write: Callable[[Path, Any], None]) -> Callable[[], float]:
        def bound() -> float:
            arg[0] = float(next(_serial))
            given = double(arg)  # untimed: the previous step's result, in memory
            target = bound_dir / f"result-{next(_serial)}"

            def run() -> None:
                xxhash.xxh3_128_digest(given)  # the argument hashed once (its key)
                write(target, plus_one(given))

            return timed(run)

        return bound

    return _figures(ours, bound_by, rounds, _row_cleanup(cache, bound_dir, arg.nbytes // 2))


def plus_one(a: np.ndarray) -> np.ndarray:
    """The next step: one pass over its argument, a new result of the same size."""
    return a + 1.0


def _rounds(series: list[Callable[[], float]], rounds: int) -> list[list[float]]:
    """Each measurement's seconds, round by round, the order rotated and reversed in turn."""
    times: list[list[float]] = [[] for _ in series]
    order = list(range(len(series)))
    for i in range(rounds):
        turn = order[i % len(order) :] + order[: i % len(order)]
        for j in reversed(turn) if i % 2 else turn:
            times[j].append(series[j]())
    return times


def _alternating_rounds(
    ours: Callable[[], float], bound: Callable[[], float], rounds: int
) -> tuple[float, float, float]:
    """(ours, bound) median seconds, and the median of each round's bound / ours.

    On a shared machine the cost of writing into new pages drifts by several
    times within a row; a round's two measurements, taken one after the
    other, drift together, so the median of their ratios is the steadier
    figure (see the module docstring).
    """
    a, b = _rounds([ours, bound], rounds)
    per_round = statistics.median(y / x for x, y in zip(a, b, strict=True))
    return statistics.median(a), statistics.median(b), per_round


def _paired(row_class: Callable[..., Any], per_round: float, *args: Any) -> Any:
    """A row of the runner's ``Row`` class whose ratio is the median per-round ``per_round``."""

    class PairedRow(row_class):  # type: ignore[misc, valid-type]
        @property
        def ratio(self) -> float:
            return per_round

    return PairedRow(*args)


def _small_miss_row(
    workdir: Path, cache: Cache, rounds: int, calls: int
) -> tuple[float, float, float]:
    """(ours, floor) median seconds per miss of ``f(int)`` and the median per-round ratio."""
    floor_dir = workdir / f"small-miss-floor-{next(_serial)}"
    floor_dir.mkdir()
    payload = b"x" * 1024  # about a manifest's size

    def plus_one(x: int) -> int:
        return x + 1

    step = recyclable_decorator(name="plus_one")(plus_one)
    pool = cache.create_pool("p", reuse=True)

    def ours() -> float:
        first = next(_serial) * calls
        with pool:
            before = pool.stats.computed
            elapsed = timed(lambda: [step(first + i) for i in range(calls)])
            if pool.stats.computed - before != calls or pool.stats.loaded:
                raise RuntimeError("small miss row: every call must be computed")
        return elapsed / calls

    def floor() -> float:
        first = next(_serial) * calls

        def run() -> None:
            for i in range(calls):
                staged = floor_dir / f".{first + i}.tmp"
                _write_file(staged, payload)
                os.rename(staged, floor_dir / f"{first + i}")

        return timed(run) / calls

    # Its small files stay to the end of the run (see the module docstring).
    ours(), floor()
    return _alternating_rounds(ours, floor, rounds)


def bench_misses(smoke: bool, workdir: Path, Row: Callable[..., Any]) -> list[Any]:
    """Rows of the miss group (see the module docstring), built with the runner's ``Row``."""
    size = 1 * MiB if smoke else 64 * MiB
    rounds = 3 if smoke else 21
    arg = np.random.default_rng(7).random(size // 8)
    label = f"{size // MiB} MiB miss end to end"
    bound_name = "hash arg + compute + write (preallocated)"
    cache = Cache(workdir / "miss-cache")
    _in_use(cache)  # one cache in use for every row (see the module docstring)
    rows = []
    for kind, goal, page_cache, measure in (
        (
            "files kept, mutation check on",
            "≥ 0.87× (≤ 1.15× the bound)",
            "new pages",
            lambda: _miss_row(workdir, cache, arg, keep=True, check=True, rounds=rounds),
        ),
        (
            "files kept, mutation check off",
            "≥ 0.91× (≤ 1.1× the bound)",
            "new pages",
            lambda: _miss_row(workdir, cache, arg, keep=True, check=False, rounds=rounds),
        ),
        (
            "pages reused, mutation check on",
            "≥ 0.83× (≤ 1.2× the bound)",
            "reused",
            lambda: _miss_row(workdir, cache, arg, keep=False, check=True, rounds=rounds),
        ),
        (
            "files kept, fed by the previous step's stored result",
            "report",
            "new pages",
            lambda: _fed_miss_row(workdir, cache, arg, rounds),
        ),
    ):
        got = measure()
        case = (
            f"{label}, {kind} "
            f"(median of per-round ratios; medians' ratio {got.bound / got.ours:.2f}×; "
            f"against one plain write {got.plain_per_round:.2f}×; "
            f"load {os.getloadavg()[0]:.1f})"
        )
        rows.append(
            _paired(
                Row, got.per_round, "miss", case, got.ours, bound_name, got.bound, goal, page_cache
            )
        )
    ours, floor, per_round = _small_miss_row(
        workdir, cache, rounds=5 if smoke else 11, calls=20 if smoke else 200
    )
    rows.append(
        _paired(
            Row,
            per_round,
            "miss",
            f"miss of f(int) end to end, files kept (median of per-round ratios; "
            f"medians' ratio {floor / ours:.2f}×)",
            ours,
            "create + write + rename 1 KiB",
            floor,
            "report",
        )
    )
    return rows
