"""One fast pass over a local cache's files, for the cache tools.

The tools walk caches of 100,000 entries and more.  There a pathlib path per
name, or a second ``stat`` of a file ``os.scandir`` has just listed, costs more
than the system calls themselves; so everything here works on plain strings
and on the stats a `os.DirEntry` gives, and reads each file at most once.

Long passes report how far they got through a `ProgressHook`; the library
never prints, the command line decides what to show (and only after a tool
has run a while).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import xxhash

from recyclable.manifest import ManifestError, load_manifest

__all__ = [
    "FIRST_READ",
    "TICK",
    "BlobSizes",
    "CacheScan",
    "ProgressHook",
    "Tally",
    "blobs_of",
    "entry_sizes",
    "manifest_blobs",
    "manifest_fields",
    "names_in",
    "read_file",
    "read_manifests",
    "read_rest",
    "referenced_blobs",
    "scan_cache",
    "shard_dirs",
    "sharded_names",
    "sharded_stats",
    "sharded_totals",
]

#: ``hook(what, done, total)``: a long pass is at item ``done`` of ``total``
#: (None when the total is not known) of the stage ``what``.
ProgressHook = Callable[[str, int, "int | None"], None]

#: A progress hook is called at the first item of a pass and every 1,024 after it
#: (``done & TICK == 1``): cheap, and a tool shows it is alive from its start.
TICK = 1023


def _scandir(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _shards(root: str) -> Iterator[os.DirEntry[str]]:
    # Dot-directories (a pool's ``.runs``) hold bookkeeping, never sharded names.
    for shard in _scandir(root):
        if not shard.name.startswith(".") and shard.is_dir(follow_symlinks=False):
            yield shard


def sharded_names(root: str, suffix: str = "") -> list[str]:
    """The names in ``root/<shard>/`` with ``suffix`` removed (names without it are left out).

    No file is stat-ed: this is the cheapest listing there is.
    """
    return names_in(shard_dirs(root), suffix)


def shard_dirs(root: str) -> list[str]:
    """The paths of the shard directories of ``root`` (bookkeeping dot-directories left out)."""
    return [shard.path for shard in _shards(root)]


def names_in(shards: Iterable[str], suffix: str = "") -> list[str]:
    """The names in these shard directories, as `sharded_names` lists them."""
    names: list[str] = []
    cut = len(suffix)
    for shard in shards:
        # listdir, not scandir: names alone, without a DirEntry object for each.
        try:
            found = os.listdir(shard)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if cut:
            names.extend([name[:-cut] for name in found if name.endswith(suffix)])
        else:
            names.extend(found)
    return names


def sharded_stats(
    root: str, suffix: str = "", *, progress: ProgressHook | None = None, what: str = ""
) -> dict[str, tuple[int, float]]:
    """``name -> (size, mtime)`` of every file in ``root/<shard>/`` (``suffix`` removed)."""
    found: dict[str, tuple[int, float]] = {}
    cut = len(suffix)
    done = 0
    for shard in _shards(root):
        for entry in _scandir(shard.path):
            name = entry.name
            if cut:
                if not name.endswith(suffix):
                    continue
                name = name[:-cut]
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed since the listing
            found[name] = (info.st_size, info.st_mtime)
            done += 1
            if progress is not None and done & TICK == 1:
                progress(what, done, None)
    return found


def sharded_totals(
    root: str, suffix: str = "", *, progress: ProgressHook | None = None, what: str = ""
) -> tuple[int, int]:
    """``(files, bytes)`` of the files in ``root/<shard>/`` ending in ``suffix``.

    The `sharded_stats` pass without a record per file, for a tool that only counts.
    """
    count = 0
    total = 0
    for shard in _shards(root):
        for entry in _scandir(shard.path):
            if suffix and not entry.name.endswith(suffix):
                continue
            try:
                total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue  # removed since the listing
            count += 1
            if progress is not None and count & TICK == 1:
                progress(what, count, None)
    return count, total


def read_file(path: str) -> bytes | None:
    """A whole small file (a manifest) in as few system calls as possible; None when missing."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return read_rest(fd, os.read(fd, FIRST_READ))
    finally:
        os.close(fd)


#: The first read of a manifest; a short read is its end.
FIRST_READ = 1 << 16


