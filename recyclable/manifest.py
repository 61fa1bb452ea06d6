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

import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import xxhash

__all__ = [
    "MANIFEST_FORMAT",
    "Manifest",
    "ManifestError",
    "VerifiedManifests",
    "dump_manifest",
    "load_manifest",
    "mac",
    "read_stored",
]

MANIFEST_FORMAT = 1
_MAGIC = b"recyclable-manifest %d " % MANIFEST_FORMAT
_SIG = b"hmac-sha256:"

#: The fields a hit needs; they go on the first JSON line.
LOAD_FIELDS = frozenset({"key", "stream", "buffers", "compute_seconds"})

# The C scanner json.loads ends up in, called directly: json.loads first goes
# through two Python frames and two regular-expression matches for
# whitespace, which cost as much as parsing a hit's line.  Manifests are
# written without whitespace; anything else takes the full json.loads.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _parse_json(text: str) -> Any:
    """``json.loads(text)``, through the C scanner alone when ``text`` is compact JSON."""
    try:
        value, end = _scan_json(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)  # leading whitespace, or invalid: json.loads says which
    if end != len(text):
        return json.loads(text)  # trailing whitespace is valid JSON, anything else is not
    return value


class ManifestError(Exception):
    """A manifest failed verification (internal: always turned into a warned miss)."""


class Manifest(Mapping[str, Any]):
    """A verified manifest: a read-only mapping whose descriptive part is parsed lazily."""

    __slots__ = ("_fields", "_meta_text", "_stream")

    def __init__(self, load: dict[str, Any], meta_text: str | None) -> None:
        self._fields = load
        self._meta_text = meta_text
        self._stream: bytes | None = None

    def _parse_meta(self) -> None:
        text, self._meta_text = self._meta_text, None
        if text:
            try:
                meta = _parse_json(text)
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

    def get(self, name: str, default: Any = None) -> Any:
        """The field ``name``, or ``default`` (a hit's fields without Mapping's generic path)."""
        fields = self._fields
        if name in fields:
            return fields[name]
        if self._meta_text is None:
            return default
        self._parse_meta()
        return self._fields.get(name, default)

    def inline_stream(self) -> bytes | None:
        """The pickle stream kept inside the manifest, checked against its digest; None if none.

        Decoded and checked once per manifest object: a manifest is immutable,
        so every later call gives the same verified bytes.

        Raises:
            ManifestError: the inline stream does not match its recorded digest.

        """
        stream = self._stream
        if stream is None:
            info = self._fields.get("stream")
            if not isinstance(info, dict) or "inline" not in info:
                return None
            try:
                stream = binascii.a2b_base64(info["inline"])
            except (binascii.Error, TypeError, ValueError) as exc:
                raise ManifestError(f"inline stream is not base64: {exc}") from None
            if xxhash.xxh3_128_hexdigest(stream) != info.get("digest"):
                raise ManifestError("inline stream fails its checksum")
            self._stream = stream
        return stream

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
        load = _parse_json(load_line.decode())
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise ManifestError(f"invalid JSON: {exc}") from None
    if not isinstance(load, dict):
        raise ManifestError("manifest is not a JSON object")
    try:
        meta_text = meta_line.decode()
    except ValueError as exc:
        raise ManifestError(f"invalid JSON: {exc}") from None
    return Manifest(load, meta_text or None)


def read_stored(store: Any, key: str) -> Manifest | None:
    """The verified manifest ``store.read_manifest(key)`` holds, or None when absent or damaged.

    For the tools that look at stored entries (explain, lineage): a damaged
    manifest is for `cache verify` to report, so here it is simply not there.
    """
    data = store.read_manifest(key)
    if data is None:
        return None
    try:
        return load_manifest(data)
    except ManifestError:
        return None


class VerifiedManifests:
    """The manifests this process has already verified, by key, with the bytes they came from.

    A manifest is a pure function of its bytes (and of the cache's secret):
    bytes equal to ones that passed every check pass them again, so a
    repeated hit compares the bytes it just read with the ones it verified
    instead of hashing and parsing them again.  The file is still read on
    every hit, so an entry that was removed, quarantined or replaced since is
    seen as such.  Bounded: only small manifests are kept, and the whole map
    is dropped when it is full (cheaper than tracking use, and a resume that
    touches each entry once gains nothing from any policy).

    Args:
        secret: the cache's signing secret; a manifest is verified under it.
        limit: most manifests kept.
        max_bytes: largest manifest kept.

    """

    __slots__ = ("_known", "limit", "max_bytes", "secret")

    def __init__(
        self, secret: bytes | None, *, limit: int = 1024, max_bytes: int = 32 * 1024
    ) -> None:
        self.secret = secret
        self.limit = limit
        self.max_bytes = max_bytes
        self._known: dict[str, tuple[bytes, Manifest]] = {}

    def load(self, key: str, data: bytes) -> Manifest:
        """The verified manifest of ``key`` read as ``data`` (see `load_manifest`).

        Raises:
            ManifestError: the bytes do not verify, or they are the manifest of another key.

        """
        known = self._known.get(key)
        if known is not None and known[0] == data:
            return known[1]
        manifest = load_manifest(data, self.secret)
        if manifest.get("key") != key:
            raise ManifestError("manifest is filed under another key")
        if len(data) <= self.max_bytes:
            if len(self._known) >= self.limit:
                self._known = {}
            self._known[key] = (data, manifest)
        return manifest

    def forget(self, key: str) -> None:
        """Drop what is known of ``key`` (its entry was judged damaged)."""
        self._known.pop(key, None)
