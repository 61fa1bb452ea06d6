"""``recyclable cache show KEY --provenance``: the tree of calls that produced an entry."""

from __future__ import annotations

from typing import TextIO

from recyclable.cache import Cache
from recyclable.cli.console import EXIT_OK, UsageError, print_json
from recyclable.provenance import find_key, provenance, render_provenance


def show_provenance(cache: Cache, key: str, *, as_json: bool, out: TextIO) -> int:
    """Print the provenance of entry ``key`` (a full key or a unique prefix) as text or JSON.

    Raises:
        UsageError: no entry, or more than one, matches ``key``.

    """
    try:
        full = find_key(cache, key)
    except LookupError as exc:
        raise UsageError(f"--provenance KEY: {exc}") from None
    tree = provenance(cache, full)
    if as_json:
        print_json(tree, out)
    else:
        out.write(render_provenance(tree) + "\n")
    return EXIT_OK
