"""Reduction primitives (sum, ...) and composites (mean, sum_to_shape, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.autograd.function import Node, Primitive
from ember.ops.common import dims_arg
from ember.tensor import Tensor

NDArray = np.ndarray

# public functions (grows as ops land); ember.ops and the ember namespace re-export these
__all__ = ['sum', 'mean']


def _kept_shape(shape: tuple[int, ...], dims: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


class Sum(Primitive):
    """Sum over `dims`. VJP: g reshaped to the kept-dims shape and expanded to the input's."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, dims: tuple[int, ...], keepdim: bool,
                dtype: Any = None) -> NDArray:
        ctx.in_shape, ctx.dims = a.shape, dims
        if dtype is None and a.dtype.kind in "biu":
            dtype = np.int64  # torch sums integers and bools as int64
        return np.sum(a, axis=dims, keepdims=keepdim, dtype=dtype)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        kept = _kept_shape(ctx.in_shape, ctx.dims)
        return (g.reshape(kept).expand(ctx.in_shape),)


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:  # noqa: A001
    """Matches `torch.sum`: over all elements, or over `dim` (int, tuple or list)."""
    np_dtype = None if dtype is None else _dt.to_dtype(dtype).to_numpy()
    if dtype is not None:
        input = input.to(dtype)
    return Sum.apply(input, dims_arg(dim, input.ndim), keepdim, np_dtype)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Matches `torch.mean`; integer inputs are an error, as in torch."""
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {input.dtype._legacy[:-6]}"
        )
    dims = dims_arg(dim, input.ndim)
    count = int(np.prod([input.shape[d] for d in dims])) if input.ndim else 1
    return sum(input, dims, keepdim) / count


def sum_to_shape(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum a broadcast gradient back to `shape` (leading dims, then size-1 dims)."""
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    if dims:
        g = Sum.apply(g, dims, True)
    return g.reshape(shape) if g.shape != shape else g
