"""Which store a cache location needs: a local directory, or an object store through fsspec."""

from __future__ import annotations

import os
import urllib.parse

__all__ = ["local_path", "remote_url"]

_LOCAL_PROTOCOLS = frozenset({"file", "local"})


def remote_url(location: object) -> str | None:
    """The URL when ``location`` names an object store; None for a local path or ``file://`` URL.

    Local directories always use `LocalStore`: fsspec's local filesystem
    creates with check-then-write and stages across filesystems, so it cannot
    publish atomically.
    """
    if not isinstance(location, str):
        return None
    scheme, sep, _ = location.partition("://")
    if not sep or not scheme or scheme.lower() in _LOCAL_PROTOCOLS:
        return None
    return location.rstrip("/")


def local_path(location: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """A ``file://`` URL as a path; any other location unchanged."""
    if isinstance(location, str) and location.lower().startswith(("file://", "local://")):
        return urllib.parse.unquote(urllib.parse.urlsplit(location).path)
    return location
