"""The manifest: a small, self-verifying JSON record of one stored call.

On disk a manifest is one header line and two JSON lines::

    recyclable-manifest 1 <xxh3_128 hex of everything after this line>[ hmac-sha256:<hex>]
    {"buffers": [...], "compute_seconds": ..., "key": ..., "stream": {...}}
    {"action": ..., "arguments": [[name, digest], ...], "code": ..., "created": ..., ...}

The first JSON line holds what a hit needs to load the result; the second the
description of the call (action, per-argument digests, writer, times), parsed
only when someone asks for it, which keeps a hit cheap.  The header checksum
makes a torn, truncated or hand-edited manifest a detectable miss rather than a
wrong hit; blob checksums (a blob's name is the xxh3_128 of its content) do the
same for the data.

A cache opened with a secret signs each manifest with an HMAC (SHA-256) of
both JSON lines and refuses, on load, a manifest that is unsigned or whose
signature does not match: the checksum guards against accidents, the
signature against someone who can write to the cache directory.  Readers
without a secret ignore the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from typing import Any

import xxhash

__all__ = [
    "MANIFEST_FORMAT",
    "Manifest",
    "ManifestError",
    "dump_manifest",
    "load_manifest",
    "mac",
]

MANIFEST_FORMAT = 1
_MAGIC = b"recyclable-manifest %d " % MANIFEST_FORMAT
_SIG = b"hmac-sha256:"

#: The fields a hit needs; they go on the first JSON line.
LOAD_FIELDS = frozenset({"key", "stream", "buffers", "compute_seconds"})


class ManifestError(Exception):
    """A manifest failed verification (internal: always turned into a warned miss)."""


class Manifest(Mapping[str, Any]):
    """A verified manifest: a read-only mapping whose descriptive part is parsed lazily."""

    __slots__ = ("_fields", "_meta_text")

    def __init__(self, load: dict[str, Any], meta_text: str | None) -> None:
        self._fields = load
        self._meta_text = meta_text

    def _parse_meta(self) -> None:
        text, self._meta_text = self._meta_text, None
        if text:
            try:
                meta = json.loads(text)
            except ValueError as exc:  # the checksum passed, so only a writer bug gets here
                raise ManifestError(f"invalid JSON: {exc}") from None
            if isinstance(meta, dict):
                self._fields = {**meta, **self._fields}

    def __getitem__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            if self._meta_text is None:
                raise
        self._parse_meta()
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        if self._meta_text is not None:
            self._parse_meta()
        return iter(self._fields)

    def __len__(self) -> int:
        if self._meta_text is not None:
            self._parse_meta()
        return len(self._fields)

    def as_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (for JSON output)."""
        return dict(self.items())


def mac(secret: bytes, data: bytes | memoryview) -> str:
    """The HMAC-SHA256 of ``data`` under ``secret``, hex."""
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def dump_manifest(body: Mapping[str, Any], secret: bytes | None = None) -> bytes:
    """Serialise a manifest body with its checksum header (and signature, given a secret)."""
    load = {k: v for k, v in body.items() if k in LOAD_FIELDS}
    meta = {k: v for k, v in body.items() if k not in LOAD_FIELDS}
    payload = (
        json.dumps(load, sort_keys=True, separators=(",", ":")).encode()
        + b"\n"
        + json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    )
    header = _MAGIC + xxhash.xxh3_128_hexdigest(payload).encode()
    if secret is not None:
        header += b" " + _SIG + mac(secret, payload).encode()
    return header + b"\n" + payload


def load_manifest(data: bytes, secret: bytes | None = None) -> Manifest:
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
    load_line, _, meta_line = payload.partition(b"\n")
    try:
        # Parsing a str is markedly faster than letting json sniff the bytes' encoding.
        load = json.loads(load_line.decode())
    except ValueError as exc:
        raise ManifestError(f"invalid JSON: {exc}") from None
    if not isinstance(load, dict):
        raise ManifestError("manifest is not a JSON object")
    return Manifest(load, meta_line.decode() or None)
