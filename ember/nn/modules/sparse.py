"""Embedding layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.tensor import Tensor

__all__ = ["Embedding"]


def _padding_index(padding_idx: int | None, num_embeddings: int, name: str) -> int | None:
    """padding_idx checked against the table size and made non-negative, as torch's Embedding and
    EmbeddingBag do (their assertion texts differ only in `name`'s capital)."""
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < num_embeddings, f"{name} must be within num_embeddings"
        elif padding_idx < 0:
            assert padding_idx >= -num_embeddings, f"{name} must be within num_embeddings"
            padding_idx = num_embeddings + padding_idx
    return padding_idx


def _set_table(module: Any, _weight: Tensor | None, dtype: Any,
               requires_grad: bool = True) -> None:
    """module.weight for Embedding and EmbeddingBag (which have set num_embeddings,
    embedding_dim and padding_idx): a fresh table initialised by module.reset_parameters(), or
    `_weight` after torch's shape check."""
    shape = [module.num_embeddings, module.embedding_dim]
    if _weight is None:
        d = _dt.get_default_dtype() if dtype is None else _dt.to_dtype(dtype)
        module.weight = Parameter(Tensor._make(np.empty(shape, dtype=d.np)),
                                  requires_grad=requires_grad)
        module.reset_parameters()
    else:
        assert list(_weight.shape) == shape, (
            "Shape of weight does not match num_embeddings and embedding_dim")
        module.weight = Parameter(_weight, requires_grad=requires_grad)


def _reset_table(module: Any) -> None:
    """N(0, 1), then the padding_idx row zeroed."""
    init.normal_(module.weight)
    _zero_padding_row(module)


def _zero_padding_row(module: Any) -> None:
    """The padding_idx row set to 0 (a write torch's version counter sees)."""
    if module.padding_idx is not None:
        module.weight._data[module.padding_idx] = 0
        module.weight._version_ref[0] += 1


class Embedding(Module):
    """Matches `torch.nn.Embedding` (init N(0, 1), the padding_idx row zeroed; sparse=True still
    gives a dense gradient)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Tensor | None = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _padding_index(padding_idx, num_embeddings, "Padding_idx")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        _set_table(self, _weight, dtype, requires_grad=not _freeze)
        self.sparse = sparse

    def reset_parameters(self) -> None:
        _reset_table(self)

    def _fill_padding_idx_with_zero(self) -> None:
        _zero_padding_row(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += ", scale_grad_by_freq=True"
        if self.sparse is not False:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """Matches `torch.nn.Embedding.from_pretrained` (freeze=True by default)."""
        assert embeddings.ndim == 2, "Embeddings parameter is expected to be 2-dimensional"
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)
