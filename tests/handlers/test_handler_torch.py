"""torch tensors are keyed by value: the same digest in every process, never by address."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch (CPU wheel) is not installed")

import warnings  # noqa: E402

from recyclable import fingerprint  # noqa: E402
from recyclable.testing import check_fingerprint_contract  # noqa: E402


def _model(seed: int = 0) -> object:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(30, 40), torch.nn.ReLU(), torch.nn.Linear(40, 1))


def equal_pairs() -> list[tuple[object, object]]:
    base = torch.arange(40_000, dtype=torch.float32).reshape(200, 200)
    return [
        (base, base.clone()),
        (torch.ones(3, dtype=torch.bfloat16), torch.ones(3, dtype=torch.bfloat16)),
        (torch.tensor(1.5), torch.tensor(1.5)),
        (torch.zeros(0), torch.zeros(0)),
        (torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))),
        (torch.tensor([1 + 2j]).conj(), torch.tensor([1 - 2j])),
        (_model(), _model()),
        (torch.nn.Linear(3, 2).requires_grad_(False).weight.detach().zero_(), torch.zeros(2, 3)),
    ]


def _csr(crow: list[int], col: list[int], values: list[float], shape: tuple[int, int]) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(
            torch.tensor(crow),
            torch.tensor(col, dtype=torch.int64),
            torch.tensor(values),
            shape,
            check_invariants=True,
        )


def different_pairs() -> list[tuple[object, object]]:
    base = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    return [
        (base, base + 1),
        (_model(0), _model(1)),
        (base, base.to(torch.float64)),
        (base, base.reshape(3, 2)),
        (base.t(), base.t().contiguous()),  # strides a step can read
        (base, base.clone().requires_grad_(True)),
        (torch.ones(2), torch.nn.Parameter(torch.ones(2))),
        (torch.ones(2, dtype=torch.bfloat16), torch.ones(2, dtype=torch.float16)),
        (torch.tensor(0.0), torch.tensor(-0.0)),
        (torch.tensor([1, 2]), torch.tensor([[1, 2]])),
        (
            torch.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,), check_invariants=True),
            torch.tensor([1.0, 2.0, 0.0]),
        ),
        # An explicit zero is an entry a step can count (_nnz(), values()).
        (_csr([0, 1, 1], [0], [0.0], (2, 2)), _csr([0, 0, 0], [], [], (2, 2))),
        (_csr([0, 1, 1], [0], [1.0], (2, 2)), _csr([0, 1, 1], [1], [1.0], (2, 2))),
        (
            _csr([0, 1, 1], [0], [1.0], (2, 2)),
            _csr([0, 1, 1], [0], [1.0], (2, 2)).to_sparse_csc(),
        ),
    ]


def test_torch_contract(tmp_path) -> None:
    """Tensors share a key across processes and hash seeds, and loads match the stored."""
    check_fingerprint_contract(equal_pairs, different_pairs, tmp_path=tmp_path)


def test_large_sparse_tensor_is_keyed_without_densifying() -> None:
    """A 10⁶ × 10⁶ CSR tensor with two entries is keyed by its arrays (dense: 4 TB)."""
    n = 1_000_000
    crow = [0, 1, *([2] * (n - 1))]
    a = _csr(crow, [5, n - 1], [1.0, 2.0], (n, n))
    b = _csr(crow, [5, n - 1], [1.0, 3.0], (n, n))
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) == fingerprint(_csr(crow, [5, n - 1], [1.0, 2.0], (n, n)))
