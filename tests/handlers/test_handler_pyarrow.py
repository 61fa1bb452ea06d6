"""pyarrow values: keyed by logical content, equal when loaded read-only from the store."""

from __future__ import annotations

import pytest

pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed")

from recyclable import fingerprint  # noqa: E402
from recyclable.testing import check_fingerprint_contract  # noqa: E402

N = 20_000


def _table() -> pa.Table:
    return pa.table(
        {
            "i": pa.array(range(N), type=pa.int64()),
            "s": pa.array([None if i % 7 == 0 else f"v{i}" for i in range(N)]),
            "b": pa.array([i % 3 == 0 for i in range(N)]),
            "l": pa.array([[i, i + 1] for i in range(N)]),
        }
    )


def _with_garbage_under_nulls() -> tuple[object, object]:
    """An int64 and a string array whose null slots hold bytes no step can read."""
    import numpy as np

    ints = pa.array([1, None, 3], type=pa.int64())
    data = pa.py_buffer(np.array([1, 99, 3], dtype=np.int64).tobytes())
    dirty_ints = pa.Array.from_buffers(pa.int64(), 3, [ints.buffers()[0], data])
    strings = pa.array(["x", None, "z"])
    offsets = pa.py_buffer(np.array([0, 1, 3, 4], dtype=np.int32).tobytes())
    dirty_strings = pa.Array.from_buffers(
        pa.string(), 3, [strings.buffers()[0], offsets, pa.py_buffer(b"xGGz")]
    )
    return dirty_ints, dirty_strings


def equal_pairs() -> list[tuple[object, object]]:
    table = _table()
    dirty_ints, dirty_strings = _with_garbage_under_nulls()
    return [
        (dirty_ints, pa.array([1, None, 3], type=pa.int64())),
        (dirty_strings, pa.array(["x", None, "z"])),
        (pa.chunked_array([dirty_ints.slice(1)]), pa.chunked_array([[None], [3]], pa.int64())),
        (table, _table()),
        (table.slice(5, 100), _table().slice(5, 100).combine_chunks()),
        (pa.chunked_array([[1, 2], [3]]), pa.chunked_array([[1], [2, 3]])),
        (pa.array(["ab", None, "c"]).slice(1), pa.array([None, "c"])),
        (pa.array([True, False, None]).slice(1), pa.array([False, None])),
        (pa.schema([("a", pa.int32())]), pa.schema([("a", pa.int32())])),
        (pa.scalar(3), pa.scalar(3)),
    ]


def different_pairs() -> list[tuple[object, object]]:
    table = _table()
    return [
        (pa.array([2**53 + 1, None]), pa.array([2**53, None])),
        (pa.array([1, 2], type=pa.int32()), pa.array([1, 2], type=pa.int64())),
        (pa.array(["a", "b"]), pa.array(["a", "b"], type=pa.large_string())),
        (pa.array(["ab", "c"]), pa.array(["a", "bc"])),
        (pa.array([1, None]), pa.array([1, 0])),
        (_with_garbage_under_nulls()[0], pa.array([1, 99, 3])),
        (_with_garbage_under_nulls()[1], pa.array(["x", "", "z"])),
        (table, table.rename_columns(["i", "s", "b", "m"])),
        (table, table.replace_schema_metadata({"origin": "lab"})),
        (
            pa.schema([pa.field("a", pa.int32(), nullable=True)]),
            pa.schema([pa.field("a", pa.int32(), nullable=False)]),
        ),
        (pa.array([[1, 2], [3]]), pa.array([[1], [2, 3]])),
        (pa.array(["x", "y"]).dictionary_encode(), pa.array(["x", "y"])),
    ]


def test_pyarrow_contract(tmp_path) -> None:
    """Equal Arrow values share a key in every process; loaded tables match stored ones."""
    check_fingerprint_contract(equal_pairs, different_pairs, tmp_path=tmp_path)


def test_read_only_buffers_digest_like_writable_ones() -> None:
    """A table whose buffers are read-only (a memory map) has the digest of the writable one."""
    import numpy as np

    data = np.arange(N, dtype=np.int64)
    writable = pa.table({"i": pa.array(data)})
    frozen = data.copy()
    frozen.flags.writeable = False
    read_only = pa.table({"i": pa.Array.from_buffers(pa.int64(), N, [None, pa.py_buffer(frozen)])})
    assert fingerprint(writable) == fingerprint(read_only)


def test_file_dataset_is_refused_with_the_fix(tmp_path) -> None:
    """A pyarrow Dataset over files is refused: its key could not see an edited file."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from recyclable import FingerprintError

    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "part.parquet")
    with pytest.raises(FingerprintError, match=r"to_table\(\)"):
        fingerprint(ds.dataset(tmp_path), where="argument 'data'")
