"""Indexing primitives (getitem, index_put) and composites (gather, scatter, sort, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd.function import Node, Primitive
from ember.autograd.grad_mode import STATE
from ember.tensor import Tensor

NDArray = np.ndarray

# public functions (grows as ops land); ember.ops and the ember namespace re-export these
__all__ = ['getitem', 'setitem']


def _convert_index(index: Any, shape: tuple[int, ...]) -> tuple[Any, bool]:
    """Turn a torch-style index into a NumPy one; also say whether it is basic (a view)."""
    if not isinstance(index, tuple):
        index = (index,)
    out: list[Any] = []
    basic = True
    for i in index:
        if isinstance(i, Tensor):
            arr = i._data
            if arr.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            if arr.ndim == 0 and arr.dtype.kind in "iu":
                out.append(int(arr))  # a 0-dim int tensor acts as an int
                continue
            out.append(arr)
            basic = False
        elif isinstance(i, (list, np.ndarray)):
            arr = np.asarray(i)
            if arr.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(arr)
            basic = False
        else:
            out.append(i)
    _check_bounds(out, shape)
    return tuple(out), basic


def _check_bounds(index: list[Any], shape: tuple[int, ...]) -> None:
    """torch's IndexError for integer indices out of range (NumPy's message differs)."""
    dim = 0
    n_real = sum(1 for i in index if i is not None and i is not Ellipsis
                 and not (isinstance(i, np.ndarray) and i.dtype == bool))
    n_real += sum(i.ndim for i in index if isinstance(i, np.ndarray) and i.dtype == bool)
    for i in index:
        if i is Ellipsis:
            dim += len(shape) - n_real
            continue
        if i is None:
            continue
        if isinstance(i, np.ndarray) and i.dtype == bool:
            dim += i.ndim
            continue
        if dim >= len(shape):
            raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
        size = shape[dim]
        if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
        elif isinstance(i, np.ndarray) and i.size:
            bad = i[(i >= size) | (i < -size)]
            if bad.size:
                raise IndexError(f"index {int(bad.flat[0])} is out of bounds for dimension {dim} "
                                 f"with size {size}")
        dim += 1


class GetItem(Primitive):
    """a[index]. VJP: g scattered (accumulating duplicates) into zeros of a's shape."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, index: Any) -> NDArray:
        ctx.in_shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        zeros = Tensor._make(np.zeros(ctx.in_shape, dtype=g._data.dtype))
        return (IndexPut.apply(zeros, g, ctx.index, True),)


class GetItemView(GetItem):
    """Basic indexing (ints, slices, None, ...): the result is a view."""

    is_view = True

    @classmethod
    def backward_name(cls) -> str:
        return "SliceBackward0"


class IndexPut(Primitive):
    """a with a[index] = v (or += v when accumulate). VJP: (g with g[index] = 0, g[index])."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, v: NDArray, index: Any, accumulate: bool) -> NDArray:
        ctx.index, ctx.accumulate = index, accumulate
        out = a.copy()
        if accumulate:
            np.add.at(out, index, v)
        else:
            out[index] = v
        return out

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        ga = None
        if ctx.needs_input_grad[0]:
            ga = g if ctx.accumulate else IndexPut.apply(g, 0.0, ctx.index, False)
        gv = GetItem.apply(g, ctx.index) if ctx.needs_input_grad[1] else None
        return ga, gv


def getitem(input: Tensor, index: Any) -> Tensor:
    """Tensor indexing as torch: basic indexing gives views, advanced indexing copies."""
    idx, basic = _convert_index(index, input._data.shape)
    return (GetItemView if basic else GetItem).apply(input, idx)


def setitem(input: Tensor, index: Any, value: Any) -> None:
    """`input[index] = value` in place; differentiable with respect to both when recorded."""
    input._check_inplace()
    idx, _ = _convert_index(index, input._data.shape)
    if isinstance(value, (list, tuple)):
        value = Tensor._make(np.asarray(value, dtype=input._data.dtype))
    if STATE.enabled and (input._requires_grad
                          or (isinstance(value, Tensor) and value._requires_grad)):
        v = value.to(input.dtype) if isinstance(value, Tensor) else value
        input._inplace(IndexPut.apply(input, v, idx, False))
        return
    input._data[idx] = value._data if isinstance(value, Tensor) else value
    input._version_ref[0] += 1
