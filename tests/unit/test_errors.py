"""The exception tree: one base class, builtin bases a user would catch, pickle round-trips."""

from __future__ import annotations

import pickle

import pytest

import recyclable
from recyclable import errors

EXAMPLES = [
    errors.ConfigurationError("bad value"),
    errors.FingerprintError(["argument 'x'", "['db']"], "socket.socket", "cannot pickle"),
    errors.PoolNameError("bad name"),
    errors.PoolExistsError("exists"),
    errors.PoolNotFoundError("missing"),
    errors.CacheLocationError("is a file"),
    errors.CacheFormatError("newer"),
    errors.CachePermissionError("owned by another user"),
    errors.ResultFileError("/tmp/r.rcy", "a checksum does not match"),
    errors.PoolInUseError("recycle_x", ["host:12"]),
    errors.MissingDependencyError("pip install 'recyclable[s3]'"),
    errors.MissingCodeError("pipeline", "Result", "no module named 'pipeline'"),
    errors.CacheIOError(28, "cannot create a cache at /x (No space left on device); free space"),
]


def test_every_public_exception_is_exported_and_covered() -> None:
    """Every exception class in errors.py is public and has an example here."""
    classes = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.RecyclableError)
    }
    assert {type(e) for e in EXAMPLES} == classes - {errors.RecyclableError}
    for cls in classes:
        assert getattr(recyclable, cls.__name__) is cls


@pytest.mark.parametrize("exc", EXAMPLES, ids=lambda e: type(e).__name__)
def test_pickle_round_trip(exc: Exception) -> None:
    """Exceptions cross process boundaries intact (type, message, fields)."""
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is type(exc)
    assert str(clone) == str(exc)
    assert vars(clone) == vars(exc)


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.ConfigurationError, ValueError),
        (errors.FingerprintError, TypeError),
        (errors.PoolNameError, ValueError),
        (errors.PoolExistsError, FileExistsError),
        (errors.PoolNotFoundError, LookupError),
        (errors.CacheLocationError, ValueError),
        (errors.CacheFormatError, ValueError),
        (errors.CachePermissionError, PermissionError),
        (errors.ResultFileError, ValueError),
        (errors.PoolInUseError, RuntimeError),
        (errors.MissingCodeError, ImportError),
        (errors.MissingDependencyError, ImportError),
        (errors.CacheIOError, OSError),
    ],
)
def test_builtin_bases(cls: type, builtin: type) -> None:
    """Each exception is also the builtin a user would catch."""
    assert issubclass(cls, errors.RecyclableError)
    assert issubclass(cls, builtin)


def test_fingerprint_error_message_shape() -> None:
    """The message joins the path with arrows and says how to fix it."""
    exc = errors.FingerprintError(["argument 'config'", "['db']"], "socket.socket", "no")
    assert str(exc).startswith("cannot fingerprint argument 'config' → ['db'] → socket.socket: no.")
    assert "ignore=" in str(exc) and "register_fingerprint" in str(exc)


def test_warning_class() -> None:
    """RecyclableWarning is a UserWarning, so default filters show it."""
    assert issubclass(errors.RecyclableWarning, UserWarning)


def test_cache_io_error_says_what_to_do() -> None:
    """A system error on the cache's files becomes one message naming the cache and the fix."""
    full = errors.CacheIOError.from_os_error(
        OSError(28, "No space left on device"), "create pool 'p'", "/c"
    )
    assert full.errno == 28 and isinstance(full, OSError)
    assert str(full).startswith(
        "cannot create pool 'p' at /c (No space left on device); free space"
    )
    read_only = errors.CacheIOError.from_os_error(
        OSError(30, "Read-only file system"), "collect garbage", "/c"
    )
    assert "read-only filesystem" in str(read_only) and "remount" in str(read_only)
    denied = errors.CacheIOError.from_os_error(PermissionError(13, "Permission denied"), "x", "/c")
    assert "write access to /c" in str(denied)
