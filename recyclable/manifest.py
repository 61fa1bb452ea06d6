"""The manifest: a small, self-verifying JSON record of one stored call.

On disk a manifest is one header line and a JSON document::

    recyclable-manifest 1 <xxh3_128 hex of the JSON bytes>
    {"action": ..., "arguments": [[name, digest], ...], "stream": ..., "buffers": [...], ...}

The header checksum makes a torn, truncated or hand-edited manifest a
detectable miss rather than a wrong hit; blob checksums (a blob's name is the
xxh3_128 of its content) do the same for the data.
"""

from __future__ import annotations

import json
from typing import Any

import xxhash

__all__ = ["MANIFEST_FORMAT", "ManifestError", "dump_manifest", "load_manifest"]

MANIFEST_FORMAT = 1
_MAGIC = b"recyclable-manifest %d " % MANIFEST_FORMAT


class ManifestError(Exception):
    """A manifest failed verification (internal: always turned into a warned miss)."""


def dump_manifest(body: dict[str, Any]) -> bytes:
    """Serialise a manifest body with its checksum header."""
    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return _MAGIC + xxhash.xxh3_128_hexdigest(payload).encode() + b"\n" + payload


def load_manifest(data: bytes) -> dict[str, Any]:
    """Parse and verify a manifest.

    Raises:
        ManifestError: the header, checksum or JSON is not valid.

    """
    header, newline, payload = data.partition(b"\n")
    if not newline or not header.startswith(_MAGIC):
        raise ManifestError("not a recyclable manifest of a format this version reads")
    if header[len(_MAGIC) :] != xxhash.xxh3_128_hexdigest(payload).encode():
        raise ManifestError("checksum mismatch (torn, truncated or edited)")
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise ManifestError(f"invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ManifestError("manifest is not a JSON object")
    return body
