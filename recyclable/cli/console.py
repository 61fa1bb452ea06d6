"""What the command shows: progress lines, tables or JSON, sizes, durations, short tracebacks."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any, TextIO

from recyclable.runtable import human_seconds

#: Exit codes.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: The reader of our output went away (`| head`), as for a process killed by SIGPIPE.
EXIT_PIPE = 141


class UsageError(Exception):
    """A command line that cannot be run as given (exit code 2); never leaves `main`."""


class TargetImportError(Exception):
    """Importing the target's module raised (exit code 1, with the traceback); never leaves `main`.

    The original exception is the ``__cause__``.
    """


class OutputError(Exception):
    """The result could not be written to ``--output``; never leaves `main`.

    Attributes:
        code: the exit code: 2 when ``--output`` names a format that cannot
            hold the value (a usage error), 1 when writing failed.

    """

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


_SIZE_RE = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*\Z", re.IGNORECASE)
_DURATION_RE = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*\Z", re.IGNORECASE)
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_SECONDS = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_size(text: str) -> int:
    """``500M``, ``10GiB``, ``1.5G`` or plain bytes → bytes (binary multiples)."""
    match = _SIZE_RE.match(text)
    if match is None:
        raise ValueError(text)
    number, unit, _ = match.groups()
    return int(float(number) * 1024 ** _UNITS[unit.lower()])


parse_size.__name__ = "size (e.g. 500M, 10G, 2048)"


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` or plain seconds → seconds."""
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(text)
    number, unit = match.groups()
    return float(number) * _SECONDS[unit.lower() if unit else None]


parse_duration.__name__ = "duration (e.g. 90s, 30m, 12h, 7d)"


