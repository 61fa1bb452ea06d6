"""Where bytes live: the local POSIX store (remote stores share its layout and contract)."""

from recyclable.store.local import LocalStore

__all__ = ["LocalStore"]
