"""The manifest: a small, self-verifying JSON record of one stored call.

On disk a manifest is one header line and a JSON document::

    recyclable-manifest 1 <xxh3_128 hex of the JSON bytes>[ hmac-sha256:<hex>]
    {"action": ..., "arguments": [[name, digest], ...], "stream": ..., "buffers": [...], ...}

The header checksum makes a torn, truncated or hand-edited manifest a
detectable miss rather than a wrong hit; blob checksums (a blob's name is the
xxh3_128 of its content) do the same for the data.

A cache opened with a secret signs each manifest with an HMAC (SHA-256) of
the JSON bytes and refuses, on load, a manifest that is unsigned or whose
signature does not match: the checksum guards against accidents, the
signature against someone who can write to the cache directory.  Readers
without a secret ignore the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import xxhash

__all__ = ["MANIFEST_FORMAT", "ManifestError", "dump_manifest", "load_manifest", "mac"]

MANIFEST_FORMAT = 1
_MAGIC = b"recyclable-manifest %d " % MANIFEST_FORMAT
_SIG = b"hmac-sha256:"


class ManifestError(Exception):
    """A manifest failed verification (internal: always turned into a warned miss)."""


def mac(secret: bytes, data: bytes | memoryview) -> str:
    """The HMAC-SHA256 of ``data`` under ``secret``, hex."""
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def dump_manifest(body: dict[str, Any], secret: bytes | None = None) -> bytes:
    """Serialise a manifest body with its checksum header (and signature, given a secret)."""
    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    header = _MAGIC + xxhash.xxh3_128_hexdigest(payload).encode()
    if secret is not None:
        header += b" " + _SIG + mac(secret, payload).encode()
    return header + b"\n" + payload


def load_manifest(data: bytes, secret: bytes | None = None) -> dict[str, Any]:
    """Parse and verify a manifest.

    Args:
        data: the manifest file's bytes.
        secret: when given, the manifest must carry a matching signature.

    Raises:
        ManifestError: the header, checksum, signature or JSON is not valid.

    """
    header, newline, payload = data.partition(b"\n")
    if not newline or not header.startswith(_MAGIC):
        raise ManifestError("not a recyclable manifest of a format this version reads")
    checksum, _, signature = header[len(_MAGIC) :].partition(b" ")
    if checksum != xxhash.xxh3_128_hexdigest(payload).encode():
        raise ManifestError("checksum mismatch (torn, truncated or edited)")
    if secret is not None:
        if not signature.startswith(_SIG):
            raise ManifestError("unsigned, but this cache requires signed entries")
        if not hmac.compare_digest(signature[len(_SIG) :], mac(secret, payload).encode()):
            raise ManifestError("signature mismatch (written with another secret, or forged)")
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise ManifestError(f"invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ManifestError("manifest is not a JSON object")
    return body