#: A table's column widths and which columns are right-aligned (numbers).
Layout = tuple[list[int], list[bool]]


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Left-aligned columns, numbers right-aligned, under a header row."""
    # A table of one part: a column of no rows is left-aligned, as in any table.
    found = merged_layout([(len(rows), layout(rows, headers))])
    return assembled(padded(rows, found), headers, found)


def layout(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> Layout:
    """The widths (headers included) and numeric columns of ``rows``.

    A column of no rows counts as numeric, so that a part of a table with
    no rows does not decide the alignment of the whole (`merged_layout`).
    """
    # Column by column, in C (tables of 100,000 entries are printed).
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in headers]
    widths = [
        max(len(h), max(map(len, column), default=0))
        for h, column in zip(headers, columns, strict=True)
    ]
    # A column of keys or names fails at its first cell; only the others build a set.
    match = _NUMERIC.match
    numeric = [
        not column or (bool(match(column[0])) and all(map(match, set(column))))
        for column in columns
    ]
    return widths, numeric


def merged_layout(layouts: Sequence[tuple[int, Layout]]) -> Layout:
    """The layout of a table made of parts, given ``(rows, layout)`` of each part."""
    widths = [max(column) for column in zip(*(found[0] for _, found in layouts), strict=True)]
    filled = [found[1] for rows, found in layouts if rows]
    numeric = [all(column) for column in zip(*filled, strict=True)] if filled else []
    return widths, numeric or [False] * len(widths)


def padded(rows: Sequence[Sequence[str]], found: Layout) -> list[str]:
    """Each row's line, its cells padded to ``found``'s widths; trailing spaces not yet cut."""
    # One C-level format per row (a format per cell costs three times as much).
    line = "  ".join(
        f"%{'' if right else '-'}{width}s" for width, right in zip(*found, strict=True)
    )
    return list(map(line.__mod__, map(tuple, rows)))


def widened(lines: list[str], old: Layout, new: Layout) -> list[str]:
    """Lines `padded` to ``old`` laid out again to ``new`` (as wide or wider, numeric or not).

    Each cell of an old line is at a known place; padding a padded cell again
    gives what padding the cell would, and a number's cell (no leading space
    of its own) only loses its padding when its column stops being numeric.
    """
    if old == new:
        return lines
    widths, was_numeric = old
    bounds = []
    start = 0
    for width in widths:
        bounds.append((start, start + width))
        start += width + 2
    out = []
    for text in lines:
        out.append(
            "  ".join(
                cell.rjust(width) if now else (cell.lstrip(" ") if was else cell).ljust(width)
                for cell, width, was, now in zip(
                    [text[a:b] for a, b in bounds], new[0], was_numeric, new[1], strict=True
                )
            )
        )
    return out


def assembled(lines: Sequence[str], headers: Sequence[str], found: Layout) -> str:
    """The header, its rule and ``lines`` (made by `padded` to ``found``), trailing spaces cut."""
    head = padded([headers, ["-" * width for width in found[0]]], found)
    return "\n".join(map(str.rstrip, chain(head, lines)))


_NUMERIC = re.compile(r"\A-?[\d.]+( [KMGT]?i?B| s)?\Z")


def print_json(data: Any, out: TextIO) -> None:
    """Pretty, stable JSON on ``out``.

    A list is written one item per line (each in the C encoder: a list of
    100,000 entries takes a fraction of what indenting it in Python would).
    """
    if isinstance(data, list) and data:
        encode = json.JSONEncoder(sort_keys=True, default=str).encode
        items = (encode(item) for item in data)
        out.write("[\n  " + ",\n  ".join(items) + "\n]\n")
        return
    json.dump(data, out, indent=2, sort_keys=True, default=str)
    out.write("\n")


# --- progress lines -------------------------------------------------------------------------

# The library's progress messages, rendered briefly unless -v asks for keys
# and miss explanations.  Any other message is shown as it is.
_LOADED = "loaded %s (key %s) from pool %s: computed %s in %.3f s"
_COMPUTING = "computing %s (key %s): %s"
_STORED = "stored %s (key %s, %s; computed in %.3f s%s) in pool %s"


class ProgressFormatter(logging.Formatter):
    """``recyclable: loaded denoise (saved 1.20 s)``; with ``verbose`` the library's full text."""

    def __init__(self, *, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as one line."""
        prefix = "recyclable: "
        if record.levelno >= logging.WARNING:
            prefix += f"{record.levelname.lower()}: "
        # Warnings repeated as log lines carry their own prefix already.
        return prefix + self._message(record).removeprefix("recyclable: ")

    def _message(self, record: logging.LogRecord) -> str:
        args = record.args if isinstance(record.args, tuple) else ()
        if self.verbose or not args:
            return record.getMessage()
        if record.msg == _LOADED and len(args) == 5:
            return f"loaded {args[0]} (saved {human_seconds(_number(args[4]))})"
        if record.msg == _COMPUTING and len(args) == 3:
            return f"computing {args[0]}"
        if record.msg == _STORED and len(args) == 6:
            return f"stored {args[0]} ({args[2]}; computed in {human_seconds(_number(args[3]))})"
        return record.getMessage()


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


@contextmanager
def progress_lines(*, quiet: bool, verbose: bool, stream: TextIO) -> Iterator[None]:
    """Show the library's log on ``stream`` while the block runs; warnings too, one line each."""
    logger = logging.getLogger("recyclable")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ProgressFormatter(verbose=verbose))
    # -q keeps warnings: they say a result could not be stored or was damaged.
    handler.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    old_level = logger.level
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.setLevel(handler.level)
    logger.propagate = False

    def show(message: Warning | str, *_: Any, **__: Any) -> None:
        text = str(message)
        if text.startswith("recyclable: "):
            text = text[len("recyclable: ") :]
        stream.write(f"recyclable: warning: {text}\n")

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
            logger.propagate = old_propagate


# --- tracebacks -----------------------------------------------------------------------------

_INTERNAL = (
    str(Path(__file__).resolve().parent.parent) + os.sep,
    f"{os.sep}wrapt{os.sep}",
    f"{os.sep}importlib{os.sep}",
    f"{os.sep}asyncio{os.sep}",
    "<frozen importlib",
)


def format_failure(exc: BaseException, *, verbose: bool) -> str:
    """The traceback of a failed action: the user's own frames only, unless ``verbose``."""
    if verbose:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not any(part in frame.filename for part in _INTERNAL)
    ]
    lines = ["Traceback (most recent call last, recyclable's own frames hidden; -v shows all):\n"]
    lines.extend(traceback.format_list(frames[-5:]))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines)


def stderr() -> TextIO:
    """The current ``sys.stderr`` (looked up late, so pytest's capture sees it)."""
    return sys.stderr


def stdout() -> TextIO:
    """The current ``sys.stdout``."""
    return sys.stdout
