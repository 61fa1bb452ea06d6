"""pyarrow: arrays, chunked arrays, record batches, tables, schemas, types and scalars.

Arrow values pickle through their buffers, and a buffer pickles as a different
opcode when it is read-only (a memory-mapped load) than when it is writable
(the value as built), so plain pickling gives a loaded table another key than
the table stored.  Here an array is keyed by its type and its logical content,
read from the buffers where they lie:

* the validity of each element (only when there are nulls: a bitmap with no
  nulls and no bitmap are the same value); what lies under a null slot is
  undefined in Arrow and never keyed (zero bytes, empty strings stand in);
* fixed-width types (integers, floats, temporal, decimals, fixed-size
  binary) → the data buffer's slice ``[offset, offset + length)``;
* string/binary (and large_*) → the value lengths from the offsets buffer and
  the data bytes they span, so a slice and a copy of it share a key;
* everything else (booleans, views, nested, dictionary, extension types) → the
  Arrow IPC stream of the array, which the IPC writer makes independent of
  slicing offsets, streamed into the hasher.

A type, field or schema is keyed by its serialised IPC schema: names,
nullability, nested types, extension names and all key/value metadata.  A
``pyarrow.dataset.Dataset`` names files rather than holding data and is refused
(pass ``dataset.to_table()``).
"""

from __future__ import annotations

import sys
from typing import Any, cast

import numpy as np
import pyarrow as pa
import xxhash

from recyclable.handlers._base import HashSink, Reducer, buffers_digest, refuse, standin


def handler_for(cls: type) -> Reducer | None:
    """The reducer for pyarrow types this module covers."""
    dataset = sys.modules.get("pyarrow.dataset")
    if dataset is not None and issubclass(cls, dataset.Dataset):
        return standin("pyarrow.dataset.Dataset", _refuse_dataset)
    if issubclass(cls, pa.Table):
        return standin("pyarrow.Table", table_standin)
    if issubclass(cls, pa.RecordBatch):
        return standin("pyarrow.RecordBatch", batch_standin)
    if issubclass(cls, pa.ChunkedArray):
        return standin("pyarrow.ChunkedArray", chunked_standin)
    if issubclass(cls, pa.Array):
        return standin("pyarrow.Array", array_standin)
    if issubclass(cls, pa.Schema):
        return standin("pyarrow.Schema", _schema_bytes)
    if issubclass(cls, pa.Field):
        return standin("pyarrow.Field", lambda field: _schema_bytes(pa.schema([field])))
    if issubclass(cls, pa.DataType):
        return standin("pyarrow.DataType", type_identity)
    if issubclass(cls, pa.Scalar):
        return standin("pyarrow.Scalar", _scalar_standin)
    if issubclass(cls, pa.Buffer):
        return standin("pyarrow.Buffer", buffers_digest)
    return None


def _schema_bytes(schema: pa.Schema) -> bytes:
    return bytes(schema.serialize())


def type_identity(arrow_type: pa.DataType) -> bytes:
    """An Arrow type by its serialised schema (nested fields, extension metadata included)."""
    return _schema_bytes(pa.schema([pa.field("", arrow_type)]))


def table_standin(table: pa.Table) -> Any:
    """Schema (with metadata) and each column's chunks."""
    return (_schema_bytes(table.schema), [chunked_standin(col) for col in table.columns])


def batch_standin(batch: pa.RecordBatch) -> Any:
    """Schema (with metadata) and each column."""
    return (_schema_bytes(batch.schema), [array_standin(col) for col in batch.columns])


def chunked_standin(chunked: pa.ChunkedArray) -> Any:
    """Type and content; how the content is split into chunks is layout, not value."""
    return content_standin(chunked.type, chunked.chunks)


def array_standin(arr: pa.Array) -> Any:
    """Type and content of one array."""
    return content_standin(arr.type, [arr])


def content_standin(arrow_type: pa.DataType, chunks: list[pa.Array]) -> Any:
    """Type, length, null positions and data of a sequence of chunks, as if they were one.

    Each part streams into its own hasher chunk by chunk, so one array and the
    same values in several chunks (or slices of a larger array) share a key.
    """
    chunks = [chunk for chunk in chunks if len(chunk)]  # empty ones hold no value
    length = sum(len(chunk) for chunk in chunks)
    nulls = xxhash.xxh3_128()
    base = 0
    for i, chunk in enumerate(chunks):
        if chunk.null_count:
            is_null = np.asarray(chunk.is_null().to_numpy(zero_copy_only=False))
            nulls.update(cast(Any, np.flatnonzero(is_null).astype(np.int64) + base))
            chunks[i] = _without_garbage(arrow_type, chunk, is_null)
        base += len(chunk)
    return (type_identity(arrow_type), length, nulls.digest(), _data_digest(arrow_type, chunks))


