"""What makes a directory a recyclable cache: its VERSION file, layout, owner and pool names.

A cache directory is recognised by its ``VERSION`` file.  Opening a
non-empty directory without one, a file, or a cache of a newer format is an
error; the library never wipes a directory it did not create.  `Cache` opens
and creates caches through these functions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs
import xxhash

from recyclable import _env
from recyclable.errors import (
    CacheFormatError,
    CacheLocationError,
    CachePermissionError,
    PoolNameError,
)
from recyclable.lease import Leases
from recyclable.store.base import Store
from recyclable.store.local import LocalStore, temp_name, write_new_file
from recyclable.store.publish import Publisher

__all__ = [
    "CACHE_FORMAT",
    "POOL_NAME_RE",
    "check_owner",
    "default_cache_path",
    "open_or_create",
    "open_remote",
    "remote_leases",
    "validate_pool_name",
]

#: The on-disk format this version writes and reads.
CACHE_FORMAT = 1
_VERSION_TEXT = f"recyclable cache\nformat: {CACHE_FORMAT}\n"
_SHARED_LINE = "shared: true\n"
_VERSION_RE = re.compile(r"\Arecyclable cache\nformat: (\d+)\n")

#: Pool names: letters, digits, ``_``, ``-`` and ``.``, starting with a letter
#: or digit, at most 200 characters (so a pool is one portable directory name).
POOL_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,199}\Z")

_LAYOUT = ("objects", "entries", "pools", "leases", "tmp", "quarantine")


def default_cache_path() -> Path:
    """``$RECYCLABLE_CACHE`` if set, else the platform's per-user cache directory."""
    configured = _env.default_cache_dir()
    if configured is not None:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("recyclable", appauthor=False))


def open_remote(
    url: str, storage_options: Mapping[str, Any], *, durable: bool
) -> tuple[Store, int]:
    """The store of the object-store cache at ``url`` and its format; VERSION made when new."""
    from recyclable.store.remote import open_fsspec_store

    store = open_fsspec_store(url, storage_options, durable=durable)
    text = store.read_version()
    # An opener creates VERSION before anything else: objects without it
    # may be another opener's cache, created since our read.
    if text is None and not store.is_empty() and (text := store.read_version()) is None:
        raise CacheLocationError(
            f"{url} holds objects but no recyclable VERSION: it is not a recyclable "
            "cache; choose an empty or new prefix for the cache"
        )
    if text is None:
        store.create_version(_VERSION_TEXT)
        text = store.read_version() or ""
    found = _check_format(text, f"{url}/VERSION", url)
    store.probe_conditional_create()
    return store, found


def remote_leases(url: str, *, timeout: float, stale: float) -> Leases:
    """The leases of the object-store cache at ``url``: a private directory of this host."""
    # Leases need files created atomically, which object stores do not
    # offer: single-flight covers the processes of this host, through a
    # private directory of the user's local cache.  Across hosts the
    # first-writer-wins publish keeps results correct.
    lease_root = default_cache_path().parent / "recyclable-remote-leases"
    return Leases(
        lease_root / xxhash.xxh3_64_hexdigest(url.encode()),
        timeout=timeout,
        stale=stale,
        file_mode=0o600,
        make_dirs=lambda d: d.mkdir(mode=0o700, parents=True, exist_ok=True),
    )


def open_or_create(path: Path, *, durable: bool, shared: bool) -> tuple[int, bool]:
    """Open the cache directory ``path``, creating it when absent.

    Returns its format and whether its VERSION marks it as shared.
    """
    if path.exists() and not path.is_dir():
        raise CacheLocationError(
            f"cache path {path} is a file, not a directory; choose a directory path "
            "(it will be created) or remove the file"
        )
    version_file = path / "VERSION"
    if not version_file.exists():
        # Only the store's own directories: another process is creating
        # this cache right now, and creating it again is harmless.
        if path.is_dir() and not {p.name for p in path.iterdir()} <= set(_LAYOUT):
            raise CacheLocationError(
                f"{path} is a non-empty directory but not a recyclable cache (it has no "
                "VERSION file); choose an empty or new directory for the cache"
            )
        _create(path, durable=durable, shared=shared)
    return _read_format(version_file, path)


