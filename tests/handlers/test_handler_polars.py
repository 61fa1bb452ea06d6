"""polars frames are keyed by schema and content; lazy plans are refused, never keyed by name."""

from __future__ import annotations

import warnings

import pytest

pl = pytest.importorskip("polars", reason="polars is not installed")

from recyclable import FingerprintError, fingerprint  # noqa: E402
from recyclable.testing import check_fingerprint_contract  # noqa: E402

N = 20_000


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "i": list(range(N)),
            "n": [None if i % 5 == 0 else i for i in range(N)],
            "s": [f"value number {i}" for i in range(N)],
            "c": pl.Series([("a", "b")[i % 2] for i in range(N)], dtype=pl.Categorical),
        }
    )


def equal_pairs() -> list[tuple[object, object]]:
    frame = _frame()
    return [
        (frame, _frame()),
        (pl.concat([frame, frame], rechunk=False), pl.concat([frame, frame], rechunk=True)),
        (frame["s"], _frame()["s"]),
    ]


def different_pairs() -> list[tuple[object, object]]:
    frame = _frame()
    return [
        (frame, frame.with_columns(pl.col("c").cast(pl.String))),
        (frame, frame.rename({"i": "j"})),
        (frame, frame.select(["s", "i", "n", "c"])),
        (frame, frame.with_columns(pl.col("i").cast(pl.Int32))),
        (pl.DataFrame({"a": [2**53 + 1, None]}), pl.DataFrame({"a": [2**53, None]})),
        (pl.DataFrame({"a": [1, None]}), pl.DataFrame({"a": [1, 0]})),
        (frame["i"], frame["i"].alias("k")),
        # polars trusts a sorted flag: max() of the flagged one is its last value.
        (pl.Series("a", [3, 1, 2]).set_sorted(), pl.Series("a", [3, 1, 2])),
        (
            pl.DataFrame({"a": [3, 1, 2]}).with_columns(pl.col("a").set_sorted()),
            pl.DataFrame({"a": [3, 1, 2]}),
        ),
    ]


def test_polars_contract(tmp_path) -> None:
    """Frames and series keep the contract, including loads from the store."""
    check_fingerprint_contract(equal_pairs, different_pairs, tmp_path=tmp_path)


def test_lazy_frame_is_refused_with_the_fix(tmp_path) -> None:
    """A LazyFrame scanning a CSV is refused (its plan names the file, not its content)."""
    csv = tmp_path / "data.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(FingerprintError, match=r"collect\(\)") as info:
        fingerprint(pl.scan_csv(csv), where="argument 'table'")
    assert "argument 'table'" in str(info.value)
    assert "LazyFrame" in str(info.value)


def test_lazy_frame_with_a_python_function_is_refused() -> None:
    """A LazyFrame calling a Python function is refused rather than keyed by the function's name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # polars suggests a native expression
        lazy = pl.LazyFrame({"a": [1, 2]}).with_columns(
            pl.col("a").map_elements(lambda v: v + 1, return_dtype=pl.Int64)
        )
    with pytest.raises(FingerprintError, match="LazyFrame"):
        fingerprint([lazy])


def test_sorted_flag_is_no_stale_hit(cache) -> None:
    """A step reading a column flagged sorted is not answered with the unflagged column's result."""
    from recyclable import recyclable

    @recyclable(name="largest", plugin="tests")
    def largest(series: pl.Series) -> int:
        return int(series.max())

    plain = pl.Series("a", [3, 1, 2])
    flagged = plain.set_sorted()  # a wrong flag polars trusts
    with cache.create_pool("p") as pool:
        assert largest(plain) == 3
        assert largest(flagged) == flagged.max() == 2
        assert pool.stats.loaded == 0
        assert largest(pl.Series("a", [3, 1, 2])) == 3
        assert pool.stats.loaded == 1
