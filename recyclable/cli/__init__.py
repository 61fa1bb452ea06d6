"""The ``recyclable`` command: run actions resumably, and look after caches.

::

    recyclable run PLUGIN ACTION [--param VALUE ...] [--use-cache PATH]
                   [--recycle-pool NAME | --no-recycle] [--output PATH] [-q | -v]
    recyclable run module:function ...        recyclable run path/to/file.py:function ...
    recyclable cache info|pools|show|explain|remove|gc|verify [--use-cache PATH] [--json]
    recyclable report POOL [--use-cache PATH] [-o PATH]

Exit codes: 0 success, 1 the action (or a cache check) failed, 2 usage error,
130 interrupted, 141 the reader of the output went away.  See ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from recyclable.cli.cache_tools import cache_command
from recyclable.cli.console import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_USAGE,
    TargetImportError,
    UsageError,
    format_failure,
    stderr,
    stdout,
)
from recyclable.cli.invocation import default_pool_name
from recyclable.cli.run import run_command
from recyclable.errors import RecyclableError

__all__ = ["default_pool_name", "main"]


def _top_parser() -> argparse.ArgumentParser:
    from recyclable import __version__

    parser = argparse.ArgumentParser(
        prog="recyclable",
        description="Resumable pipelines: run an action so that a failed run resumes where it "
        "stopped, and look after the cache that makes it possible.",
    )
    parser.add_argument("--version", action="version", version=f"recyclable {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run TARGET in a pool (recyclable run --help)", add_help=False)
    sub.add_parser("cache", help="look after a cache (recyclable cache --help)", add_help=False)
    sub.add_parser("report", help="an HTML page of a pool's step graph", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``recyclable`` command with ``argv`` (default: ``sys.argv[1:]``).

    Args:
        argv: the arguments after the program name.

    Returns:
        0 success, 1 failure of the action or of a check, 2 usage error, 130 interrupted,
        141 the reader of the output went away.

    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _dispatch(args)
        stdout().flush()  # a reader that went away is told here, not at exit
        return code
    except BrokenPipeError:
        # The reader of our output went away (`| head`): stop quietly, as a
        # process killed by SIGPIPE would, and keep the exit flush quiet too.
        _silence_stdout()
        return EXIT_PIPE
    except TargetImportError as exc:
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        stderr().write(format_failure(cause, verbose="-v" in args or "--verbose" in args))
        stderr().write(f"recyclable: error: {exc}; fix the module and run again\n")
        return EXIT_FAILED
    except UsageError as exc:
        words = args[:2] if args[:1] == ["cache"] and args[1:2] != ["--help"] else args[:1]
        command = " ".join(["recyclable", *(w for w in words if not w.startswith("-"))])
        stderr().write(f"{command}: error: {exc}\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except KeyboardInterrupt:  # outside a run (which reports its kept steps itself)
        stderr().write("recyclable: interrupted\n")
        return EXIT_INTERRUPTED
    except RecyclableError as exc:
        # The library refused something about the cache or its options.
        if "-v" in args or "--verbose" in args:
            stderr().write(format_failure(exc, verbose=True))
        stderr().write(f"recyclable: error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        # A cache tool met a system error on the cache's files (an action's own
        # errors are reported by `run` itself, as exit 1).
        if "-v" in args or "--verbose" in args:
            stderr().write(format_failure(exc, verbose=True))
        where = f" on {exc.filename}" if exc.filename else ""
        stderr().write(
            f"recyclable: error: {exc.strerror or exc}{where}: the cache's files cannot be read "
            "or written; check the path's permissions and free space, or pass another --use-cache\n"
        )
        return EXIT_USAGE


def _dispatch(args: list[str]) -> int:
    if args and args[0] == "run":
        return run_command(args[1:])
    if args and args[0] == "cache":
        return cache_command(args[1:])
    if args and args[0] == "report":
        from recyclable.cli.report import report_command

        return report_command(args[1:])
    parser = _top_parser()
    if not args or args[0] in ("-h", "--help"):
        stdout().write(parser.format_help())
        return EXIT_OK if args else EXIT_USAGE
    if args[0] == "--version":
        parser.parse_args(args)
    raise UsageError(f"unknown command {args[0]!r} (commands: run, cache, report)")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (captured in-process): nothing is flushed at exit
