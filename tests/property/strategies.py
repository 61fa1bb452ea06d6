"""Hypothesis strategies for the values users pass to and return from recyclable actions."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
)

hashables = st.one_of(
    st.integers(), st.text(max_size=10), st.binary(max_size=10), st.booleans(), st.none()
)

dtypes = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="="),
    hnp.unsigned_integer_dtypes(endianness="="),
    hnp.floating_dtypes(endianness="=", sizes=(16, 32, 64)),
    hnp.complex_number_dtypes(endianness="="),
)

arrays = dtypes.flatmap(
    lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5))
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
        st.dictionaries(st.integers(), children, max_size=5),
        st.sets(hashables, max_size=6),
        st.frozensets(hashables, max_size=6),
    )


#: Nested values: builtins, containers and numpy arrays of generated dtypes and shapes.
values = st.recursive(st.one_of(scalars, arrays), _containers, max_leaves=12)


# --- plain data and what hides among its leaves ------------------------------------------
#
# Nested dicts and lists of scalars take the fast plain-data path; empty
# containers, frozensets, complex numbers and objects pickle does not write
# natively (dates, decimals, numpy scalars) sit where that path does not type-check.

odd_leaves = st.one_of(
    st.just(()),
    st.builds(list),
    st.builds(dict),
    st.builds(set),
    st.builds(frozenset),
    st.frozensets(st.integers(), max_size=3),
    st.complex_numbers(allow_nan=False),
    st.dates(),
    st.decimals(allow_nan=False),
    st.floats(allow_nan=False).map(np.float64),
    st.integers(-5, 5).map(lambda i: np.arange(abs(i))),
    st.just(bytearray(b"ab")),
)


def _plain_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=4), children, max_size=4),
        st.dictionaries(st.integers(-3, 3), children, max_size=3),
    )


#: Nested dicts, lists and tuples, mostly of scalars, sometimes with an odd leaf.
plain_nested = st.recursive(
    st.one_of(scalars, scalars, scalars, odd_leaves), _plain_containers, max_leaves=16
)


def same(a: Any, b: Any) -> bool:
    """Structural equality that treats NaN as equal to NaN and checks types and dtypes."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()  # bitwise: NaN payloads and -0.0 included
        )
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


# --- arrays that reach the paths small arrays never do -----------------------------------
#
# Out-of-band buffers (>= 64 KiB) become blobs that are memory-mapped on load;
# Fortran-order, strided, transposed and reversed views take the blockwise
# hashing path; byte-swapped dtypes must keep their byte order through a store.

OUT_OF_BAND_BYTES = 64 * 1024

LARGE_DTYPES = [
    np.dtype(f"{order}{code}")
    for code in ("i1", "i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16")
    for order in ("<", ">")
]

LAYOUTS = ("C", "F", "strided", "transposed", "reversed")


def build_array(dtype: np.dtype[Any], rows: int, cols: int, seed: int, layout: str) -> Any:
    """A ``rows x cols`` array of random bytes (every bit pattern: NaN payloads too) laid out so."""
    factor = 2 if layout == "strided" else 1
    raw = np.random.default_rng(seed).integers(
        0, 256, size=rows * cols * factor * dtype.itemsize, dtype=np.uint8
    )
    grid = raw.view(dtype).reshape(rows, cols * factor)
    if layout == "C":
        return grid
    if layout == "F":
        return np.asfortranarray(grid)
    if layout == "strided":
        return grid[:, ::2]  # every other column of a wider array: a real strided view
    if layout == "transposed":
        return grid.reshape(cols, rows).T
    return grid[::-1]  # negative row stride


@st.composite
def large_arrays(draw: st.DrawFn, layouts: tuple[str, ...] = LAYOUTS) -> Any:
    """Arrays of 64 KiB to 320 KiB in any byte order and layout (see `build_array`)."""
    dtype = draw(st.sampled_from(LARGE_DTYPES))
    cols = draw(st.integers(1, 64))
    low = -(-OUT_OF_BAND_BYTES // (cols * dtype.itemsize))
    rows = draw(st.integers(low, 5 * low))
    seed = draw(st.integers(0, 2**32 - 1))
    return build_array(dtype, rows, cols, seed, draw(st.sampled_from(layouts)))


@st.composite
def reordered_sets(draw: st.DrawFn) -> tuple[Any, Any | None]:
    """Two equal sets whose iteration orders differ: the same elements inserted in two orders.

    Integers that are multiples of 64 share a hash-table slot in small sets, so
    which one sits where depends on insertion order; strings add collisions the
    per-process string hash makes.  The second is None when no tried order
    iterates differently (tests discard those).
    """
    elements = draw(
        st.lists(
            st.one_of(st.integers(0, 200).map(lambda i: i * 64), st.text(max_size=4)),
            min_size=2,
            max_size=12,
            unique=True,
        )
    )
    kind = draw(st.sampled_from([set, frozenset]))
    first = kind(elements)
    for order in (draw(st.permutations(elements)), elements[::-1]):
        second = kind(order)
        if list(second) != list(first):
            return first, second
    return first, None  # no order found that iterates differently: the test discards it


# --- user code, for code-key properties -------------------------------------------------

_identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda name: name not in {"if", "in", "is", "or", "as", "def", "for", "and", "not", "del"}
)
_literals = st.one_of(
    st.integers(-(2**70), 2**70),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),  # repr(inf) is not Python source
    st.binary(max_size=8),
    st.frozensets(st.text(max_size=4), max_size=5),
)


@st.composite
def user_modules(draw: st.DrawFn) -> str:
    """Source of a module whose ``step(x)`` reads constants, sets, a config dict and helpers.

    Sets and dicts of strings are there on purpose: their iteration order
    depends on the string hash seed, which a code key must not.
    """
    names = draw(st.lists(_identifiers, min_size=1, max_size=4, unique=True))
    constants = [f"C_{name} = {draw(_literals)!r}" for name in names]
    config = draw(st.dictionaries(st.text(max_size=6), _literals, max_size=5))
    members = draw(st.frozensets(st.text(max_size=5), max_size=6))
    helpers = [
        f"def h_{name}(x):\n    return (x, C_{name}, {set(members) or 'None'!r})" for name in names
    ]
    calls = ", ".join(f"h_{name}(x)" for name in names)
    return "\n\n".join(
        [
            "from recyclable import recyclable",
            *constants,
            f"CONFIG = {config!r}",
            *helpers,
            "@recyclable\ndef step(x):\n"
            f"    return ({calls}, x in {set(members) or {0}!r}, CONFIG)",
        ]
    )