def _without_garbage(arrow_type: pa.DataType, chunk: pa.Array, is_null: Any) -> pa.Array:
    """``chunk`` with what lies under its null slots made canonical (zero bytes, empty values).

    Arrow leaves the data under a null slot undefined: compute kernels, other
    writers and ``from_buffers`` leave arbitrary bytes there.  No step can read
    them, so equal arrays must not be keyed apart by them.  Only chunks with
    nulls pay for this (one copy of their data, in C).
    """
    if isinstance(arrow_type, pa.ExtensionType) or pa.types.is_dictionary(arrow_type):
        return chunk
    width = _byte_width(arrow_type)
    buffers = chunk.buffers()
    if width is not None and len(buffers) == 2 and buffers[1] is not None:
        data = np.frombuffer(
            buffers[1], dtype=np.uint8, count=len(chunk) * width, offset=chunk.offset * width
        ).reshape(len(chunk), width)
        if not data[is_null].any():
            return chunk
        data = data.copy()
        data[is_null] = 0
        return pa.Array.from_buffers(chunk.type, len(chunk), [None, pa.py_buffer(data)])
    index = _varlen_kind(arrow_type)
    if index is not None:
        offsets = np.frombuffer(
            buffers[1],
            dtype=index,
            count=len(chunk) + 1,
            offset=chunk.offset * np.dtype(index).itemsize,
        )
        if np.diff(offsets)[is_null].any():
            import pyarrow.compute as pc

            binary = pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type)
            return pc.fill_null(chunk, pa.scalar(b"" if binary else "", chunk.type))
    return chunk


def _varlen_kind(arrow_type: pa.DataType) -> Any:
    if pa.types.is_string(arrow_type):
        return np.int32
    if pa.types.is_binary(arrow_type):
        return np.int32
    if pa.types.is_large_string(arrow_type) or pa.types.is_large_binary(arrow_type):
        return np.int64
    return None


def _data_digest(arrow_type: pa.DataType, chunks: list[pa.Array]) -> Any:
    if not chunks or pa.types.is_null(arrow_type):
        return None
    width = None
    if not isinstance(arrow_type, pa.ExtensionType) and not pa.types.is_dictionary(arrow_type):
        width = _byte_width(arrow_type)
    index = _varlen_kind(arrow_type)
    if width is not None and all(len(c.buffers()) == 2 and c.buffers()[1] for c in chunks):
        data = xxhash.xxh3_128()
        for chunk in chunks:
            data.update(chunk.buffers()[1].slice(chunk.offset * width, len(chunk) * width))
        return ("fixed", data.digest())
    if index is not None:
        lengths, data = xxhash.xxh3_128(), xxhash.xxh3_128()
        for chunk in chunks:
            buffers = chunk.buffers()
            offsets = np.frombuffer(
                buffers[1],
                dtype=index,
                count=len(chunk) + 1,
                offset=chunk.offset * np.dtype(index).itemsize,
            )
            lengths.update(cast(Any, np.diff(offsets)))
            start, end = int(offsets[0]), int(offsets[-1])
            if end > start:
                data.update(buffers[2].slice(start, end - start))
        return ("varlen", lengths.digest(), data.digest())
    whole = chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)
    return _ipc_digest(whole)


def _byte_width(arrow_type: pa.DataType) -> int | None:
    if pa.types.is_boolean(arrow_type):
        return None  # bit-packed: the IPC path handles bit offsets
    try:
        bits = arrow_type.bit_width
    except ValueError:
        return None
    return bits // 8 if bits % 8 == 0 else None


def _ipc_digest(arr: pa.Array) -> Any:
    sink = HashSink()
    batch = pa.RecordBatch.from_arrays([arr], names=[""])
    with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), batch.schema) as writer:
        writer.write_batch(batch)
    return ("ipc", sink.digest())


def _scalar_standin(scalar: pa.Scalar) -> Any:
    return array_standin(pa.array([scalar], type=scalar.type))


def _refuse_dataset(dataset: Any) -> Any:
    raise refuse(
        dataset,
        "a pyarrow Dataset names the files it will read, not their content, so its key "
        "could not see an edited file; pass dataset.to_table() instead",
    )
