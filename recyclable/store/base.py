"""The contract every store honours: where a cache's bytes live, whatever the medium.

A store knows nothing about Python values or manifest contents.  It keeps
three kinds of objects under one root, in the layout described in
``docs/architecture.md``:

- blobs (``objects/ab/<digest>``): immutable, named by the xxh3_128 of their
  bytes, so any two writers of the same name write the same content;
- manifests (``entries/ab/<key>.json``): one per stored call, published
  atomically with *first writer wins*; the manifest's existence is the commit
  point of an entry;
- pool membership markers (``pools/<pool>/ab/<key>``): empty objects saying
  which entries a pool keeps alive.

Two implementations pass the same contract suite
(``tests/integration/test_store_contract.py``): `LocalStore` for POSIX
filesystems (local disks, NFS, Lustre) and `FsspecStore` for object stores
reached through fsspec (``s3://`` and friends).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

__all__ = ["BlobStat", "Store"]


class BlobStat(Protocol):
    """What garbage collection needs to know about a stored object (``os.stat_result`` fits)."""

    @property
    def st_size(self) -> int:
        """Size in bytes."""
        ...

    @property
    def st_mtime(self) -> float:
        """Last modification (for an object store: last upload), in epoch seconds."""
        ...


class Store(Protocol):
    """The operations `Cache` and `Pool` perform on stored bytes.

    Guarantees every implementation gives (and the contract suite checks):

    - a blob or manifest is visible under its name only once it is complete;
    - `publish_manifest` returns True for exactly one of any number of
      concurrent writers of the same key (where the medium offers an atomic
      create-if-absent; see `FsspecStore` for media that do not);
    - the hit path (`read_manifest`, `load_blob`, `has_marker`) never lists
      a directory or prefix.
    """

    durable: bool

    # --- blobs ------------------------------------------------------------------------

    def write_blob(self, digest: str, chunks: Sequence[Any]) -> bool:
        """Store the concatenation of ``chunks`` as the blob ``digest`` (idempotent).

        Returns True when this call created the blob.
        """
        ...

    def touch_blob(self, digest: str) -> bool:
        """Tell garbage collection a writer is about to reference a blob; False when missing."""
        ...

    def blob_size(self, digest: str) -> int | None:
        """The size of a stored blob, or None when it is missing."""
        ...

    def load_blob(
        self, digest: str, size: int, *, mmap_mode: str | None, trust_verdict: bool
    ) -> memoryview | bytearray:
        """A blob's bytes (memory-mapped where the medium allows it), checked.

        Raises ``DamagedBlob`` when it is missing, of another size, or fails
        its checksum.
        """
        ...

    def quarantine_blob(self, digest: str) -> None:
        """Move a blob that failed verification out of the way."""
        ...

    def iter_blobs(self) -> Iterator[tuple[str, BlobStat]]:
        """Every stored blob's digest with its size and modification time."""
        ...

    # --- manifests --------------------------------------------------------------------

    def read_manifest(self, key: str) -> bytes | None:
        """The manifest's bytes, or None when no entry is published for ``key``."""
        ...

    def publish_manifest(self, key: str, data: bytes) -> bool:
        """Publish a manifest; False when another writer's manifest was there first."""
        ...

    def delete_manifest(self, key: str) -> None:
        """Remove a manifest (an entry no pool references any more)."""
        ...

    def quarantine_manifest(self, key: str, judged: bytes | None = None) -> bool:
        """Move a manifest that failed verification out of the way (unless replaced since).

        Returns True when it was moved.
        """
        ...

    def delete_blob(self, digest: str) -> None:
        """Free a blob a failed store created, unless another writer may use it meanwhile."""
        ...

    def forget_created(self, digests: Sequence[str]) -> None:
        """The entry using these blobs is published: `delete_blob` must never free them."""
        ...

    def iter_manifest_keys(self) -> Iterator[str]:
        """The keys of every published manifest."""
        ...

    # --- pools ------------------------------------------------------------------------

    def create_pool(self, pool: str) -> bool:
        """Create a pool; False when it already existed."""
        ...

    def pool_exists(self, pool: str) -> bool:
        """True when the pool exists."""
        ...

    def list_pools(self) -> list[str]:
        """Names of every pool, sorted."""
        ...

    def has_marker(self, pool: str, key: str) -> bool:
        """True when ``key`` belongs to ``pool``."""
        ...

    def add_marker(self, pool: str, key: str) -> None:
        """Record that ``pool`` holds ``key`` (idempotent)."""
        ...

    def remove_marker(self, pool: str, key: str) -> None:
        """Forget that ``pool`` holds ``key``."""
        ...

    def iter_markers(self, pool: str) -> Iterator[str]:
        """The keys a pool holds."""
        ...

    def detach_pool(self, pool: str) -> Any | None:
        """Take a pool out of sight; return what `remove_tree` needs to delete it, or None."""
        ...

    # --- staging leftovers ------------------------------------------------------------

    def iter_temp(self) -> Iterator[tuple[Any, BlobStat]]:
        """Staging leftovers with their stat, for garbage collection."""
        ...

    def remove_tree(self, path: Any) -> None:
        """Delete what `detach_pool` or `iter_temp` returned."""
        ...
