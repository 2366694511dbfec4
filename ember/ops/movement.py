"""Shape and movement primitives (reshape, expand, permute, ...) and their composites."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd.function import Node, Primitive
from ember.ops.common import shape_arg
from ember.tensor import Tensor, _wrap_dim

NDArray = np.ndarray

# public functions (grows as ops land); ember.ops and the ember namespace re-export these
__all__ = ['reshape', 'view', 'expand', 'permute', 'transpose', 't', 'unsqueeze', 'squeeze']


def _infer_shape(shape: tuple[int, ...], numel: int) -> tuple[int, ...]:
    """Resolve one -1 in a view/reshape shape, with torch's errors."""
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = int(np.prod([s for s in shape if s != -1]))
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class Reshape(Primitive):
    """Reshape (a view when the strides allow). VJP: g reshaped back."""

    is_view = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, shape: tuple[int, ...], copy_ok: bool) -> NDArray:
        ctx.in_shape = a.shape
        if copy_ok:
            return a.reshape(shape)
        try:
            return np.reshape(a, shape, copy=False)
        except ValueError:
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
            ) from None

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (g.reshape(ctx.in_shape),)


class Expand(Primitive):
    """Broadcast to a larger shape (a read-only view). VJP: g summed back to the input shape."""

    is_view = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, shape: tuple[int, ...]) -> NDArray:
        ctx.in_shape = a.shape
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        from ember.ops.reduce import sum_to_shape

        return (sum_to_shape(g, ctx.in_shape),)


class Permute(Primitive):
    """Reorder dims (a view). VJP: g permuted by the inverse order."""

    is_view = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, dims: tuple[int, ...]) -> NDArray:
        ctx.dims = dims
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (g.permute(tuple(np.argsort(ctx.dims).tolist())),)


def reshape(input: Tensor, *shape: Any) -> Tensor:
    """Matches `torch.reshape`: a view when possible, else a copy."""
    s = _infer_shape(shape_arg(shape, "reshape"), input.numel())
    return Reshape.apply(input, s, True)


def view(input: Tensor, *shape: Any) -> Tensor:
    """Matches `torch.Tensor.view` (shapes only; dtype views are not supported)."""
    s = _infer_shape(shape_arg(shape, "view"), input.numel())
    return Reshape.apply(input, s, False)


def expand(input: Tensor, *sizes: Any) -> Tensor:
    """Matches `torch.Tensor.expand`: -1 keeps a dim; new dims are added in front."""
    s = list(shape_arg(sizes, "expand"))
    lead = len(s) - input.ndim
    if lead < 0:
        raise RuntimeError(
            f"expand(torch.{input.dtype._legacy}{{{list(input.shape)}}}, size={s}): the number "
            f"of sizes provided ({len(s)}) must be greater or equal to the number of dimensions in "
            f"the tensor ({input.ndim})")
    for i, d in enumerate(input.shape):
        if s[lead + i] == -1:
            s[lead + i] = d
        elif d != 1 and d != s[lead + i]:
            raise RuntimeError(
                f"The expanded size of the tensor ({s[lead + i]}) must match the existing size "
                f"({d}) at non-singleton dimension {lead + i}.  Target sizes: {s}.  Tensor sizes: "
                f"{list(input.shape)}")
    return Expand.apply(input, tuple(s))


def permute(input: Tensor, *dims: Any) -> Tensor:
    """Matches `torch.permute`."""
    d = shape_arg(dims, "permute")
    nd = input.ndim
    if len(d) != nd:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal to "
            f"len(dims) = {len(d)}")
    w = tuple(_wrap_dim(x, nd) for x in d)
    if len(set(w)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(input, w)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Matches `torch.transpose`."""
    nd = input.ndim
    if nd == 0:
        return input.view(())
    order = list(range(nd))
    a, b = _wrap_dim(dim0, nd), _wrap_dim(dim1, nd)
    order[a], order[b] = order[b], order[a]
    return Permute.apply(input, tuple(order))


def t(input: Tensor) -> Tensor:
    """Matches `torch.t`: 0-D and 1-D unchanged, 2-D transposed."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else input.view(input.shape)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Matches `torch.unsqueeze`: a size-1 dim inserted at `dim` (a view)."""
    d = _wrap_dim(dim, input.ndim + 1)
    shape = input.shape
    return Reshape.apply(input, tuple(shape[:d]) + (1,) + tuple(shape[d:]), True)


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    """Matches `torch.squeeze`: all size-1 dims, or only those in `dim` (int or tuple)."""
    shape = input.shape
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        ds = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = {_wrap_dim(d, input.ndim) for d in ds} if input.ndim else set()
        dims = {d for d in dims if shape[d] == 1}
    new = tuple(s for i, s in enumerate(shape) if i not in dims)
    return Reshape.apply(input, new, True)
