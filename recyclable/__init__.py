"""recyclable: resumable pipelines — stored results of decorated calls are reused on re-run.

Example:
    >>> from recyclable import Cache, recyclable
    >>> @recyclable
    ... def square(x):
    ...     return x * x
    >>> cache = Cache("/tmp/doc-cache")                # doctest: +SKIP
    >>> with cache.create_pool("run", reuse=True):     # doctest: +SKIP
    ...     square(3)                                  # computed once, then loaded

"""

from __future__ import annotations

__version__ = "0.1.0"

from recyclable._context import current_pool
from recyclable.cache import Cache, GarbageReport, VerifyReport, default_cache_path
from recyclable.codeid import code_parts
from recyclable.decorator import RecyclableFunction, recyclable
from recyclable.errors import (
    CacheFormatError,
    CacheIOError,
    CacheLocationError,
    CachePermissionError,
    ConfigurationError,
    FingerprintError,
    MissingCodeError,
    MissingDependencyError,
    NotRecyclableWarning,
    PoolExistsError,
    PoolInUseError,
    PoolNameError,
    PoolNotFoundError,
    RecyclableError,
    RecyclableWarning,
    ResultFileError,
)
from recyclable.files import InputFile
from recyclable.fingerprint import fingerprint, register_fingerprint
from recyclable.handle import PoolHandle
from recyclable.memory import Memory
from recyclable.parallel import bind, recycling
from recyclable.pool import Pool, PoolStats
from recyclable.resultfile import load, save
from recyclable.runs import RunRecord

__all__ = [
    "Cache",
    "CacheFormatError",
    "CacheIOError",
    "CacheLocationError",
    "CachePermissionError",
    "ConfigurationError",
    "FingerprintError",
    "GarbageReport",
    "InputFile",
    "Memory",
    "MissingCodeError",
    "MissingDependencyError",
    "NotRecyclableWarning",
    "Pool",
    "PoolExistsError",
    "PoolHandle",
    "PoolInUseError",
    "PoolNameError",
    "PoolNotFoundError",
    "PoolStats",
    "RecyclableError",
    "RecyclableFunction",
    "RecyclableWarning",
    "ResultFileError",
    "RunRecord",
    "VerifyReport",
    "__version__",
    "bind",
    "code_parts",
    "current_pool",
    "default_cache_path",
    "fingerprint",
    "load",
    "recyclable",
    "recycling",
    "register_fingerprint",
    "save",
]