def _create(path: Path, *, durable: bool, shared: bool) -> None:
    store = LocalStore(path, durable=durable, shared=shared)
    # Parents outside the cache get the ordinary modes; the cache itself is private or shared.
    path.parent.mkdir(parents=True, exist_ok=True)
    store.make_dirs(path)
    if shared:
        os.chmod(path, store.dir_mode)
    for sub in _LAYOUT:
        store.make_dirs(path / sub)
    # Publish VERSION last and atomically: a concurrent opener sees either
    # no cache yet (and creates the same one) or a complete one.
    staged = path / "tmp" / temp_name("VERSION")
    text = _VERSION_TEXT + (_SHARED_LINE if shared else "")
    # Removed again if writing fails (a full disk leaves no empty VERSION behind).
    write_new_file(
        staged,
        [text.encode()],
        mode=store.file_mode,
        exact_mode=shared,
        fsync=durable,
    )
    # First one wins; the staging name is gone afterwards.  Publishing falls
    # back to check-then-replace where the filesystem makes no hard links.
    Publisher().publish(staged, path / "VERSION")
    if durable:
        for directory in (path, path.parent):
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def check_owner(path: Path) -> bool:
    """Refuse a cache of another user unless it is shared; True when it is shared.

    Raises:
        CachePermissionError: another user owns it and it was not created shared.

    """
    info = path.stat()
    if info.st_uid == os.geteuid():
        return False
    version = (path / "VERSION").read_text(errors="replace")
    if _SHARED_LINE in version:
        return True
    raise CachePermissionError(
        f"cache {path} belongs to user id {info.st_uid}, not to you (user id "
        f"{os.geteuid()}), and was not created as a shared cache; loading its results "
        "would run code its owner can plant. Use your own cache directory, or ask the "
        "owner to create a shared one with Cache(path, shared=True, secret=...)"
    )


def _read_format(version_file: Path, location: Path) -> tuple[int, bool]:
    text = version_file.read_text(errors="replace")
    match = _VERSION_RE.match(text)
    if match is None:
        raise CacheFormatError(
            f"{version_file} is not a recyclable VERSION file (it reads {text[:60]!r}); "
            "this directory was not made by recyclable, or the file was edited"
        )
    found = int(match.group(1))
    shared = _SHARED_LINE in text
    if found > CACHE_FORMAT:
        raise CacheFormatError(
            f"cache {location} has format {found}, but this version of recyclable "
            f"reads format {CACHE_FORMAT} or older; upgrade recyclable to a version "
            f"that reads format {found}, or use another cache directory"
        )
    return found, shared


def _check_format(text: str, where: str, location: str) -> int:
    """The format number in a VERSION text; refuse what this version cannot read."""
    match = _VERSION_RE.match(text)
    if match is None:
        raise CacheFormatError(
            f"{where} is not a recyclable VERSION file (it reads {text[:60]!r}); "
            "this location was not made by recyclable, or the file was edited"
        )
    found = int(match.group(1))
    if found > CACHE_FORMAT:
        raise CacheFormatError(
            f"cache {location} has format {found}, but this version of recyclable "
            f"reads format {CACHE_FORMAT} or older; upgrade recyclable to a version "
            f"that reads format {found}, or use another cache location"
        )
    return found


def validate_pool_name(name: object) -> str:
    """Return ``name`` if it is a valid pool name.

    Raises:
        PoolNameError: it is not a str, or does not match the documented pattern.

    """
    if not isinstance(name, str):
        raise PoolNameError(
            f"pool name must be a str, got {type(name).__name__} {name!r}; "
            "use letters, digits, '_', '-' and '.'"
        )
    if not POOL_NAME_RE.match(name) or ".." in name:
        raise PoolNameError(
            f"invalid pool name {name!r}: use 1-200 letters, digits, '_', '-' and '.', "
            "starting with a letter or digit, with no path separators and no '..'"
        )
    return name
