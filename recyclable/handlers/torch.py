"""torch tensors, keyed by value and never by storage address.

A tensor pickles through ``torch.save`` of its storage, whose stream embeds a
key derived from the storage's address: every process gives it another
fingerprint.  Here a tensor is keyed by what a step can read: its type
(``Parameter`` and subclasses apart), dtype, shape, strides, device, layout,
``requires_grad``, names, its ``grad`` if any, extra instance attributes, and
its elements in C order.  A CPU tensor's elements are hashed through a numpy
view of its storage (no copy when it is contiguous); a tensor on another
device is copied to the CPU first.  A sparse tensor is keyed by the arrays it
holds (COO: indices, values and the coalesced flag; CSR/CSC/BSR/BSC: the
compressed and plain indices and the values), never by its dense form: an
explicit zero stays an entry a step can count, and nothing is densified.
"""

from __future__ import annotations

from typing import Any

import torch

from recyclable.handlers._base import Reducer, refuse, standin


def handler_for(cls: type) -> Reducer | None:
    """The reducer for torch types this module covers."""
    if issubclass(cls, torch.Tensor):
        return standin("torch.Tensor", tensor_standin)
    return None


def tensor_standin(tensor: torch.Tensor) -> Any:
    """dtype, shape, strides, device, layout, grad flags, names, extra attributes, values."""
    if tensor.is_meta:
        raise refuse(tensor, "a meta tensor has no values; materialise it first")
    if tensor.is_quantized:
        raise refuse(tensor, "quantized tensors are not supported; dequantize it first")
    layout = str(tensor.layout)
    extra = dict(getattr(tensor, "__dict__", None) or {})
    names = getattr(tensor, "names", None)
    grad = tensor.grad if tensor.requires_grad and tensor.is_leaf else None
    header = (
        str(tensor.dtype),
        tuple(tensor.shape),
        tensor.stride() if tensor.layout == torch.strided else None,
        str(tensor.device),
        layout,
        bool(tensor.requires_grad),
        names if names and any(name is not None for name in names) else None,
        grad,
        extra,
    )
    return (header, _values(tensor))


# Compressed sparse layouts: (compressed index accessor, plain index accessor).
_COMPRESSED = {
    torch.sparse_csr: ("crow_indices", "col_indices"),
    torch.sparse_bsr: ("crow_indices", "col_indices"),
    torch.sparse_csc: ("ccol_indices", "row_indices"),
    torch.sparse_bsc: ("ccol_indices", "row_indices"),
}


def _values(tensor: torch.Tensor) -> Any:
    with torch.no_grad():
        data = tensor.detach()
        if data.layout == torch.sparse_coo:
            return (
                "coo",
                bool(data.is_coalesced()),
                _values(data._indices()),
                _values(data._values()),
            )
        compressed = _COMPRESSED.get(data.layout)
        if compressed is not None:
            # Keyed by the arrays a step can read (values(), the index
            # tensors, hence _nnz()), never through to_dense(): an explicit
            # zero is then not an absent entry, and a large sparse tensor is
            # never densified.
            outer, inner = compressed
            return (
                "compressed",
                _values(getattr(data, outer)()),
                _values(getattr(data, inner)()),
                _values(data.values()),
            )
        if data.layout != torch.strided:
            data = data.to_dense()
        if data.device.type != "cpu":
            data = data.cpu()
        # Conjugate and negative bits are lazy views: the values a step reads
        # are the resolved ones.
        data = data.resolve_conj().resolve_neg().contiguous()
        if data.numel() == 0:
            return ("empty",)
        return ("bytes", data.reshape(-1).view(torch.uint8).numpy())
