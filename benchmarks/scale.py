"""The ``scale`` group: a cache of 100,000 entries, its hit and its cache tools.

The cache is written through the library (``@recyclable`` calls in a pool) by
two processes at once, which takes about half a minute; one entry in ten has a
data file (a 20 KB result), the others keep their small result inline.  Its
files are then dated a week back, as in a cache in use for a while: garbage
collection must then consider every data file, and so read every manifest
(the worst case for it; nothing is removed, so each round finds the same).

Rows (every ratio is floor time / our time, so 1.0× means "as fast as the
floor" and 0.67× means "1.5× the floor's time"; each pair is timed in the same
rounds, in alternating order):

* a hit with 100,000 entries vs one with 100 entries;
* ``recyclable cache info`` and ``pools`` vs one ``os.scandir`` + stat pass over the
  files they size (entries and data files; for pools the markers too);
* ``show`` (``--json``, and the table) vs reading every manifest once
  (opening, reading and closing each); and, for scale, vs what the plain
  way of printing its rows costs on top of that: the description line
  parsed by ``json.loads`` and each row encoded by ``json.dumps``;
* ``gc`` vs what it must read: every manifest once (every data file is old,
  so every reference matters), the pools' markers listed (they are the
  references) and every data file stat-ed (its age decides whether it may
  go); reading the manifests alone leaves out a fifth of that;
* ``verify`` vs reading every manifest and every data file once.

The tools are timed in a new process of their own (``python scale.py
--tools``), as the command runs: this one has threads (numpy's, the lease
heartbeat's), and a process with threads never forks the helper that reads
the second half of a large pool for ``cache show`` (`recyclable.forkmap`).
There they run through the command's own entry point, stdout going to a
string, each paired with its floor in the same rounds; what each printed is
checked after its round, untimed (entry counts, nothing removed, nothing
damaged), so a wrong answer stops the group, and then dropped: outputs kept
for the end (27 MB each for ``show --json``) would grow this process round
after round, and a larger process forks more slowly than a new command.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recyclable import Cache
from recyclable import recyclable as recyclable_decorator
from recyclable.cli import main as cli_main

__all__ = ["rows"]

# One entry in this many has a data file (its result is past the inline limit).
BLOB_EVERY = 10
BLOB_BYTES = 20_000
WEEK = 7 * 24 * 3600.0


def _result(i: int) -> Any:
    if i % BLOB_EVERY == 0:
        return i.to_bytes(8, "little") * (BLOB_BYTES // 8)
    return i * 3


scale_step = recyclable_decorator(name="scale_step")(_result)


def _fill(cache_dir: str, start: int, stop: int) -> None:
    """One writing process: compute and store calls ``start`` .. ``stop - 1`` in pool ``scale``."""
    pool = Cache(cache_dir).create_pool("scale", reuse=True)
    with pool:
        for i in range(start, stop):
            scale_step(i)
    if pool.stats.computed != stop - start:
        raise RuntimeError(f"expected {stop - start} stores, pool.stats says {pool.stats}")


def build(cache_dir: Path, count: int, processes: int = 2) -> None:
    """Write ``count`` entries into ``cache_dir`` with ``processes`` writers, then age the files."""
    Cache(cache_dir)
    context = multiprocessing.get_context("spawn")
    bounds = [count * p // processes for p in range(processes + 1)]
    jobs = [
        context.Process(target=_fill, args=(str(cache_dir), bounds[p], bounds[p + 1]))
        for p in range(processes)
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    if any(job.exitcode != 0 for job in jobs):
        raise RuntimeError("a writer of the scale cache failed")
    old = time.time() - WEEK
    for sub in ("entries", "objects"):
        for shard in os.scandir(cache_dir / sub):
            for entry in os.scandir(shard.path):
                os.utime(entry.path, (old, old))


# --- floors ---------------------------------------------------------------------------------


def _stat_pass(*roots: Path) -> int:
    """One scandir + stat pass over sharded directories; the bytes found."""
    total = 0
    for root in roots:
        for shard in os.scandir(root):
            if shard.name.startswith("."):
                continue
            for entry in os.scandir(shard.path):
                total += entry.stat().st_size
    return total


def _list_pass(root: Path) -> int:
    """List the names in every shard of a sharded directory (no stat); how many."""
    return sum(
        len(os.listdir(shard.path)) for shard in os.scandir(root) if not shard.name.startswith(".")
    )


def _show_plain(entries: Path, markers: Path) -> int:
    """``cache show --json`` done plainly: read, json.loads, json.dumps a row each; bytes out."""
    rows = []
    for shard in os.scandir(markers):
        if shard.name.startswith("."):
            continue
        for name in os.listdir(shard.path):
            with open(entries / name[:2] / f"{name}.json", "rb") as f:
                data = f.read()
            _, load_line, meta_line = data.split(b"\n", 2)
            load, meta = json.loads(load_line), json.loads(meta_line)
            lineage = meta.get("lineage") or {}
            row = {
                "action": meta["action"],
                "arguments": meta["arguments"],
                "bytes": len(data),
                "compute_seconds": load["compute_seconds"],
                "created": meta["created"],
                "inputs": lineage.get("inputs", []),
                "key": name,
                "plugin": meta["plugin"],
                "values": lineage.get("values", []),
            }
            rows.append((meta["created"], json.dumps(row, sort_keys=True)))
    rows.sort()
    return len("[\n  " + ",\n  ".join(text for _, text in rows) + "\n]\n")


def _read_pass(root: Path) -> int:
    """Open, read and close every file of a sharded directory once; the bytes read."""
    total = 0
    for shard in os.scandir(root):
        for entry in os.scandir(shard.path):
            fd = os.open(entry.path, os.O_RDONLY)
            try:
                while chunk := os.read(fd, 1 << 20):
                    total += len(chunk)
            finally:
                os.close(fd)
    return total


# --- the tools ------------------------------------------------------------------------------


def _tool(*argv: str) -> str:
    """Run ``recyclable cache ARGV`` in this process; what it printed on stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(["cache", *argv])
    if code != 0:
        raise RuntimeError(f"recyclable cache {' '.join(argv)} exited {code}")
    return out.getvalue()