def read_rest(fd: int, first: bytes) -> bytes:
    """The whole file open at ``fd`` whose first `FIRST_READ` bytes read gave ``first``.

    A short first read of a regular file is its end, so most manifests need
    no second read; the loops that inline the open and first read for speed
    call this for the rest.
    """
    if len(first) < FIRST_READ:
        return first
    chunks = [first]
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def read_manifests(entries: str, keys: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """``(key, bytes)`` of the manifest of each key under ``entries`` that exists.

    One ``open``, ``read`` and ``close`` for each (see `read_file`), without
    a function call or a path object per key: a pass over 100,000 manifests
    costs little more than the system calls.
    """
    open_, read, close, flags = os.open, os.read, os.close, os.O_RDONLY
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
        yield key, data


def blobs_of(manifest: Mapping[str, object]) -> set[str]:
    """The digests of the data files (stream and buffers) a parsed manifest references."""
    blobs: set[str] = set()
    stream = manifest.get("stream")
    if isinstance(stream, dict) and "inline" not in stream and "digest" in stream:
        blobs.add(str(stream["digest"]))
    buffers = manifest.get("buffers")
    if isinstance(buffers, list):
        blobs.update(
            str(info["digest"]) for info in buffers if isinstance(info, dict) and "digest" in info
        )
    return blobs


# A manifest's header line (see `recyclable.manifest`): magic, format, checksum[, signature].
_MAGIC = b"recyclable-manifest 1 "
# The load line of an entry with an inline stream and no buffers: no data files.
_NO_BUFFERS = b'"buffers":[]'
_INLINE = b'"inline":'


def manifest_blobs(data: bytes, *, checked: bool = True) -> set[str] | None:
    """The data files a manifest's bytes reference; None when it fails its checksum or parse.

    Most entries (small results) have none; for those the checksum is checked
    and the JSON left unparsed, which halves the cost of a pass over 100,000
    manifests.  Anything else is parsed by `recyclable.manifest.load_manifest`.

    With ``checked`` false such an entry is answered without its checksum:
    for a caller that treats a damaged manifest as referencing nothing
    (garbage collection) the answer is the same either way.
    """
    header, _, payload = data.partition(b"\n")
    load_line = payload.partition(b"\n")[0]
    if header.startswith(_MAGIC) and _NO_BUFFERS in load_line and _INLINE in load_line:
        if not checked:
            return set()
        checksum = header[len(_MAGIC) :].partition(b" ")[0]
        if checksum == xxhash.xxh3_128_hexdigest(payload).encode():
            return set()
    try:
        return blobs_of(load_manifest(data))
    except ManifestError:
        return None


# The start of the load line of an entry without buffers (keys are sorted; see
# `recyclable.manifest.dump_manifest`).
_LOAD_NO_BUFFERS = b'{"buffers":[],'


def referenced_blobs(
    entries: str,
    keys: Collection[str],
    sizes: dict[str, int] | None = None,
    *,
    progress: ProgressHook | None = None,
    what: str = "reading entries",
) -> set[str]:
    """The data files the manifests of ``keys`` reference, for garbage collection.

    Reads each manifest once (`read_manifests`).  A manifest that fails its
    checksum or parse references nothing (verification quarantines it), so
    an entry whose load line shows no data files needs neither its checksum
    nor a parse: most entries cost their three system calls and three
    searches of their bytes.  The others go through `manifest_blobs`.
    ``sizes``, when given, receives each manifest's size.
    """
    live: set[str] = set()
    # `read_manifests` inlined: at 100,000 manifests a generator's frame per
    # item is a tenth of the pass.
    open_, read, close, flags, whole = os.open, os.read, os.close, os.O_RDONLY, FIRST_READ
    done = 0
    for key in keys:
        try:
            fd = open_(f"{entries}/{key[:2]}/{key}.json", flags)
        except FileNotFoundError:
            continue  # removed since it was listed
        try:
            data = read(fd, whole)
        finally:
            close(fd)
        if len(data) == whole:
            data = read_file(f"{entries}/{key[:2]}/{key}.json") or b""
        if sizes is not None:
            sizes[key] = len(data)
        done += 1
        if progress is not None and done & TICK == 1:
            progress(what, done, len(keys))
        start = data.find(b"\n") + 1
        end = data.find(b"\n", start)
        if (
            start
            and end > 0
            and data.startswith(_LOAD_NO_BUFFERS, start)
            and data.find(_INLINE, start, end) > 0
        ):
            continue  # an inline result and no buffers: no data files
        live |= manifest_blobs(data) or set()
    return live


def entry_sizes(
    entries: str,
    keys: Collection[str],
    blob_size: Callable[[str], int],
    *,
    progress: ProgressHook | None = None,
) -> dict[str, int]:
    """``key -> bytes`` (manifest and data files) of each sound entry of ``keys``.

    Each manifest is read once and its checksum checked; an entry without
    data files needs no parse (see `manifest_blobs`).  Missing and damaged
    entries are left out.  ``blob_size`` gives a data file's size.
    """
    found: dict[str, int] = {}
    hexdigest = xxhash.xxh3_128_hexdigest
    magic = len(_MAGIC)
    # `read_manifests` inlined, as in `referenced_blobs` (nothing read is kept).
    open_, read, close, flags = os.open, os.read, os.close, os.O_RDONLY
    done = 0
    for key in keys:
        try:
            fd = open_(f"{entries}/{key[:2]}/{key}.json", flags)
        except FileNotFoundError:
            continue  # removed since it was listed
        try:
            data = read(fd, FIRST_READ)
        finally:
            close(fd)
        if len(data) == FIRST_READ:
            data = read_file(f"{entries}/{key[:2]}/{key}.json") or b""
        done += 1
        if progress is not None and done & TICK == 1:
            progress("reading entries", done, len(keys))
        header, _, payload = data.partition(b"\n")
        if payload.startswith(_LOAD_NO_BUFFERS) and data.startswith(_MAGIC):
            load_end = payload.find(b"\n")
            if (
                load_end > 0
                and payload.find(_INLINE, 0, load_end) > 0
                and header[magic:].partition(b" ")[0] == hexdigest(payload).encode()
            ):
                found[key] = len(data)
                continue
        blobs = manifest_blobs(data)
        if blobs is not None:
            found[key] = len(data) + sum(blob_size(digest) for digest in blobs)
    return found


def manifest_fields(data: bytes) -> dict[str, Any] | None:
    """Every field of a manifest as a plain dict; None when it fails its checksum or parse."""
    header, _, payload = data.partition(b"\n")
    checksum = header[len(_MAGIC) :].partition(b" ")[0] if header.startswith(_MAGIC) else b""
    if checksum != xxhash.xxh3_128_hexdigest(payload).encode():
        # Not a manifest this pass understands: the reader's own checks say why.
        try:
            load_manifest(data)
        except ManifestError:
            return None
    # Both JSON lines in one parse; the first (the load fields) wins, as in `Manifest`.
    load_line, _, meta_line = payload.partition(b"\n")
    try:
        parsed = json.loads((b"[%s,%s]" % (load_line, meta_line or b"{}")).decode())
    except ValueError:
        return None
    if not (isinstance(parsed[0], dict) and isinstance(parsed[1], dict)):
        return None
    fields: dict[str, Any] = parsed[1]
    fields.update(parsed[0])
    return fields


class BlobSizes:
    """Sizes of blobs by digest, each looked up at most once (a missing blob counts 0)."""

    def __init__(self, objects: str, known: Mapping[str, tuple[int, float]] | None = None) -> None:
        self._objects = objects
        self._sizes: dict[str, int] = {d: size for d, (size, _) in (known or {}).items()}
        self._complete = known is not None

    def __call__(self, digest: str) -> int:
        """The size of blob ``digest`` in bytes (0 when it is missing)."""
        size = self._sizes.get(digest)
        if size is None:
            size = 0
            if not self._complete:
                with contextlib.suppress(FileNotFoundError):
                    size = os.stat(f"{self._objects}/{digest[:2]}/{digest}").st_size
            self._sizes[digest] = size
        return size

    def total(self, digests: Iterable[str]) -> int:
        """The summed size of these blobs."""
        return sum(self(digest) for digest in digests)


@dataclass(frozen=True)
class CacheScan:
    """What one pass over a cache's entries and data files found.

    Attributes:
        manifests: ``key -> (size, mtime)`` of every published manifest.
        blobs: ``digest -> (size, mtime)`` of every data file.

    """

    manifests: dict[str, tuple[int, float]]
    blobs: dict[str, tuple[int, float]]

    @property
    def bytes(self) -> int:
        """Bytes of all manifests and data files."""
        return sum(size for size, _ in self.manifests.values()) + sum(
            size for size, _ in self.blobs.values()
        )


def scan_cache(root: str, *, progress: ProgressHook | None = None) -> CacheScan:
    """List and stat every manifest and data file under the cache directory ``root`` once."""
    manifests = sharded_stats(f"{root}/entries", ".json", progress=progress, what="listing entries")
    blobs = sharded_stats(f"{root}/objects", progress=progress, what="listing data files")
    return CacheScan(manifests, blobs)


@dataclass
class Tally:
    """The sizes a garbage collection saw, so its caller needs no second pass for the total.

    Attributes:
        listed: keys of the manifests listed.
        manifests: ``key -> bytes`` of each manifest read.
        blobs: ``digest -> bytes`` of each data file listed.

    """

    listed: set[str] = field(default_factory=set)
    manifests: dict[str, int] = field(default_factory=dict)
    blobs: dict[str, int] = field(default_factory=dict)
