"""``recyclable cache info|pools|show|explain|remove|gc|verify``: looking after a cache."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from recyclable import maintenance
from recyclable.cache import Cache, validate_pool_name
from recyclable.cli.console import (
    EXIT_FAILED,
    EXIT_OK,
    Layout,
    UsageError,
    assembled,
    layout,
    merged_layout,
    padded,
    parse_duration,
    parse_size,
    print_json,
    stderr,
    stdout,
    table,
    widened,
)
from recyclable.cli.invocation import ArgumentParser, default_pool_name, parse_invocation
from recyclable.cli.run import open_cache
from recyclable.cli.toolprogress import ToolProgress
from recyclable.errors import (
    CacheIOError,
    FingerprintError,
    PoolInUseError,
    PoolNameError,
    PoolNotFoundError,
)
from recyclable.maintenance import format_time
from recyclable.runtable import human_bytes, human_seconds
from recyclable.showrows import ShownRow, merged, shown_cells_rows, shown_json_rows

T = TypeVar("T")


def build_parser() -> ArgumentParser:
    """The ``recyclable cache`` parser (``explain`` is parsed by the run machinery)."""
    parser = ArgumentParser(
        prog="recyclable cache",
        description="Look after a recyclable cache.",
        allow_abbrev=False,
    )
    common = ArgumentParser(add_help=False)
    common.add_argument(
        "--use-cache", metavar="PATH", type=Path, help="the cache (default: the default cache)"
    )
    common.add_argument("--json", action="store_true", help="JSON instead of a table")
    common.add_argument(
        "--progress",
        action="store_true",
        help="progress lines on stderr after 2 s even when it is not a terminal",
    )
    sub = parser.add_subparsers(
        dest="tool", metavar="TOOL", required=True, parser_class=ArgumentParser
    )
    sub.add_parser("info", parents=[common], help="location, format, size, entry and pool counts")
    sub.add_parser("pools", parents=[common], help="every pool: entries, bytes, last used")
    show = sub.add_parser(
        "show", parents=[common], help="the entries of one pool; with --provenance, one entry's"
    )
    show.add_argument("pool", metavar="POOL|KEY")
    show.add_argument(
        "--provenance",
        action="store_true",
        help="take KEY (or a unique prefix of it) and print the tree of calls that produced it",
    )
    sub.add_parser(
        "explain",
        parents=[common],
        help="would TARGET [PARAMETERS] be loaded, and if not, why "
        "(recyclable cache explain TARGET --help)",
        add_help=False,
    )
    remove = sub.add_parser("remove", parents=[common], help="remove a pool and its unshared data")
    remove.add_argument("pool", metavar="POOL")
    remove.add_argument("--force", action="store_true", help="remove it even while a run uses it")
    gc = sub.add_parser(
        "gc",
        parents=[common],
        help="remove unreferenced data; with a budget, keep unpooled entries within it",
    )
    gc.add_argument("--dry-run", action="store_true", help="report, remove nothing")
    gc.add_argument(
        "--max-bytes",
        type=parse_size,
        metavar="SIZE",
        help="keep unpooled entries while the cache stays below SIZE (e.g. 10G), "
        "evicting the least recently stored first",
    )
    gc.add_argument(
        "--older-than",
        type=parse_duration,
        metavar="DURATION",
        help="evict unpooled entries stored more than DURATION ago (e.g. 7d); keep newer ones",
    )
    sub.add_parser(
        "verify", parents=[common], help="check every entry's checksums; quarantine bad ones"
    )
    return parser


def cache_command(argv: Sequence[str]) -> int:
    """``recyclable cache ...``; returns the exit code."""
    if argv and argv[0] == "explain":
        return _explain(argv[1:])
    options = build_parser().parse_args(list(argv))
    out, err = stdout(), stderr()
    cache = open_cache(options.use_cache, err, create=False)
    handler = {
        "info": _info,
        "pools": _pools,
        "show": _show,
        "remove": _remove,
        "gc": _gc,
        "verify": _verify,
    }[options.tool]
    options.hook = ToolProgress(options.tool, err, forced=options.progress)
    # A tool holds a record per entry until it prints them: 100,000 records
    # that the cyclic collector would traverse again and again (a third of
    # `show`'s time).  They hold no cycles, and the process ends soon after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return handler(cache, options, out, err)
    except CacheIOError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        # The cache's own files: say which cache and what to do, in one line.
        io_error = CacheIOError.from_os_error(exc, f"{options.tool} the cache", cache.path)
        raise UsageError(str(io_error)) from None
    finally:
        if collecting:
            gc.enable()
        options.hook.close()


def _info(cache: Cache, options: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    summary = maintenance.summarize_cache(cache, progress=options.hook)
    if options.json:
        print_json(dataclasses.asdict(summary), out)
        return EXIT_OK
    rows = [
        ("location", summary.path),
        ("format version", str(summary.format)),
        ("size", human_bytes(summary.bytes)),
        ("entries", str(summary.entries)),
        ("data files", str(summary.blobs)),
        ("pools", str(summary.pools)),
        ("quarantined", str(summary.quarantined)),
        ("staging files", str(summary.temporary)),
    ]
    width = max(len(label) for label, _ in rows)
    out.write("".join(f"{label.ljust(width)}  {value}\n" for label, value in rows))
    return EXIT_OK


def _pools(cache: Cache, options: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    pools = maintenance.summarize_pools(cache, progress=options.hook)
    if options.json:
        print_json([_fields(p) for p in pools], out)
        return EXIT_OK
    if not pools:
        out.write(f"no pools in cache {cache.path}\n")
        return EXIT_OK
    rows = [
        (
            p.name,
            str(p.entries),
            human_bytes(p.bytes),
            format_time(p.last_used),
            _runs_text(p.live_runs, p.unfinished_runs),
        )
        for p in pools
    ]
    out.write(table(rows, ["POOL", "ENTRIES", "BYTES", "LAST USED", "RUNS"]) + "\n")
    return EXIT_OK


def _fields(record: Any) -> dict[str, Any]:
    """A flat dataclass's fields (`dataclasses.asdict` deep-copies, slow for 100,000 rows)."""
    names = _FIELD_NAMES.get(type(record))
    if names is None:
        names = _FIELD_NAMES[type(record)] = tuple(f.name for f in dataclasses.fields(record))
    return {name: getattr(record, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _runs_text(live: int, unfinished: int) -> str:
    parts = []
    if live:
        parts.append(f"{live} running")
    if unfinished:
        parts.append(f"{unfinished} unfinished")
    return ", ".join(parts) or "-"


def _show(cache: Cache, options: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if options.provenance:
        from recyclable.cli.provenance import show_provenance

        return show_provenance(cache, options.pool, as_json=options.json, out=out)
    if options.json:
        texts = merged(_pool_shown(cache, options, shown_json_rows))
        # The fields of `maintenance.EntrySummary`, each row's JSON joined and written once.
        out.write("[\n  " + ",\n  ".join(texts) + "\n]\n" if texts else "[]\n")
        return EXIT_OK
    # Each part of the pool (a half read by a forked child) is laid out
    # where it was read; here the parts are only widened to one layout when
    # theirs differ (rarely, at this size), merged in order and joined.
    parts = _pool_shown(cache, options, _table_part)
    if not any(orders for orders, _, _ in parts):
        out.write(f"pool {options.pool} holds no entries\n")
        return EXIT_OK
    whole = merged_layout([(len(orders), found) for orders, found, _ in parts])
    lines = merged(
        [
            list(zip(orders, widened(lines, found, whole), strict=True))
            for orders, found, lines in parts
        ]
    )
    out.write(assembled(lines, _SHOW_HEADERS, whole) + "\n")
    return EXIT_OK


_SHOW_HEADERS = ("KEY", "ACTION", "ARGUMENTS", "SIZE", "COMPUTE", "CREATED")


def _pool_shown(
    cache: Cache, options: argparse.Namespace, render: Callable[[list[ShownRow]], T]
) -> list[T]:
    """`maintenance.pool_shown_parts` with the command line's errors."""
    try:
        return maintenance.pool_shown_parts(cache, options.pool, render, progress=options.hook)
    except PoolNameError as exc:
        raise UsageError(str(exc)) from None
    except PoolNotFoundError:
        raise UsageError(_no_such_pool(cache, options.pool)) from None


# Sizes and compute times repeat from row to row: each is written once.
_size_text = functools.lru_cache(maxsize=4096)(human_bytes)
_seconds_text = functools.lru_cache(maxsize=4096)(human_seconds)


def _table_part(rows: list[ShownRow]) -> tuple[list[str], Layout, list[str]]:
    """``(orders, layout, lines)`` of one part of the ``cache show`` table, padded here."""
    size_text, seconds_text = _size_text, _seconds_text
    cells = [
        (
            key[:12],
            action,
            text if arguments is None else _arguments_text(arguments, digests=digests),
            size_text(size),
            seconds_text(seconds),
            created,
        )
        for key, action, arguments, text, digests, size, seconds, created in shown_cells_rows(rows)
    ]
    found = layout(cells, _SHOW_HEADERS)
    return [row[0] for row in rows], found, padded(cells, found)


def _no_such_pool(cache: Cache, name: str) -> str:
    """The command line's own words for a missing pool (the library's name Python calls)."""
    known = ", ".join(cache.pools()) or "none"
    return (
        f"no pool {name!r} in cache {cache.path} (pools: {known}); `recyclable cache pools` "
        "lists them, and `recyclable run TARGET --recycle-pool NAME` creates one"
    )


def _arguments_text(arguments: Sequence[Sequence[str]], *, digests: bool) -> str:
    # Entries stored with lineage keep short argument values; older ones only
    # digests: show each name with a short digest then.
    text = ", ".join(f"{name}={value[:8] if digests else value}" for name, value in arguments)
    return text if len(text) <= 60 else text[:57] + "..."


def _remove(cache: Cache, options: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        report = maintenance.remove_pool(cache, options.pool, force=options.force)
    except PoolNameError as exc:
        raise UsageError(str(exc)) from None
    except PoolNotFoundError:
        raise UsageError(_no_such_pool(cache, options.pool)) from None
    except PoolInUseError as exc:
        err.write(f"recyclable cache remove: {exc} (--force)\n")
        return EXIT_FAILED
    if options.json:
        print_json({"pool": options.pool, "removed": dataclasses.asdict(report)}, out)
        return EXIT_OK
    out.write(
        f"removed pool {options.pool}; reclaimed {report.entries} entr"
        f"{'y' if report.entries == 1 else 'ies'} and {human_bytes(report.bytes)} "
        "no other pool uses\n"
    )
    return EXIT_OK


def _gc(cache: Cache, options: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    result = maintenance.collect_garbage(
        cache,
        max_bytes=options.max_bytes,
        older_than=options.older_than,
        dry_run=options.dry_run,
        progress=options.hook,
    )
    if options.json:
        data = dataclasses.asdict(result)
        data["dry_run"] = options.dry_run
        print_json(data, out)
        return EXIT_OK
    g = result.garbage
    verb = "would remove" if options.dry_run else "removed"
    out.write(
        f"{verb} {g.entries} unpooled entr{'y' if g.entries == 1 else 'ies'}, {g.blobs} data "
        f"file(s) ({human_bytes(g.bytes)}) and {g.temporary} staging leftover(s)\n"
    )
    if options.max_bytes is not None or options.older_than is not None:
        out.write(
            f"kept {result.kept_unpooled} unpooled entr"
            f"{'y' if result.kept_unpooled == 1 else 'ies'} within the budget; cache size "
            f"{'would be ' if options.dry_run else ''}{human_bytes(result.bytes_after)}\n"
        )
        if not result.within_budget:
            out.write(
                "the cache is still over --max-bytes: the rest is held by pools "
                "(see `recyclable cache pools`; remove one with `recyclable cache remove`)\n"
            )
    return EXIT_OK


def _verify(cache: Cache, options: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    report = cache.verify(progress=options.hook)
    if options.json:
        print_json(dataclasses.asdict(report), out)
    else:
        out.write(f"checked {report.entries} entries and {report.blobs} data file(s)\n")
        if report.damaged:
            rows = [(key, reason) for key, reason in report.damaged]
            out.write(table(rows, ["KEY", "PROBLEM"]) + "\n")
            count = len(report.damaged)
            out.write(
                f"{count} damaged entr{'y was' if count == 1 else 'ies were'} moved to "
                f"{cache.url}/quarantine; they will be recomputed when needed\n"
            )
        else:
            out.write("all entries verify\n")
    return EXIT_FAILED if report.damaged else EXIT_OK


def _explain(argv: Sequence[str]) -> int:
    out, err = stdout(), stderr()
    as_json = "--json" in argv
    # --code: also list what the step's code key covers (part → digest).
    with_code = "--code" in argv
    rest = [token for token in argv if token not in ("--json", "--code")]
    invocation = parse_invocation(rest, prog="recyclable cache explain", out=out)
    if invocation is None:
        return EXIT_OK
    target, kwargs, opts = invocation.target, invocation.kwargs, invocation.options
    cache = open_cache(opts.use_cache, err, create=False)
    named = opts.recycle_pool is not None
    pool = opts.recycle_pool if named else default_pool_name(target.plugin, target.action)
    try:
        validate_pool_name(pool)
    except PoolNameError as exc:
        raise UsageError(f"--recycle-pool: {exc}") from None
    spec = getattr(target.func, "__recyclable__", None)
    data: dict[str, Any]
    if spec is None:
        data = {
            "action": target.label,
            "hit": False,
            "key": None,
            "pool": pool,
            "reason": f"{target.label} is not decorated with @recyclable: the call itself is "
            "never stored; its recyclable steps are looked up as they run",
        }
    else:
        bound = spec.bind((), kwargs)
        if bound is None:
            raise UsageError(f"the parameters do not fit {target.label}{spec.signature}")
        try:
            callkey = spec.key_for(bound)
        except FingerprintError as exc:
            raise UsageError(str(exc)) from None
        found = maintenance.explain_call(cache, callkey, pool)
        data = {**dataclasses.asdict(found), "pool": pool}
        if with_code:
            data["code_parts"] = dict(callkey.code_parts)
    if as_json:
        print_json(data, out)
    else:
        out.write(
            f"action     {data['action']}\n"
            f"key        {data['key'] or '-'}\n"
            f"would hit  {'yes' if data['hit'] else 'no'}\n"
            f"why        {data['reason']}\n"
        )
        if "code_parts" in data:
            out.write("code key covers\n")
            for part, digest in data["code_parts"].items():
                out.write(f"  {digest[:16]}  {part}\n")
    return EXIT_OK
