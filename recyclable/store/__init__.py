"""Where bytes live: the Store protocol, the local POSIX store and the fsspec object store."""

from recyclable.store.base import Store
from recyclable.store.local import LocalStore
from recyclable.store.remote import FsspecStore

__all__ = ["FsspecStore", "LocalStore", "Store"]
