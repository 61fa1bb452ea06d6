"""The cache tools' tables: columns padded to their widest cell, numbers right-aligned."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from recyclable.cli.console import (
    _NUMERIC,
    assembled,
    layout,
    merged_layout,
    padded,
    table,
    widened,
)

cell = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=12),
    st.from_regex(r"\A-?[0-9]{1,4}(\.[0-9])?( KiB| s)?\Z"),
)


def _by_rows(rows: list[tuple[str, ...]], headers: list[str]) -> str:
    """The table laid out one row at a time, as a reader would write it."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    # Which cells are numbers is the console's own rule; the layout is what is tested.
    numbers = [bool(rows) and all(_NUMERIC.match(r[i]) for r in rows) for i in range(len(headers))]
    lines = []
    for cells in [headers, ["-" * w for w in widths], *rows]:
        padded = [
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(cells, widths, numbers, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


@given(st.integers(1, 4).flatmap(lambda n: st.lists(st.tuples(*[cell] * n), max_size=8)))
def test_table_matches_a_row_by_row_layout(rows: list[tuple[str, ...]]) -> None:
    headers = [f"H{i}" for i in range(len(rows[0]))] if rows else ["H0", "H1"]
    assert table(rows, headers) == _by_rows(rows, headers)


@given(
    st.integers(1, 4).flatmap(lambda n: st.lists(st.tuples(*[cell] * n), max_size=8)),
    st.integers(0, 8),
)
def test_a_table_laid_out_in_two_parts_is_the_same_table(
    rows: list[tuple[str, ...]], cut: int
) -> None:
    """Each part padded to its own layout, then widened to the whole's, as ``cache show`` does."""
    headers = [f"H{i}" for i in range(len(rows[0]))] if rows else ["H0", "H1"]
    parts = [rows[:cut], rows[cut:]]
    layouts = [layout(part, headers) for part in parts]
    whole = merged_layout([(len(part), found) for part, found in zip(parts, layouts, strict=True)])
    lines = [
        line
        for part, found in zip(parts, layouts, strict=True)
        for line in widened(padded(part, found), found, whole)
    ]
    assert assembled(lines, headers, whole) == _by_rows(rows, headers)


def test_a_column_numeric_in_one_part_only_is_left_aligned() -> None:
    headers = ["NAME", "SIZE"]
    parts = [[("a", "1.5 KiB")], [("bbb", "big")]]
    layouts = [layout(part, headers) for part in parts]
    whole = merged_layout([(1, found) for found in layouts])
    lines = [
        line
        for part, found in zip(parts, layouts, strict=True)
        for line in widened(padded(part, found), found, whole)
    ]
    text = assembled(lines, headers, whole)
    assert text.splitlines() == ["NAME  SIZE", "----  -------", "a     1.5 KiB", "bbb   big"]


def test_a_numeric_column_is_right_aligned() -> None:
    text = table([("a", "1.5 KiB"), ("bbb", "120 KiB")], ["NAME", "SIZE"])
    assert text.splitlines() == ["NAME     SIZE", "----  -------", "a     1.5 KiB", "bbb   120 KiB"]
