"""What every object-store method shares: the layout under the root and a few safe calls.

`FsspecStore` is built in layers so that each module stays one concern:
this base holds the paths and the helpers that drop fsspec's listing cache,
upload, delete and stat; `recyclable.store.remotepools` adds pools, markers
and staging leftovers; `recyclable.store.remote` adds VERSION, the
conditional-create probe, blobs and manifests.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from recyclable.store.local import temp_name

__all__ = ["ObjectStat", "ObjectStoreBase", "shard_of", "takes_argument", "upload_time"]

T = TypeVar("T")


class ObjectStat(NamedTuple):
    """Size and last upload time of a stored object (what garbage collection reads)."""

    st_size: int
    st_mtime: float


def shard_of(name: str) -> str:
    """The shard directory of a key or digest: its first two characters."""
    return name[:2]


def upload_time(info: Mapping[str, Any]) -> float:
    """The modification time in an fsspec info dict; backends name it differently."""
    for field in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(field)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


def takes_argument(fs: Any, method: str, argument: str) -> bool:
    """True when ``fs.<method>`` declares ``argument`` (backends differ in what they accept)."""
    try:
        return argument in inspect.signature(getattr(type(fs), method)).parameters
    except (AttributeError, TypeError, ValueError):
        return False


class ObjectStoreBase:
    """The root's layout and the shared helpers (see `FsspecStore` for the arguments)."""

    def __init__(self, fs: Any, root: str, *, url: str, durable: bool = False) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url
        self.durable = durable
        self.conditional_create = True
        self._objects = f"{self.root}/objects"
        self._entries = f"{self.root}/entries"
        self._pools = f"{self.root}/pools"
        self._tmp = f"{self.root}/tmp"
        self._quarantine = f"{self.root}/quarantine"
        # s3fs asks for an object's size (a HEAD) before each whole-object GET,
        # to split large downloads; a manifest is small, so one GET is enough.
        self._small_read: dict[str, Any] = (
            {"max_concurrency": 1} if takes_argument(fs, "_cat_file", "max_concurrency") else {}
        )

    def __repr__(self) -> str:
        return f"FsspecStore({self.url!r})"

    def _listing(self, list_call: Callable[[], T]) -> T:
        # Listings fill fsspec's directory cache, which later existence checks
        # would trust; drop it on both sides so no lookup answers from a stale
        # listing.
        self.fs.invalidate_cache()
        try:
            return list_call()
        finally:
            self.fs.invalidate_cache()

    def _put(self, path: str, data: bytes | bytearray) -> None:
        self.fs.pipe_file(path, data)

    def _remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)

    def _info(self, path: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = self.fs.info(path)
        except FileNotFoundError:
            return None
        return info

    def _move_to_quarantine(self, path: str, label: str) -> None:
        # No rename on an object store: copy the bytes aside for inspection,
        # then delete the original so a fresh entry can be published.
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            return
        with contextlib.suppress(OSError):
            self._put(f"{self._quarantine}/{temp_name(label)}", data)
        self._remove(path)
