r"""What ``recyclable cache show POOL`` prints, spliced from the stored JSON text.

Listing a pool of 100,000 entries should cost little more than reading its
manifests.  Decoding the shown fields into Python values and encoding them
again costs as much as the reading, so here they are not decoded: the
manifest's checksum is checked, the fields are located in its text and
their stored text is copied into the output.  The writer's JSON is compact
with sorted keys (`recyclable.manifest.dump_manifest`); a value is spliced
only when its text is of a shape whose ``json.dumps`` spelling is known
without decoding it:

* a string of printable ASCII without ``"`` or ``\`` (its text is what
  ``json.dumps`` writes for it);
* a list of lists of such strings, without ``,``, ``[`` or ``]`` inside
  them, so that the separators ``json.dumps`` puts there (``", "``) can be
  added by replacing text;
* a number with a fraction or an exponent (a float).

Any other entry (a signed manifest, text with escapes, another shape) goes
through `recyclable.entryrows.entry_row`, its fields decoded and encoded
again: the output is the same text either way, ``json.dumps(row,
sort_keys=True)``, as `recyclable.entryrows.row_json` writes it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Collection, Sequence
from operator import itemgetter
from typing import Any, TypeVar

import xxhash

from recyclable import forkmap
from recyclable.entryrows import _esc, _float, _list, entry_row
from recyclable.scan import FIRST_READ, TICK, ProgressHook, names_in, read_rest, shard_dirs

__all__ = [
    "ShownRow",
    "merged",
    "shown_cells",
    "shown_cells_rows",
    "shown_json",
    "shown_json_rows",
    "shown_parts",
    "shown_rows",
]

T = TypeVar("T")
R = TypeVar("R")

#: ``(order, created, action, key, plugin, arguments, bytes, compute_seconds,
#: values, inputs)`` of one entry, each field as the JSON text ``cache show
#: --json`` prints for it (strings quoted; ``bytes`` an int), and ``order``
#: its sort key (creation, action, key).
ShownRow = tuple[str, str, str, str, str, str, int, str, str, str]

_MAGIC = b"recyclable-manifest 1 "
_CHECKSUM_AT = len(_MAGIC)

# A string whose JSON text needs no escape (printable ASCII, no quote or backslash).
_STR = r'"[ !#-\[\]-~]*"'
# Such a string without , [ or ], and a list of lists of them.
_ITEM = r'"[ !#-+\--Z^-~]*"'
_PAIRS = rf"\[(?:\[{_ITEM}(?:,{_ITEM})*\](?:,\[{_ITEM}(?:,{_ITEM})*\])*)?\]"
# A float as json.dumps writes one: a fraction or an exponent.
_FLOAT = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)"

_BUFFER = r'\{"digest":"[0-9a-f]+","size":[0-9]+\}'
# The load line up to its stream's second field: its buffers (each a data
# file), compute time, key and stream (inline, or in a data file).
_LOAD = re.compile(
    rf'\{{"buffers":\[((?:{_BUFFER}(?:,{_BUFFER})*)?)\],'
    rf'"compute_seconds":({_FLOAT}),"key":"([0-9a-f]+)",'
    r'"stream":\{"digest":"([0-9a-f]+)","(inline|size)":'
)
_DIGESTS = re.compile(r'"digest":"([0-9a-f]+)"')
# The description line's first two fields.
_HEAD = re.compile(rf'\{{"action":({_STR}),"arguments":({_PAIRS}),')
# The lineage and the plugin after it (keys are sorted).
_LINEAGE = re.compile(
    rf',"lineage":(?:\{{"inputs":({_PAIRS}),"parent":(?:null|{_STR}),"values":({_PAIRS})\}}'
    rf'|null),"plugin":({_STR})[,}}]'
)


def shown_rows(
    entries: str,
    keys: Collection[str],
    blob_size: Callable[[str], int],
    *,
    progress: ProgressHook | None = None,
) -> list[ShownRow]:
    """The rows of the sound entries of ``keys``, oldest first (then by action and key).

    Args:
        entries: the cache's ``entries`` directory.
        keys: the keys to list (a pool's markers).
        blob_size: a data file's size by digest (`recyclable.scan.BlobSizes`).
        progress: told how far the pass got.

    Missing entries (removed meanwhile) and damaged ones (`cache verify`
    deals with them) are left out, as `recyclable.entryrows.entry_rows` does.
    """
    rows: list[ShownRow] = []
    append = rows.append
    hexdigest = xxhash.xxh3_128_hexdigest
    # `recyclable.scan.read_manifests` inlined: a generator's frame per item
    # is a tenth of the pass at 100,000 entries.
    open_, read, close, flags = os.open, os.read, os.close, os.O_RDONLY
    total = len(keys)
    done = 0
    for key in keys:
        try:
            fd = open_(f"{entries}/{key[:2]}/{key}.json", flags)
        except FileNotFoundError:
            continue  # removed since it was listed
        try:
            data = read(fd, FIRST_READ)
            if len(data) == FIRST_READ:
                data = read_rest(fd, data)
        finally:
            close(fd)
        done += 1
        if progress is not None and done & TICK == 1:
            progress("reading entries", done, total)
        end = data.find(b"\n")
        row = None
        # A header of the magic and the checksum alone (a signed one goes the long way).
        if data[_CHECKSUM_AT:end] == hexdigest(data[end + 1 :]).encode() and data.startswith(
            _MAGIC
        ):
            try:
                text = data.decode("ascii")
            except UnicodeDecodeError:
                text = ""
            row = _located(text, end + 1, key, len(data), blob_size)
        if row is None:
            row = _decoded(key, data, blob_size)
            if row is None:
                continue
        append(row)
    rows.sort()
    return rows


def shown_parts(
    entries: str,
    markers: str,
    blob_size: Callable[[str], int],
    render: Callable[[list[ShownRow]], R],
    *,
    progress: ProgressHook | None = None,
    min_items: int | None = None,
) -> list[R]:
    """``render(rows)`` of the `shown_rows` of the keys in ``markers``: one part, or two.

    ``markers`` is a pool's directory of markers.  A pool of at least
    ``min_items`` entries (`recyclable.forkmap.FORK_MIN`) is split by its
    shard directories, and the second half listed, read, located and
    rendered by a forked child where that is safe and pays: at 100,000
    entries this halves the time of ``cache show``.  ``render`` runs in the
    child too, so it must return values `marshal` encodes (lists of the
    rows' texts, tuples of cells).  Each part's rows are sorted; what the
    halves give is put together by the caller (`merged`).
    """
    shards = shard_dirs(markers)
    limit = forkmap.FORK_MIN if min_items is None else min_items
    # Keys are hashes, so the shards fill alike: the first one tells the size.
    estimate = len(names_in(shards[:1])) * len(shards)

    def work(part: Sequence[str], report: ProgressHook | None) -> R:
        return render(shown_rows(entries, names_in(part), blob_size, progress=report))

    split = 2 if estimate >= limit else len(shards) + 1
    return forkmap.fork_map(work, shards, progress=progress, min_items=split)


def merged(parts: Sequence[list[tuple[str, T]]]) -> list[T]:
    """The values of parts of ``(order, value)`` pairs, each part sorted, in one order."""
    if len(parts) == 1:
        return [value for _, value in parts[0]]
    # Each part is sorted already: sorting them together is one merge of runs.
    together = [pair for part in parts for pair in part]
    together.sort(key=_first)
    return [value for _, value in together]


_first = itemgetter(0)


def _located(
    text: str, start: int, key: str, size: int, blob_size: Callable[[str], int]
) -> ShownRow | None:
    """The row from the load line starting at ``start``; None when it has another shape.

    A key of the description line after its first two is looked for as
    ``,"name":`` with no ``{`` since the previous value: inside a string a
    quote is always escaped and a key of a nested object needs its ``{``,
    so such a match is a key of the line itself (as in
    `recyclable.entryrows._shown_fields`).  Patterns match the short parts
    and str methods skip the long ones (code, code parts): a pattern walks
    every character of what it skips.
    """
    found = _load(text, start)
    if found is None:
        return None
    buffers, seconds, stored, digest, where = found.groups()
    if stored != key:
        return None  # filed under another key (hex: the key needs no escape)
    if buffers:
        blobs = set(_DIGESTS.findall(buffers))
        if where == "size":
            blobs.add(digest)
        size += sum(map(blob_size, blobs))
    elif where == "size":
        size += blob_size(digest)
    at = found.end()
    first = _head(text, text.find("\n", at) + 1)
    if first is None:
        return None
    action, arguments = first.groups()
    pos = first.end() - 1
    at = text.find(',"created":"', pos)
    if at < 0:
        return None
    end = text.find('"', at + 12)
    created = text[at + 12 : end]
    at = text.find(',"lineage":', end)
    # One look for a brace from the arguments to the lineage (the created time has none).
    if at < 0 or text.find("{", pos, at) >= 0 or "\\" in created or not created.isprintable():
        return None
    rest = _lineage(text, at)
    if rest is None:
        return None
    inputs, values, plugin = rest.groups()
    return (
        f"{created}\0{action[1:-1]}\0{key}",
        f'"{created}"',
        action,
        key,
        plugin,
        arguments.replace('","', '", "').replace("],[", "], [") if arguments != "[]" else "[]",
        size,
        seconds,
        values.replace('","', '", "').replace("],[", "], [") if values else "[]",
        inputs.replace('","', '", "').replace("],[", "], [") if inputs else "[]",
    )


_load, _head, _lineage = _LOAD.match, _HEAD.match, _LINEAGE.match


def _decoded(key: str, data: bytes, blob_size: Callable[[str], int]) -> ShownRow | None:
    """The row of any other entry, from its decoded fields (None when damaged)."""
    row = entry_row(key, data, blob_size)
    if row is None:
        return None
    created, action, key, plugin, arguments, size, seconds, values, inputs = row
    # Each field's text exactly as `row_json` writes it.
    return (
        f"{created}\0{action}\0{key}",
        _esc(created),
        _esc(action),
        key,
        _esc(plugin),
        _list(arguments),
        size,
        _float(seconds),
        _list(values),
        _list(inputs),
    )


def shown_json(row: ShownRow) -> str:
    """The JSON object ``cache show --json`` prints for a row, as `entryrows.row_json` does."""
    return shown_json_rows([row])[0][1]


def shown_json_rows(rows: Sequence[ShownRow]) -> list[tuple[str, str]]:
    """``(order, shown_json(row))`` of each row.

    One f-string per row in one comprehension: a third cheaper than a call
    and a ``%`` format per row, at 100,000 rows.
    """
    return [
        (
            order,
            f'{{"action": {action}, "arguments": {arguments}, "bytes": {size}, '
            f'"compute_seconds": {seconds}, "created": {created}, "inputs": {inputs}, '
            f'"key": "{key}", "plugin": {plugin}, "values": {values}}}',
        )
        for order, created, action, key, plugin, arguments, size, seconds, values, inputs in rows
    ]


Cells = tuple[str, str, "list[Any] | None", str, bool, int, float, str]


def shown_cells(row: ShownRow) -> Cells:
    """``(key, action, arguments, text, digests, bytes, seconds, created)`` decoded, for the table.

    ``arguments`` are the entry's ``[name, value]`` pairs: the argument
    values its lineage keeps, or, for an entry without them (``digests``
    true), the arguments' digests.  For values whose text was spliced
    (pairs of plain strings) ``arguments`` is None and ``text`` is already
    ``name=value, ...``, cut to 60 characters as the table shows it.
    """
    return shown_cells_rows([row])[0]


def shown_cells_rows(rows: Sequence[ShownRow]) -> list[Cells]:
    """`shown_cells` of each row, in one loop (no call per row where the text needs none)."""
    cells: list[Cells] = []
    append = cells.append
    plain = _plain_pairs
    for _, created, action, key, _, arguments, size, seconds, values, _ in rows:
        digests = values == "[]"
        text = ""
        pairs: list[Any] | None = None
        if not digests and plain(values):
            # [["a", "1"], ["b", "2"]] -> a=1, b=2
            text = values[3:-3].replace('"], ["', ", ").replace('", "', "=")
            if len(text) > 60:
                text = text[:57] + "..."
        else:
            pairs = json.loads(arguments if digests else values)
        append(
            (
                key,
                _string(action) if "\\" in action else action[1:-1],
                pairs,
                text,
                digests,
                size,
                float(seconds),
                _string(created) if "\\" in created else created[1:-1],
            )
        )
    return cells


# A spliced list of [name, value] pairs (json.dumps's separators), strings without " \\ , [ ].
_plain_pairs = re.compile(rf"\[\[{_ITEM}, {_ITEM}\](?:, \[{_ITEM}, {_ITEM}\])*\]").fullmatch


def _string(text: str) -> str:
    """The value of a JSON string's text (most need no decoding)."""
    if "\\" in text:
        decoded: str = json.loads(text)
        return decoded
    return text[1:-1]