def _paired(
    ours: Callable[[], Any],
    floor: Callable[[], Any],
    rounds: int,
    check: Callable[[Any], None] | None = None,
) -> tuple[float, float]:
    """Medians of ``ours`` and ``floor`` over ``rounds``, alternating which goes first.

    ``check`` is given what ``ours`` returned each time, untimed, and the
    value is dropped then: a command's output kept for later would make this
    process larger at each round, and a larger process forks the helper of
    the cache tools more slowly than a new command does.
    """
    times: dict[int, list[float]] = {0: [], 1: []}
    ours(), floor()  # untimed: warm the page cache and the code paths alike
    for round_no in range(rounds):
        order = (0, 1) if round_no % 2 == 0 else (1, 0)
        for which in order:
            start = time.perf_counter()
            value = (ours if which == 0 else floor)()
            times[which].append(time.perf_counter() - start)
            if which == 0 and check is not None:
                check(value)
            del value
    return statistics.median(times[0]), statistics.median(times[1])


def rows(smoke: bool, workdir: Path, row: Any, counted: Any) -> list[Any]:
    """The scale rows (``row`` is benchmarks.run.Row, ``counted`` its Counted)."""
    small, large = (100, 300) if smoke else (100, 100_000)
    rounds = 3 if smoke else 7
    caches = {}
    for count in (small, large):
        caches[count] = workdir / f"scale-{count}"
        build(caches[count], count)
    found = []

    # The hit, at both sizes, alternating.
    pools = {n: Cache(path).create_pool("scale", reuse=True) for n, path in caches.items()}
    # 100 calls spread over each cache, one in ten with a data file at both sizes.
    samples = {
        n: [(j * (n // 100)) // BLOB_EVERY * BLOB_EVERY + j % BLOB_EVERY for j in range(100)]
        for n in caches
    }

    def lookups(count: int) -> float:
        sample, pool = samples[count], pools[count]
        with pool, counted(pool, f"hits with {count} entries", loaded=len(sample), computed=0):
            start = time.perf_counter()
            for k in sample:
                scale_step(k)
            return (time.perf_counter() - start) / len(sample)

    # Only the calls are timed (not entering and leaving the pool), alternating sizes.
    lookups(small), lookups(large)
    latencies: dict[int, list[float]] = {small: [], large: []}
    for round_no in range(rounds * 2):
        for count in (small, large) if round_no % 2 == 0 else (large, small):
            latencies[count].append(lookups(count))
    hit_large = statistics.median(latencies[large])
    hit_small = statistics.median(latencies[small])
    found.append(
        row(
            "scale",
            f"hit with {large:,} entries vs {small}",
            hit_large,
            f"hit with {small} entries",
            hit_small,
            "≥ 0.67× (≤ 1.5× slower)",
            "warm",
        )
    )

    timed_tools = subprocess.run(
        [sys.executable, __file__, "--tools", str(caches[large]), str(large), str(rounds)],
        capture_output=True,
        text=True,
        check=False,
    )
    if timed_tools.returncode != 0:
        raise RuntimeError(f"timing the cache tools failed:\n{timed_tools.stderr}")
    for case, ours_time, floor_name, floor_time, target in json.loads(timed_tools.stdout):
        found.append(row("scale", case, ours_time, floor_name, floor_time, target, "warm"))
    return found


def time_tools(cache_dir: str, large: int, rounds: int) -> list[tuple[str, float, str, float, str]]:
    """Each cache tool on a cache of ``large`` entries, paired with its floor: the figures."""
    found: list[tuple[str, float, str, float, str]] = []
    root = Path(cache_dir)
    where = ("--use-cache", str(root))
    blobs = len(range(0, large, BLOB_EVERY))
    entries, objects, markers = root / "entries", root / "objects", root / "pools" / "scale"
    cases: list[tuple[str, tuple[str, ...], Callable[[Any], bool], str, Callable[[], Any]]] = [
        (
            "info",
            ("info", *where),
            lambda d: d["entries"] == large and d["blobs"] == blobs,
            "scandir+stat of entries, data",
            lambda: _stat_pass(entries, objects),
        ),
        (
            "pools",
            ("pools", *where),
            lambda d: [p["entries"] for p in d] == [large],
            "scandir+stat of entries, data, markers",
            lambda: _stat_pass(entries, objects, markers),
        ),
        (
            "show",
            ("show", "scale", *where),
            lambda d: len(d) == large,
            "reading every manifest once",
            lambda: _read_pass(entries),
        ),
        (
            "show (table)",
            ("show", "scale", *where),
            lambda d: d == large + 2,  # the header, its rule and a line per entry
            "reading every manifest once",
            lambda: _read_pass(entries),
        ),
        (
            "show",
            ("show", "scale", *where),
            lambda d: len(d) == large,
            "read + json.loads + json.dumps a row, each entry",
            lambda: _show_plain(entries, markers),
        ),
        (
            "gc",
            ("gc", *where),
            lambda d: d["garbage"]["entries"] == 0 and d["garbage"]["blobs"] == 0,
            "reading every manifest, listing markers, stat of data",
            lambda: (_read_pass(entries), _list_pass(markers), _stat_pass(objects)),
        ),
        (
            "verify",
            ("verify", *where),
            lambda d: d["entries"] == large and d["blobs"] == blobs and not d["damaged"],
            "reading every manifest and data file",
            lambda: (_read_pass(entries), _read_pass(objects)),
        ),
    ]
    for name, argv, check, floor_name, floor in cases:
        # The second `show` row puts the first in scale: it is a reference, not a floor.
        plain = floor_name.startswith("read + json")
        as_table = name.endswith("(table)")
        command: tuple[str, ...] = argv if as_table else (*argv, "--json")

        # Each output is checked after its round (untimed: parsing the JSON is
        # not the tool's time), so a wrong answer stops the group.
        def checked(
            text: str,
            as_table: bool = as_table,
            check: Callable[[Any], bool] = check,
            argv: tuple[str, ...] = argv,
        ) -> None:
            if not check(text.count("\n") if as_table else json.loads(text)):
                raise RuntimeError(f"recyclable cache {' '.join(argv)} printed {text[:300]}")

        ours_time, floor_time = _paired(lambda a=command: _tool(*a), floor, rounds, checked)
        found.append(
            (
                f"cache {name}, {large:,} entries",
                ours_time,
                floor_name,
                floor_time,
                "report" if plain else "≥ 0.67× (≤ 1.5× the floor)",
            )
        )
    return found


if __name__ == "__main__":
    # python scale.py --tools CACHE ENTRIES ROUNDS: the tools' figures as JSON on stdout.
    if sys.argv[1:2] != ["--tools"] or len(sys.argv) != 5:
        sys.exit("usage: python scale.py --tools CACHE ENTRIES ROUNDS")
    print(json.dumps(time_tools(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
