"""A pool's entries as rows of values: only the fields shown, read from each manifest once.

Parsing each manifest's description whole costs as much as reading it (its
code parts, writer and library fields are not shown), and so would a
record object per entry.  So each manifest's checksum is checked, then only
the shown fields are located in its text and decoded; anything unusual
falls back to a full parse.

A row is a tuple (see `Row`); `recyclable.maintenance.list_entries` turns
rows into `EntrySummary` records for the library's callers.  ``cache show``
prints from `recyclable.showrows`, which does not decode the fields at all
and falls back to `entry_row` for an entry of another shape; `row_json` is
the text both give.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

import xxhash

from recyclable.scan import TICK, ProgressHook, blobs_of, manifest_fields, read_manifests

__all__ = ["Row", "entry_row", "entry_rows", "row_json"]

#: ``(created, action, key, plugin, arguments, bytes, compute_seconds, values, inputs)``
#: of one entry: ``arguments`` the ``[name, digest]`` pairs of its key,
#: ``values`` the ``[name, text]`` pairs of its lineage, ``inputs`` its
#: ``[argument, part, key, result part]`` lists (see `recyclable.steps`).
Row = tuple[str, str, str, str, list[Any], int, float, list[Any], list[Any]]

_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

_MAGIC = b"recyclable-manifest 1 "
# The load line of an entry with an inline result and no buffers starts so
# (`recyclable.manifest.dump_manifest` sorts keys and writes no whitespace).
_LOAD_START = b'{"buffers":[],"compute_seconds":'
_INLINE = b'"inline":'

# The encoder `json.dumps` ends up in, made once: `JSONEncoder.encode` builds
# it anew for every call, which costs more than encoding a row.  The rows'
# dicts are built in sorted key order, so the output is that of
# ``json.dumps(row, sort_keys=True)``.
_esc = encode_basestring_ascii
_encode_row: Callable[[Any], str]
if c_make_encoder is not None:
    _row_encoder = c_make_encoder(
        None, str, encode_basestring_ascii, None, ": ", ", ", False, False, True
    )

    def _encode_row(row: Any) -> str:
        return "".join(_row_encoder(row, 0))

else:  # pragma: no cover - CPython always has the C encoder
    _encode_row = json.JSONEncoder(default=str).encode


def entry_rows(
    entries: str,
    keys: Collection[str],
    blob_size: Callable[[str], int],
    *,
    progress: ProgressHook | None = None,
) -> list[Row]:
    """The rows of the sound entries of ``keys``, oldest first (then by action and key).

    Args:
        entries: the cache's ``entries`` directory.
        keys: the keys to list (a pool's markers).
        blob_size: a data file's size by digest (`recyclable.scan.BlobSizes`).
        progress: told how far the pass got.

    Missing entries (removed meanwhile) and damaged ones (`cache verify`
    deals with them) are left out.
    """
    rows: list[Row] = []
    append = rows.append
    for done, (key, data) in enumerate(read_manifests(entries, keys), 1):
        if progress is not None and done & TICK == 1:
            progress("reading entries", done, len(keys))
        row = entry_row(key, data, blob_size)
        if row is not None:
            append(row)
    # One str per row to compare: created times repeat (a pool fills
    # hundreds of entries a second), and comparing tuples then compares
    # three strings each time.
    rows.sort(key=_order)
    return rows


def entry_row(key: str, data: bytes, blob_size: Callable[[str], int]) -> Row | None:
    """The row of one entry from its manifest's bytes; None when it is damaged.

    The shown fields are located in the description line when it has the
    writer's usual shape (see `_shown_fields`), else the manifest is parsed whole.
    """
    header, _, payload = data.partition(b"\n")
    if not header.startswith(_MAGIC):
        return None  # not a manifest this version reads
    if header[len(_MAGIC) :].partition(b" ")[0] != xxhash.xxh3_128_hexdigest(payload).encode():
        return None  # torn or edited
    load, _, meta = payload.partition(b"\n")
    if load.startswith(_LOAD_START) and _INLINE in load and payload.isascii():
        # No data files: the load line gives only the compute time.
        try:
            seconds = _scan(load.decode(), len(_LOAD_START))[0]
            fields = _shown_fields(meta.decode())
        except (StopIteration, ValueError):
            fields = None
        if fields is not None and isinstance(seconds, (int, float)):
            row = _row(key, len(data), float(seconds), fields)
            if row is not None:
                return row
    return _full_row(key, data, blob_size)


def _order(row: Row) -> str:
    """The sort key of a row: by creation, then action, then key."""
    return f"{row[0]}\0{row[1]}\0{row[2]}"


def row_json(row: Row) -> str:
    """One row as the JSON object ``cache show --json`` prints (keys sorted).

    The text `json.dumps(..., sort_keys=True)` gives, written from a template:
    encoding the keys of 100,000 dicts costs as much as reading the manifests.
    """
    created, action, key, plugin, arguments, size, seconds, values, inputs = row
    return (
        f'{{"action": {_esc(action)}, "arguments": {_list(arguments)}, "bytes": {size:d}, '
        f'"compute_seconds": {_float(seconds)}, "created": {_esc(created)}, '
        f'"inputs": {_list(inputs)}, "key": {_esc(key)}, "plugin": {_esc(plugin)}, '
        f'"values": {_list(values)}}}'
    )


def _list(value: list[Any]) -> str:
    return _encode_row(value) if value else "[]"


def _float(value: float) -> str:
    # As the json module writes floats (it accepts NaN and infinities).
    if math.isfinite(value):
        return float.__repr__(value)
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _shown_fields(text: str) -> dict[str, Any] | None:
    """The shown fields of a description line, located rather than parsed; None to parse it.

    The line is the writer's compact JSON with sorted keys (its checksum
    passed): ``{"action":..,"arguments":..,...,"created":..,...,"lineage":..,
    ...,"plugin":..,...}``.  A key after the first two is looked for as
    ``,"name":`` with no ``{`` since the previous value: inside a string a
    quote is always escaped and a key of a nested object needs its ``{``, so
    such a match is a key of the line itself.  Only the values shown are
    parsed, which costs a third of parsing the line (code parts, writer and
    the rest are skipped).  Anything else (a brace inside a string, another
    shape) answers None, and the line is parsed whole.

    Raises:
        ValueError: a located value is not JSON (StopIteration too).

    """
    if not text.startswith('{"action":'):
        return None
    action, pos = _scan(text, 10)
    if not text.startswith(',"arguments":', pos):
        return None
    arguments, pos = _scan(text, pos + 13)
    at = text.find(',"created":', pos)
    if at < 0 or text.find("{", pos, at) >= 0:
        return None
    created, pos = _scan(text, at + 11)
    fields = {"action": action, "arguments": arguments, "created": created}
    at = text.find(',"lineage":', pos)
    if at >= 0 and text.find("{", pos, at) < 0:
        fields["lineage"], pos = _scan(text, at + 11)
    # Without a lineage found here, a brace before the plugin sends the line to a full parse.
    at = text.find(',"plugin":', pos)
    if at < 0 or text.find("{", pos, at) >= 0:
        return None
    fields["plugin"] = _scan(text, at + 10)[0]
    if not all(isinstance(fields[name], str) for name in ("action", "created", "plugin")):
        return None
    return fields


def _row(key: str, size: int, seconds: float, fields: dict[str, Any]) -> Row | None:
    """The row of parsed description fields; None when one has an unexpected type."""
    lineage = fields.get("lineage")
    if not isinstance(lineage, dict):
        lineage = {}
    arguments = fields.get("arguments", [])
    values = lineage.get("values", [])
    inputs = lineage.get("inputs", [])
    if not (isinstance(arguments, list) and isinstance(values, list) and isinstance(inputs, list)):
        return None
    return (
        str(fields.get("created", "")),
        str(fields.get("action", "")),
        key,
        str(fields.get("plugin", "")),
        arguments,
        size,
        seconds,
        values,
        inputs,
    )


def _full_row(key: str, data: bytes, blob_size: Callable[[str], int]) -> Row | None:
    """The row of any other entry, from its fully parsed fields (None when damaged)."""
    manifest = manifest_fields(data)
    if manifest is None:
        return None
    try:
        seconds = float(manifest.get("compute_seconds", 0.0))
    except (TypeError, ValueError):
        return None
    size = len(data) + sum(blob_size(digest) for digest in blobs_of(manifest))
    return _row(key, size, seconds, manifest)
