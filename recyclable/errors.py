"""Every exception and warning the library raises, under one base class.

Each exception also derives from the builtin a user would naturally catch
(``TypeError`` for a value that cannot be fingerprinted, ``ValueError`` for a
bad name, ``LookupError`` for a missing pool, ...), so code written against
the standard library keeps working.  Every exception passes its constructor
arguments to the base class, so it survives a pickle round-trip (process
pools send exceptions back to the parent by pickling them).

This module imports nothing from the package.
"""

from __future__ import annotations

import errno as _errno

__all__ = [
    "CacheFormatError",
    "CacheIOError",
    "CacheLocationError",
    "CachePermissionError",
    "ConfigurationError",
    "FingerprintError",
    "MissingCodeError",
    "MissingDependencyError",
    "NotRecyclableWarning",
    "PoolExistsError",
    "PoolInUseError",
    "PoolNameError",
    "PoolNotFoundError",
    "RecyclableError",
    "RecyclableWarning",
    "ResultFileError",
]


class RecyclableError(Exception):
    """Base class of every exception raised by recyclable."""


class RecyclableWarning(UserWarning):
    """Something went wrong in the cache, but the call still returned a correct result.

    Issued, for instance, when a stored entry fails verification and is
    recomputed, or when a result cannot be stored (read-only cache, full
    disk).
    """


class NotRecyclableWarning(RecyclableWarning):
    """A call's result was returned but not stored, because a hit could not give back the same.

    Issued when the result does not survive encoding (its fingerprint changes
    through a pickle round trip: a lossy ``__reduce__``, state pickle drops)
    and when the call changed one of its arguments in place without declaring
    it (``@recyclable(mutates=[...])``).  The message names the type or the
    argument and the fix.
    """


class ConfigurationError(RecyclableError, ValueError):
    """An environment variable or option has a value the library does not accept."""


class FingerprintError(RecyclableError, TypeError):
    """A value cannot be turned into a stable fingerprint.

    Attributes:
        path: where the offending value sits, e.g. ``["argument 'config'", "['db']"]``.
        type_name: the fully qualified type of the offending value.
        reason: why it cannot be fingerprinted.

    """

    def __init__(self, path: list[str], type_name: str, reason: str) -> None:
        super().__init__(path, type_name, reason)
        self.path = list(path)
        self.type_name = type_name
        self.reason = reason

    def __str__(self) -> str:
        where = " → ".join([*self.path, self.type_name])
        return (
            f"cannot fingerprint {where}: {self.reason}. "
            "Leave the argument out of the key with @recyclable(ignore=[...]), "
            "or teach recyclable how to fingerprint the type with "
            "recyclable.register_fingerprint(type, func) or a "
            "__recyclable_fingerprint__ method."
        )


class PoolNameError(RecyclableError, ValueError):
    """A pool name is not valid (empty, too long, a path separator, ``..``, ...)."""


class PoolExistsError(RecyclableError, FileExistsError):
    """``create_pool(name, reuse=False)`` found a pool of that name already."""


class PoolNotFoundError(RecyclableError, LookupError):
    """A pool that was asked for does not exist in the cache."""


class CacheLocationError(RecyclableError, ValueError):
    """A cache path cannot be used: it is a file, or a directory that is not a cache."""


class CacheIOError(RecyclableError, OSError):
    """A cache's own files cannot be read or written: full disk, read-only, permissions, I/O.

    It is an `OSError` (``errno`` is the system's), so code catching
    ``OSError`` keeps working; its message names the cache and says what to
    free, fix or pass.  Make one from a system error with `from_os_error`.
    """

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(code, message)

    def __str__(self) -> str:
        return str(self.strerror)

    @classmethod
    def from_os_error(cls, exc: OSError, doing: str, where: object) -> CacheIOError:
        """Explain ``exc``, raised while ``doing`` (``"create the cache"``) at ``where``."""
        reason = exc.strerror or str(exc)
        if exc.filename is not None and str(exc.filename) != str(where):
            reason += f": {exc.filename}"
        code = exc.errno
        if code in (_errno.ENOSPC, _errno.EDQUOT):
            advice = (
                f"free space on the filesystem holding {where} (or raise your quota), or pass "
                "a cache path on another filesystem"
            )
        elif code == _errno.EROFS:
            advice = (
                f"{where} is on a read-only filesystem: remount it read-write, or pass a "
                "writable cache path"
            )
        elif code in (_errno.EACCES, _errno.EPERM):
            advice = f"give your user write access to {where}, or pass a cache path of your own"
        elif code in (_errno.ENOENT, _errno.ENOTDIR):
            advice = (
                f"{where} cannot hold a directory (a missing or special parent such as /proc); "
                "pass a cache path on an ordinary filesystem"
            )
        else:
            advice = f"fix the filesystem holding {where}, or pass another cache path"
        return cls(code, f"cannot {doing} at {where} ({reason}); {advice}")


class CacheFormatError(RecyclableError, ValueError):
    """A cache was written in a format this version of recyclable cannot read."""


class CachePermissionError(RecyclableError, PermissionError):
    """A cache belongs to another user and was not created as a shared cache.

    Loading a stored result unpickles it, so a cache someone else can write
    to could run their code in your process.
    """


class ResultFileError(RecyclableError, ValueError):
    """A file given to `recyclable.load` is damaged or not in a format it reads.

    Attributes:
        path: the file.
        reason: what is wrong with it.

    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return (
            f"cannot load {self.path}: {self.reason}. recyclable.load reads the files "
            "`recyclable run --output` writes (recyclable result files, .npy and JSON); "
            "write the file again if it was damaged"
        )


class PoolInUseError(RecyclableError, RuntimeError):
    """A pool cannot be removed because a live run is using it.

    Attributes:
        pool: the pool's name.
        runs: ``host:pid`` of each live run.

    """

    def __init__(self, pool: str, runs: list[str]) -> None:
        super().__init__(pool, runs)
        self.pool = pool
        self.runs = list(runs)

    def __str__(self) -> str:
        return (
            f"pool {self.pool!r} is in use by running process(es) {', '.join(self.runs)}; "
            "wait for them to finish, or force the removal (their progress is then lost)"
        )


class MissingCodeError(RecyclableError, ImportError):
    """A stored value names a module or class this process cannot import.

    A pool treats it as a miss (never as damage): the entry is fine, this
    process just lacks the code, e.g. a class defined in a script that is
    not the main program here.

    Attributes:
        module: the module the value needs.
        qualname: the qualified name looked up in it.
        reason: what failed.

    """

    def __init__(self, module: str, qualname: str, reason: str) -> None:
        super().__init__(module, qualname, reason)
        self.module = module
        self.qualname = qualname
        self.reason = reason

    def __str__(self) -> str:
        return (
            f"the stored value needs {self.qualname!r} from module {self.module!r}, which "
            f"cannot be loaded in this process ({self.reason}); run the program that defines "
            "it, or make the module importable"
        )


class MissingDependencyError(RecyclableError, ImportError):
    """An optional feature needs a package that is not installed (the message says which extra)."""
