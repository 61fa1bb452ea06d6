"""Result ↔ bytes: pickle protocol 5 with large buffers kept out of band.

`encode` returns the in-band pickle stream plus every large contiguous buffer
(numpy arrays, pandas blocks, anything exposing ``PickleBuffer``) as a
separate zero-copy memoryview, so the store can write each straight from the
value's own memory.  `decode` accepts the buffers back as memoryviews (for
instance of a memory-mapped file), so a large array comes back as a view of the
file rather than a copy.

A script's ``__main__`` objects are stored under the script's module name
(`recyclable.entrypoint`), and loaded back from ``__main__`` when the script
is the main program, so ``python pipeline.py`` and ``recyclable run
pipeline.py:step`` read each other's results with the same classes.  A value
whose module or class cannot be found raises `MissingCodeError` (a miss, not
damage).

The codec knows nothing about where bytes go.
"""

from __future__ import annotations

import copyreg
import importlib
import io
import pickle
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

from recyclable.entrypoint import main_module_name, runs_as_script
from recyclable.errors import MissingCodeError

__all__ = ["OUT_OF_BAND_MIN", "decode", "encode"]

#: Buffers at least this large are stored as separate blobs; smaller ones stay
#: in the pickle stream, where a separate file would cost more than it saves.
OUT_OF_BAND_MIN = 64 * 1024


def encode(value: Any) -> tuple[bytes, list[memoryview]]:
    """Pickle ``value``; return the stream and its large out-of-band buffers.

    Raises:
        Exception: whatever pickle raises for a value it cannot serialise.

    """
    buffers: list[memoryview] = []

    def keep_large(buffer: pickle.PickleBuffer) -> bool:
        view = buffer.raw()
        if view.nbytes < OUT_OF_BAND_MIN:
            return True  # in band
        buffers.append(view)
        return False

    table = _numpy_dispatch()
    if table is None:
        data = pickle.dumps(value, protocol=5, buffer_callback=keep_large)
    else:
        out = io.BytesIO()
        pickler = pickle.Pickler(out, protocol=5, buffer_callback=keep_large)
        pickler.dispatch_table = table
        pickler.dump(value)
        data = out.getvalue()
    if b"__main__" in data:
        main = main_module_name()
        if main != "__main__":
            # Name the script's objects by its module, as `recyclable run` imports it.
            buffers.clear()
            out = io.BytesIO()
            script_pickler = _ScriptPickler(out, main, buffer_callback=keep_large)
            if table is not None:
                script_pickler.dispatch_table = table
            script_pickler.dump(value)
            data = out.getvalue()
    return data, buffers


def _numpy_dispatch() -> dict[type, Callable[[Any], Any]] | None:
    """Reducers that keep a numpy array's byte order, once numpy is in use.

    numpy pickles an array it cannot hand over as one buffer (not contiguous,
    or a subclass such as ``np.memmap``) element by element in the native byte
    order, so ``>i2`` would come back as ``<i2``: such an array (only when its
    byte order is not native) is stored as its contiguous copy instead, which
    pickles with its dtype intact, as numpy itself would have copied it.
    """
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return None
    table = _dispatch.get(id(numpy))
    if table is None:
        ndarray = numpy.ndarray
        asarray = numpy.asarray
        ascontiguous = numpy.ascontiguousarray

        def reduce_array(arr: Any) -> Any:
            if arr.dtype.isnative or (
                type(arr) is ndarray and (arr.flags.c_contiguous or arr.flags.f_contiguous)
            ):
                return arr.__reduce_ex__(5)
            return (asarray, (ascontiguous(arr),))

        table = dict(copyreg.dispatch_table)
        table[ndarray] = reduce_array
        table[numpy.memmap] = reduce_array
        _dispatch[id(numpy)] = table
    return table


_dispatch: dict[int, dict[type, Callable[[Any], Any]]] = {}


class _ScriptPickler(pickle.Pickler):
    """Pickles classes and functions of ``__main__`` as ``script_global(module, qualname)``."""

    def __init__(self, file: Any, main: str, buffer_callback: Callable[..., Any]) -> None:
        super().__init__(file, protocol=5, buffer_callback=buffer_callback)
        self.main = main

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (type, types.FunctionType)) and obj.__module__ == "__main__":
            return (script_global, (self.main, obj.__qualname__))
        return NotImplemented


def script_global(module: str, qualname: str) -> Any:
    """The object ``qualname`` of ``module``, found in ``__main__`` when that is the script."""
    try:
        if runs_as_script(module):
            target: Any = sys.modules["__main__"]
        else:
            target = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise MissingCodeError(module, qualname, str(exc)) from None
    return target


class _Unpickler(pickle.Unpickler):
    """Finds a script's classes in ``__main__``; a missing module or class is `MissingCodeError`."""

    def find_class(self, module: str, name: str) -> Any:
        if runs_as_script(module):
            module = "__main__"
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError) as exc:
            raise MissingCodeError(module, name, str(exc)) from None


def decode(data: bytes | bytearray | memoryview, buffers: Sequence[Any]) -> Any:
    """Unpickle a stream produced by `encode`, with its buffers in the same order.

    Raises:
        MissingCodeError: the value needs a module or class this process cannot import.

    """
    main = main_module_name()
    if main not in sys.modules:
        # A script is the main program: its module name, if the value names
        # it, must resolve to __main__.
        raw = data if isinstance(data, (bytes, bytearray)) else bytes(data)
        # find(), not `in`: bytes.__contains__ first tries the needle as an int,
        # and raising and clearing that TypeError costs more than the search.
        if raw.find(_encoded(main)) != -1:
            return _Unpickler(io.BytesIO(raw), buffers=buffers).load()
    try:
        # Without buffers, no keyword: a hit of a small result is mostly this call.
        return pickle.loads(data, buffers=buffers) if buffers else pickle.loads(data)
    except (ImportError, AttributeError):
        # Again, to name exactly which module or class is missing (or to
        # re-raise what unpickling itself raised).
        return _Unpickler(io.BytesIO(data), buffers=buffers).load()


_last_encoded: tuple[str, bytes] = ("", b"")


def _encoded(name: str) -> bytes:
    """``name.encode()``, kept for the last name asked (the main module's, on every load)."""
    global _last_encoded  # noqa: PLW0603 - a one-entry memo on the load path
    last = _last_encoded
    if last[0] is not name:
        last = _last_encoded = (name, name.encode())
    return last[1]
