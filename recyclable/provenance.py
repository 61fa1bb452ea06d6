"""Provenance: the tree of stored calls that produced an entry, read from manifests.

Each manifest's optional ``lineage`` field (see `recyclable.steps`) names the
entries whose results were passed to the call.  Following those keys from
manifest to manifest gives the chain of calls behind a result: action,
argument values, code digest, when and where each was computed.  An entry
whose manifest is gone (collected, or never stored because that step ran in
another process) is shown as missing rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from recyclable.manifest import Manifest, read_stored
from recyclable.steps import LINEAGE_FIELD

if TYPE_CHECKING:
    from recyclable.cache import Cache

__all__ = ["find_key", "provenance", "render_provenance"]

#: Deepest chain followed (a guard against a hand-made cycle of manifests).
MAX_DEPTH = 200


def read_entry(cache: Cache, key: str) -> Manifest | None:
    """The verified manifest of ``key``, or None when absent or damaged."""
    return read_stored(cache.store, key)


def find_key(cache: Cache, prefix: str) -> str:
    """The full key of the one entry whose key starts with ``prefix``.

    Raises:
        LookupError: no entry, or several, match; the message says which.

    """
    text = prefix.strip().lower()
    if len(text) == 32 and cache.store.read_manifest(text) is not None:
        return text
    if not text or any(c not in "0123456789abcdef" for c in text):
        raise LookupError(f"{prefix!r} is not a key: keys are hex digits (see `cache show POOL`)")
    matches = [key for key in cache.store.iter_manifest_keys() if key.startswith(text)]
    if not matches:
        raise LookupError(f"no entry with a key starting {text!r} in cache {cache.path}")
    if len(matches) > 1:
        shown = ", ".join(sorted(matches)[:5])
        raise LookupError(f"{len(matches)} entries have keys starting {text!r} ({shown}, ...)")
    return matches[0]


def lineage_of(manifest: Manifest) -> dict[str, Any]:
    """The ``lineage`` field of a manifest, or an empty one for entries written without it."""
    value = manifest.get(LINEAGE_FIELD)
    return value if isinstance(value, dict) else {"inputs": [], "values": [], "parent": None}


def provenance(cache: Cache, key: str) -> dict[str, Any]:
    """The provenance tree of entry ``key`` as JSON-able data.

    Each node has ``key``, ``action``, ``plugin``, ``values`` (argument →
    short text), ``code``, ``code_parts`` (names), ``created``, ``writer``,
    ``compute_seconds`` and ``inputs``: one item per argument another stored
    call produced, with that call's node under ``entry`` (``null`` when its
    manifest is missing; ``"seen": true`` when the node appears earlier).
    """
    return _node(cache, key, set(), 0)


def _node(cache: Cache, key: str, seen: set[str], depth: int) -> dict[str, Any]:
    manifest = read_entry(cache, key)
    if manifest is None:
        return {"key": key, "missing": True}
    lineage = lineage_of(manifest)
    node: dict[str, Any] = {
        "key": key,
        "plugin": manifest.get("plugin"),
        "action": manifest.get("action"),
        "values": {name: text for name, text in lineage.get("values", [])},
        "code": manifest.get("code"),
        "code_parts": [name for name, _ in manifest.get("code_parts", [])],
        "created": manifest.get("created"),
        "writer": manifest.get("writer"),
        "compute_seconds": manifest.get("compute_seconds"),
        "inputs": [],
    }
    if key in seen:
        return {**node, "seen": True, "inputs": []}
    seen.add(key)
    for item in lineage.get("inputs", []):
        argument, part, source = item[0], item[1], item[2]
        of = item[3] if len(item) > 3 else ""
        entry = None if depth >= MAX_DEPTH else _node(cache, source, seen, depth + 1)
        node["inputs"].append(
            {"argument": argument, "part": part, "key": source, "of": of, "entry": entry}
        )
    return node


def render_provenance(tree: dict[str, Any]) -> str:
    """The provenance tree as indented text, one call a line with its details under it."""
    return "\n".join(_lines(tree, "", "", None))


def _lines(node: dict[str, Any], lead: str, child_lead: str, label: str | None) -> Iterator[str]:
    via = f"{label} ← " if label else ""
    if node is None or node.get("missing"):
        key = node["key"] if node else "?"
        yield f"{lead}{via}entry {key[:12]} (missing: collected, or stored elsewhere)"
        return
    values = ", ".join(f"{name}={text}" for name, text in node["values"].items())
    yield f"{lead}{via}{node['action']}({values})"
    if node.get("seen"):
        yield f"{child_lead}  key {node['key'][:12]}, shown above"
        return
    writer = node.get("writer") or {}
    code = str(node.get("code") or "")
    seconds = node.get("compute_seconds")
    took = f" in {float(seconds):.3f} s" if isinstance(seconds, (int, float)) else ""
    yield f"{child_lead}  key {node['key']}  code {code[:16]}"
    where = f"{writer.get('host', '?')} (pid {writer.get('pid', '?')})"
    yield f"{child_lead}  computed {node.get('created', '?')} on {where}{took}"
    parts = node.get("code_parts") or []
    if len(parts) > 1:
        yield f"{child_lead}  code parts: {', '.join(parts)}"
    inputs = node["inputs"]
    for index, item in enumerate(inputs):
        last = index == len(inputs) - 1
        branch = "└─ " if last else "├─ "
        below = "   " if last else "│  "
        name = item["argument"] + (item["part"] or "")
        if item.get("of"):
            name += f" (its {item['of']})"
        yield from _lines(
            item["entry"] if item["entry"] is not None else {"key": item["key"], "missing": True},
            child_lead + branch,
            child_lead + below,
            name,
        )
