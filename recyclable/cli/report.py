"""``recyclable report POOL [--use-cache PATH] [-o PATH]``: an HTML page of a pool's entries.

The page (see `recyclable.report`) shows every entry the pool holds with the
lineage edges its manifests record.  For the states of one run (loaded,
computed, failed) use ``recyclable run ... --report PATH`` or
``pool.report(path)``, which know what that run did.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from recyclable.cli.console import EXIT_OK, UsageError, stderr, stdout
from recyclable.cli.invocation import ArgumentParser
from recyclable.cli.run import open_cache
from recyclable.errors import PoolNameError, PoolNotFoundError


def build_parser() -> ArgumentParser:
    """The ``recyclable report`` parser."""
    parser = ArgumentParser(
        prog="recyclable report",
        description="Write one self-contained HTML page with a pool's step graph.",
        allow_abbrev=False,
    )
    parser.add_argument("pool", metavar="POOL", help="the pool (see `recyclable cache pools`)")
    parser.add_argument(
        "--use-cache", metavar="PATH", type=Path, help="the cache (default: the default cache)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        type=Path,
        default=Path("recyclable-report.html"),
        help="where to write the page (default: recyclable-report.html)",
    )
    return parser


def report_command(argv: Sequence[str]) -> int:
    """``recyclable report``; returns the exit code."""
    options = build_parser().parse_args(list(argv))
    output: Path = options.output
    if output.is_dir() or not output.parent.is_dir():
        problem = "is a directory" if output.is_dir() else "is in a directory that does not exist"
        raise UsageError(f"--output {output} {problem}; give a file path in an existing directory")
    cache = open_cache(options.use_cache, stderr(), create=False)
    try:
        pool = cache.pool(options.pool)
    except (PoolNameError, PoolNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    path = pool.report(output)
    stdout().write(f"wrote the report of pool {pool.name} ({len(pool)} entries) to {path}\n")
    return EXIT_OK
