r"""Result files: one value in the pool's own format, as one self-verifying file.

``recyclable run --output PATH`` writes JSON for JSON-able values, ``.npy``
for numpy arrays, and this format for everything else.  `load` reads all three.

Layout::

    recyclable-result 1\n
    {"stream": {"size": n, "digest": d}, "buffers": [{"size": n, "digest": d}, ...],
     "result_type": "module.Type", "library": "0.1.0"}\n
    <pickle stream><buffer 0><buffer 1>...

The value is encoded exactly as in a pool (pickle protocol 5, large buffers
out of band) and every part carries its xxh3_128 checksum, so a damaged file
is an error, never a wrong value.  Like any pickle, loading a file runs code
chosen by whoever wrote it: load only files you trust.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xxhash

from recyclable.codec import decode, encode
from recyclable.errors import ResultFileError
from recyclable.store.local import temp_name, write_new_file

__all__ = ["MAGIC", "load", "save"]

MAGIC = b"recyclable-result 1\n"
_NPY_MAGIC = b"\x93NUMPY"


def save(value: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``value`` to ``path`` in the result-file format, atomically.

    Args:
        value: any picklable value.
        path: the file to write (replaced if it exists).

    Returns:
        The path written.

    Raises:
        TypeError: ``path`` is not a path.
        pickle.PicklingError: the value cannot be pickled (or whatever pickle raises).

    Example:
        >>> import recyclable
        >>> recyclable.save({"a": 1}, "/tmp/result.rcy")        # doctest: +SKIP
        >>> recyclable.load("/tmp/result.rcy")                   # doctest: +SKIP
        {'a': 1}

    """
    target = _as_path(path, "save")
    stream, buffers = encode(value)
    parts: list[Any] = [stream, *buffers]
    sizes = [memoryview(part).nbytes for part in parts]
    result_type = f"{type(value).__module__}.{type(value).__qualname__}"
    # Every digest is 32 hex digits, so the header's length is known before
    # any part is hashed: the parts are hashed as they are written (one pass
    # over their bytes) and the real header then overwrites its placeholder.
    placeholder = _header(sizes, ["0" * 32] * len(parts), result_type)
    head = MAGIC + placeholder
    chunks: list[Any] = [head, *parts]
    lengths = [len(head), *sizes]
    hashers: list[Any] = [None] + [xxhash.xxh3_128() for _ in parts]
    at = [0, 0]  # the chunk being written, and how many of its bytes were seen

    def hash_piece(piece: memoryview) -> None:
        # Pieces never span two chunks and come in order; skip finished (or empty) chunks.
        index, seen = at
        while seen == lengths[index]:
            index, seen = index + 1, 0
        if hashers[index] is not None:
            hashers[index].update(piece)
        at[0], at[1] = index, seen + piece.nbytes

    def finish(fd: int) -> None:
        header = _header(sizes, [h.hexdigest() for h in hashers[1:]], result_type)
        if len(header) != len(placeholder):  # cannot happen: the digests' length is fixed
            raise AssertionError("result file header changed length")
        view, offset = memoryview(header), len(MAGIC)
        while view:  # pwrite may write fewer bytes than asked
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
        os.fsync(fd)

    _write_atomically(target, chunks, hasher=hash_piece, finish=finish)
    return target


def _header(sizes: list[int], digests: list[str], result_type: str) -> bytes:
    """The header line: each part's size and digest, the value's type, the library's version."""
    described = [{"size": n, "digest": d} for n, d in zip(sizes, digests, strict=True)]
    header = {
        "stream": described[0],
        "buffers": described[1:],
        "result_type": result_type,
        "library": _library_version(),
    }
    return json.dumps(header, sort_keys=True).encode() + b"\n"


def load(path: str | os.PathLike[str]) -> Any:
    """Read a value written by ``recyclable run --output`` (or `save`).

    Result files are verified and unpickled; ``.npy`` files are read with
    ``numpy.load`` (no pickled objects allowed); anything else is read as JSON.

    Args:
        path: the file.

    Returns:
        The value.

    Raises:
        TypeError: ``path`` is not a path.
        FileNotFoundError: there is no such file.
        ResultFileError: the file is damaged or in no format this reads.

    """
    source = _as_path(path, "load")
    data = source.read_bytes()
    if data.startswith(MAGIC):
        return _load_result(str(source), memoryview(data)[len(MAGIC) :])
    if data.startswith(_NPY_MAGIC):
        import io

        import numpy as np

        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise ResultFileError(str(source), f"not a readable .npy file ({exc})") from None
    try:
        return json.loads(data)
    except ValueError:
        raise ResultFileError(
            str(source), "not a recyclable result file, a .npy file or JSON"
        ) from None


def _load_result(name: str, body: memoryview) -> Any:
    newline = bytes(body[:65536]).find(b"\n")
    if newline < 0:
        raise ResultFileError(name, "the header is missing or truncated")
    try:
        header = json.loads(bytes(body[:newline]))
        parts = [header["stream"], *header["buffers"]]
        sizes = [int(part["size"]) for part in parts]
        digests = [str(part["digest"]) for part in parts]
    except (ValueError, KeyError, TypeError) as exc:
        raise ResultFileError(name, f"the header is not valid ({exc})") from None
    offset = newline + 1
    if offset + sum(sizes) != len(body):
        raise ResultFileError(
            name, f"it holds {len(body) - offset} data bytes, expected {sum(sizes)} (truncated?)"
        )
    views = []
    for size, digest in zip(sizes, digests, strict=True):
        view = body[offset : offset + size]
        if xxhash.xxh3_128_hexdigest(view) != digest:
            raise ResultFileError(name, "a checksum does not match (the file is damaged)")
        views.append(view)
        offset += size
    return decode(views[0], views[1:])


def _write_atomically(
    target: Path,
    chunks: list[Any],
    *,
    hasher: Callable[[memoryview], object] | None = None,
    finish: Callable[[int], None] | None = None,
) -> None:
    staged = target.parent / f".{temp_name(target.name)}"
    # ``finish``, when given, writes the last bytes and fsyncs itself.
    write_new_file(staged, chunks, fsync=finish is None, hasher=hasher, finish=finish)
    os.replace(staged, target)


def write_bytes_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` so that readers see the old or the new file, whole."""
    _write_atomically(target, [data])


def _as_path(path: object, function: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"recyclable.{function}(path=...) expects a str or os.PathLike, got "
            f"{type(path).__name__} {path!r}; pass a file path"
        )
    return Path(path)


def _library_version() -> str:
    from recyclable import __version__

    return __version__
