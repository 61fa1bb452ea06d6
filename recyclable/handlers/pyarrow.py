"""pyarrow: arrays, chunked arrays, record batches, tables, schemas, types and scalars.

Arrow values pickle through their buffers, and a buffer pickles as a different
opcode when it is read-only (a memory-mapped load) than when it is writable
(the value as built), so plain pickling gives a loaded table another key than
the table stored.  Here an array is keyed by its type and its logical content,
read from the buffers where they lie:

* the validity of each element (only when there are nulls: a bitmap with no
  nulls and no bitmap are the same value);
* fixed-width types (integers, floats, temporal, decimals, fixed-size
  binary) → the data buffer's slice ``[offset, offset + length)``;
* string/binary (and large_*) → the value lengths from the offsets buffer and
  the data bytes they span, so a slice and a copy of it share a key;
* everything else (booleans, views, nested, dictionary, extension types) → the
  Arrow IPC stream of the array, which the IPC writer makes independent of
  slicing offsets, streamed into the hasher.

A type, field or schema is keyed by its serialised IPC schema: names,
nullability, nested types, extension names and all key/value metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from recyclable.handlers._base import HashSink, Reducer, buffers_digest, standin


def handler_for(cls: type) -> Reducer | None:
    """The reducer for pyarrow types this module covers."""
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
    """Type and each chunk's content (empty chunks carry no value and are skipped)."""
    chunks = [array_standin(chunk) for chunk in chunked.chunks if len(chunk)]
    return (type_identity(chunked.type), len(chunked), chunks)


def array_standin(arr: pa.Array) -> Any:
    """One array: type, length, validity when it has nulls, and its data."""
    arrow_type = arr.type
    length = len(arr)
    validity = None
    if arr.null_count:
        validity = np.asarray(arr.is_null().to_numpy(zero_copy_only=False))
    return (type_identity(arrow_type), length, validity, _data_digest(arr))


def _data_digest(arr: pa.Array) -> Any:
    arrow_type = arr.type
    length, offset = len(arr), arr.offset
    buffers = arr.buffers()
    if length == 0 or pa.types.is_null(arrow_type):
        return None
    if isinstance(arrow_type, pa.ExtensionType) or pa.types.is_dictionary(arrow_type):
        return _ipc_digest(arr)
    width = _byte_width(arrow_type)
    if width is not None and len(buffers) == 2 and buffers[1] is not None:
        return ("fixed", buffers_digest(buffers[1].slice(offset * width, length * width)))
    if len(buffers) == 3 and (
        pa.types.is_string(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_large_binary(arrow_type)
    ):
        index = (
            np.int64
            if pa.types.is_large_string(arrow_type) or pa.types.is_large_binary(arrow_type)
            else np.int32
        )
        offsets = np.frombuffer(
            buffers[1], dtype=index, count=length + 1, offset=offset * np.dtype(index).itemsize
        )
        start, end = int(offsets[0]), int(offsets[-1])
        lengths = offsets - offsets[0] if start else offsets
        data = buffers[2].slice(start, end - start) if buffers[2] is not None else b""
        return ("varlen", buffers_digest(lengths, data))
    return _ipc_digest(arr)


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
