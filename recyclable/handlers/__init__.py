"""Fingerprints for the data types of scientific libraries, registered lazily.

One module per library (``pandas``, ``numpy``'s newer dtypes, ``pyarrow``,
``polars``, ``xarray``, ``scipy.sparse``, ``torch``, ``anndata``,
``scikit-bio``, and ``dask``, whose collections are refused).  A module is
imported only once its library is already in ``sys.modules``: recyclable
never imports a library to fingerprint a value, and a program that does not
use pandas never pays for its handler.

Every handler keeps one contract (see ``docs/fingerprints.md``):

* the digest is stable across processes and ``PYTHONHASHSEED``;
* values the library treats as identical *and* a step cannot tell apart share
  it; anything a step can read (dtype with storage and NA semantics, exact
  values, attributes, coordinates, metadata, index) changes it;
* a value loaded from the store digests like the value stored;
* caches the library fills lazily on read are not part of it;
* buffers are hashed where they lie, without a copy where the layout allows.

Third-party libraries ship their own handler through the entry-point group
``recyclable.fingerprints`` (name: the module that must be imported first;
value: a function called once, with no arguments, that calls
`recyclable.register_fingerprint`), or by calling `register_fingerprint`
themselves.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ENTRY_POINT_GROUP", "find_handler", "registered_code"]

#: The entry-point group a library author uses to ship a fingerprint handler.
ENTRY_POINT_GROUP = "recyclable.fingerprints"

# The module whose presence in sys.modules switches a handler module on.
_LIBRARIES: dict[str, str] = {
    "numpy": "recyclable.handlers.numpy",
    "pandas": "recyclable.handlers.pandas",
    "pyarrow": "recyclable.handlers.pyarrow",
    "polars": "recyclable.handlers.polars",
    "xarray": "recyclable.handlers.xarray",
    "scipy.sparse": "recyclable.handlers.scipy_sparse",
    "torch": "recyclable.handlers.torch",
    "anndata": "recyclable.handlers.anndata",
    "skbio": "recyclable.handlers.skbio",
    # Last: xarray objects speak dask's protocol too and have their own handler.
    "dask": "recyclable.handlers.dask",
}

Reducer = Callable[[Any], Any]
_pending_plugins: list[Any] | None = None
_plugins_lock = threading.RLock()


def find_handler(cls: type) -> Reducer | None:
    """The reducer for ``cls`` from a library handler, or ``None``.

    Called once per type (the caller caches the answer), before the caller
    looks the type up among registered functions.  For a type no shipped
    handler covers, entry-point plugins whose module has been imported are
    loaded then, so that what they register is found.  (Reading the installed
    entry points costs about 0.1 s, paid once per process and only by programs
    that pass other types than builtins and the libraries' types.)
    """
    for library, module_name in _LIBRARIES.items():
        if library not in sys.modules:
            continue
        module = importlib.import_module(module_name)
        reducer: Reducer | None = module.handler_for(cls)
        if reducer is not None:
            return reducer
    _load_plugins()
    return None


# Types of a library that users extend with accessors, by the library's module.
_EXTENSIBLE: dict[str, tuple[str, ...]] = {
    "pandas": ("DataFrame", "Series", "Index"),
    "xarray": ("DataArray", "Dataset", "DataTree"),
}


def registered_code(attributes: Iterable[str]) -> list[tuple[str, Any, Any, type]]:
    """Classes user code registered on an imported library's types under these attributes.

    ``@pd.api.extensions.register_series_accessor("geo")`` (xarray's
    ``register_dataarray_accessor`` alike) binds a user class to ``obj.geo``
    of the library's own types; code reading ``.geo`` runs that class.  Only
    libraries already imported are looked at, and nothing is imported.  Each
    find is ``(attribute, the type's namespace, its entry there, the class)``.
    """
    extended = [
        cls
        for library, names in _EXTENSIBLE.items()
        if library in sys.modules
        for cls in (getattr(sys.modules[library], name, None) for name in names)
        if isinstance(cls, type)
    ]
    found: list[tuple[str, Any, Any, type]] = []
    if not extended:
        return found
    for attribute in attributes:
        for cls in extended:
            namespace = cls.__dict__
            entry = namespace.get(attribute)
            accessor = getattr(entry, "_accessor", None)
            if isinstance(accessor, type):
                found.append((attribute, namespace, entry, accessor))
    return found


def _load_plugins() -> None:
    """Call each ``recyclable.fingerprints`` entry point whose module is imported."""
    global _pending_plugins  # noqa: PLW0603 - read once per process, then consumed
    with _plugins_lock:  # threads fingerprinting at once load each plugin once
        if _pending_plugins is None:
            from importlib.metadata import entry_points

            _pending_plugins = list(entry_points(group=ENTRY_POINT_GROUP))
        if not _pending_plugins:
            return
        ready = [ep for ep in _pending_plugins if ep.name in sys.modules]
        for ep in ready:
            _pending_plugins.remove(ep)
            ep.load()()
