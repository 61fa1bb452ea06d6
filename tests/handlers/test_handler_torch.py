"""torch tensors are keyed by value: the same digest in every process, never by address."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch (CPU wheel) is not installed")

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
    ]


def test_torch_contract(tmp_path) -> None:
    """Tensors share a key across processes and hash seeds, and loads match the stored."""
    check_fingerprint_contract(equal_pairs, different_pairs, tmp_path=tmp_path)
