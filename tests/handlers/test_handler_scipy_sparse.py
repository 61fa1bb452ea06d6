"""scipy.sparse values: keyed by their arrays, not by caches a read fills in."""

from __future__ import annotations

import pytest

sp = pytest.importorskip("scipy.sparse", reason="scipy is not installed")
import numpy as np  # noqa: E402

from recyclable import fingerprint  # noqa: E402
from recyclable.testing import check_fingerprint_contract  # noqa: E402


def _matrix() -> object:
    return sp.random(300, 300, density=0.2, format="csr", random_state=np.random.default_rng(3))


def _banded() -> object:
    return sp.diags([1.0, 2.0, 3.0], [0, 1, 2], shape=(300, 300), format="dia")


def equal_pairs() -> list[tuple[object, object]]:
    m = _matrix()
    formats = ("csr", "csc", "coo", "bsr", "lil", "dok")
    return [(m.asformat(fmt), _matrix().asformat(fmt)) for fmt in formats] + [
        (_banded(), _banded())
    ]


def different_pairs() -> list[tuple[object, object]]:
    m = _matrix()
    other = m.copy()
    other.data[0] += 1
    return [
        (m, other),
        (m, sp.csr_array(m)),
        (m, m.tocsc()),
        (m, m.astype(np.float32)),
        (_banded(), _banded() * 2),
    ]


def _read(value: object) -> None:
    for name in ("has_sorted_indices", "has_canonical_format"):
        getattr(value, name, None)
    value.sum()  # type: ignore[attr-defined]
    if hasattr(value, "max"):  # sorts in place, unless already canonical (lil has none)
        value.max()


def test_scipy_sparse_contract(tmp_path) -> None:
    """Every sparse format keeps the contract, reads included."""
    check_fingerprint_contract(equal_pairs, different_pairs, read=_read, tmp_path=tmp_path)


def test_reading_sorted_index_flags_keeps_the_key() -> None:
    """Asking whether indices are sorted (a cached flag) leaves the digest as it was."""
    m = _matrix()
    before = fingerprint(m)
    assert m.has_sorted_indices in (True, False)
    assert m.has_canonical_format in (True, False)
    assert fingerprint(m) == before


def test_in_place_canonicalisation_by_a_read_changes_the_key() -> None:
    """max() sorts a non-canonical matrix's entries in place: its arrays change, and so its key.

    A stale key (the order a step reads through .indices and .data, and the
    entry count, are gone) would be worse than the miss; a canonical matrix
    keeps its key under the same read.
    """
    unsorted = sp.csr_matrix(
        (np.array([1.0, 2.0]), np.array([2, 0]), np.array([0, 2, 2, 2])), shape=(3, 3)
    )
    before, indices = fingerprint(unsorted), unsorted.indices.tolist()
    unsorted.max()
    assert unsorted.indices.tolist() != indices
    assert fingerprint(unsorted) != before
    canonical = fingerprint(unsorted)
    unsorted.max()
    assert fingerprint(unsorted) == canonical
