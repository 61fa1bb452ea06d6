"""Parsing ``recyclable run TARGET [PARAMETERS] [OPTIONS]``: target, parameters, options."""

from __future__ import annotations

import argparse
import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

from recyclable.cache import default_cache_path
from recyclable.cli import params as cli_params
from recyclable.cli.console import UsageError
from recyclable.cli.targets import Target, plugin_actions, plugin_entry_points, resolve

__all__ = [
    "ArgumentParser",
    "Invocation",
    "add_run_options",
    "default_pool_name",
    "parse_invocation",
    "plugin_help",
    "split_target",
]

#: Run options that take a value (used to find TARGET among the arguments).
_VALUE_OPTIONS = frozenset({"--use-cache", "--recycle-pool", "--output"})


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors become `UsageError` (exit code 2) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        """Raise the parse error for `main` to report."""
        # One line: the usage is one --help away.
        raise UsageError(f"{message} (see {self.prog} --help)")


def default_pool_name(plugin: str, action: str) -> str:
    """``recycle_<plugin>_<action>_<sha1 hex of "<plugin>_<action>">``, as QIIME 2 names it."""
    label = f"{plugin}_{action}"
    return f"recycle_{label}_{hashlib.sha1(label.encode()).hexdigest()}"


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``recyclable run`` (shared with ``cache explain``)."""
    group = parser.add_argument_group("recycling")
    group.add_argument(
        "--use-cache",
        metavar="PATH",
        type=Path,
        help="cache directory (created if absent); default: $RECYCLABLE_CACHE or "
        f"{default_cache_path()}",
    )
    group.add_argument(
        "--recycle-pool",
        metavar="NAME",
        help="use or create this pool and keep it after success "
        "(default: a per-action pool removed after success)",
    )
    group.add_argument(
        "--no-recycle",
        action="store_true",
        help="no pool: look nothing up and store nothing",
    )


def _base_parser(prog: str, description: str | None) -> ArgumentParser:
    parser = ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
        allow_abbrev=False,
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    add_run_options(parser)
    out = parser.add_argument_group("output")
    out.add_argument(
        "--output",
        metavar="PATH",
        type=Path,
        help="write the result here, in the format the extension names: .json (JSON), .npy "
        "(numpy array), any other: a recyclable result file (read it with recyclable.load)",
    )
    out.add_argument(
        "--report",
        metavar="PATH",
        type=Path,
        help="write an HTML page of the run: step graph with lineage, states, times, sizes",
    )
    out.add_argument(
        "--json",
        action="store_true",
        help="print the result and the run's steps and totals as one JSON document on stdout",
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no progress lines, no table")
    out.add_argument(
        "-v", "--verbose", action="store_true", help="keys, miss explanations, full tracebacks"
    )
    return parser


def split_target(argv: Sequence[str]) -> tuple[list[int], list[str]]:
    """Indices and values of the first two positional arguments (TARGET candidates)."""
    found: list[int] = []
    skip = False
    for index, token in enumerate(argv):
        if skip:
            skip = False
            continue
        if token == "--":
            break
        if token.startswith("-"):
            skip = token in _VALUE_OPTIONS
            continue
        found.append(index)
        if len(found) == 2:
            break
    return found, [argv[i] for i in found]


@dataclass
class Invocation:
    """A parsed command line: the target, its keyword arguments, and the run options."""

    target: Target
    kwargs: dict[str, Any]
    options: argparse.Namespace


def parse_invocation(argv: Sequence[str], *, prog: str, out: TextIO) -> Invocation | None:
    """Parse ``TARGET [PARAMETERS] [OPTIONS]``; None when help was shown.

    Raises:
        UsageError: the target, an option or a value is not valid.

    """
    indices, positionals = split_target(argv)
    wants_help = any(token in ("-h", "--help") for token in argv)
    if not positionals:
        parser = _base_parser(prog + " TARGET", None)
        if wants_help:
            out.write(parser.format_help())
            out.write(_plugin_listing())
            return None
        raise UsageError(
            "missing TARGET: give PLUGIN ACTION, module:function or path/to/file.py:function ("
            + _plugin_listing().strip()
            + ")"
        )
    if wants_help and len(positionals) == 1 and ":" not in positionals[0]:
        out.write(plugin_help(positionals[0], prog))
        return None
    target, used_second = resolve(positionals[0], positionals[1] if len(positionals) > 1 else None)
    consumed = set(indices[: 2 if used_second else 1])
    rest = [token for i, token in enumerate(argv) if i not in consumed]
    doc = inspect.getdoc(target.func) or f"{target.label} (no docstring)"
    parser = _base_parser(f"{prog} {target.label}", doc)
    params = cli_params.parameters_of(target.func)
    try:
        cli_params.add_to_parser(parser, params)
    except argparse.ArgumentError as exc:
        raise UsageError(
            f"a parameter of {target.label} clashes with a run option ({exc}); rename it"
        ) from None
    if wants_help:
        out.write(parser.format_help())
        return None
    # Unknown options are reported with the list of valid ones (argparse alone
    # would only name the unknown one).
    known = [a for p in parser._actions for a in p.option_strings]
    for token in rest:
        name = token.split("=", 1)[0]
        if name.startswith("--") and name not in known and name != "--":
            valid = ", ".join(p.option for p in params) or "none"
            raise UsageError(
                f"unknown parameter {name} for {target.label} (its parameters: {valid}; "
                f"see {prog} {target.label} --help)"
            )
    options = parser.parse_args(rest)
    output = options.output
    # Checked now rather than after a run of hours.
    if output is not None and (output.is_dir() or not output.parent.is_dir()):
        problem = "is a directory" if output.is_dir() else "is in a directory that does not exist"
        raise UsageError(f"--output {output} {problem}; give a file path in an existing directory")
    if options.no_recycle and options.recycle_pool is not None:
        raise UsageError(
            "--no-recycle and --recycle-pool cannot be combined: --no-recycle runs with no "
            "pool at all; drop one of them"
        )
    return Invocation(target, cli_params.collect(params, options), options)


def plugin_help(name: str, prog: str) -> str:
    """``recyclable run PLUGIN --help``: the plugin's actions with their docstrings' first lines.

    Raises:
        UsageError: no such plugin, or it cannot be loaded.

    """
    plugins = plugin_entry_points()
    if name not in plugins:
        resolve(name, None)  # raises the unknown-plugin error with the list
    actions = plugin_actions(name, plugins[name])
    lines = [f"usage: {prog} {name} ACTION [PARAMETERS] [OPTIONS]", "", f"actions of {name}:"]
    width = max((len(a) for a in actions), default=0)
    for action, func in sorted(actions.items()):
        summary = (inspect.getdoc(func) or "").split("\n", 1)[0]
        lines.append(f"  {action.ljust(width)}  {summary}".rstrip())
    lines.append("")
    lines.append(f"{prog} {name} ACTION --help shows an action's parameters.")
    return "\n".join(lines) + "\n"


def _plugin_listing() -> str:
    plugins = sorted(plugin_entry_points())
    listed = ", ".join(plugins) if plugins else "none"
    return f"\ninstalled plugins: {listed}\n"
