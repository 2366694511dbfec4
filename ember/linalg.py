"""torch.linalg: the norms and products training code reaches for (vector_norm for gradient
norms, matrix_norm, norm, vecdot, cross, matmul, diagonal), composed from ember's ops."""

from __future__ import annotations

import math
from typing import Any

import ember
from ember.tensor import Tensor

__all__ = ["vector_norm", "matrix_norm", "norm", "vecdot", "cross", "matmul", "diagonal"]

matmul = ember.matmul


def vector_norm(x: Tensor, ord: float = 2, dim: Any = None, keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """Matches `torch.linalg.vector_norm`: over all elements (dim=None) or the given dims."""
    if dtype is not None:
        x = x.to(dtype)
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {x.dtype._legacy[:-6]}")
    if dim is None and not keepdim:
        x, dim = x.reshape(-1), 0
    elif dim is None:
        dim = tuple(range(x.dim()))
    if ord == 2:
        return ember.norm(x, 2, dim, keepdim)  # its gradient at 0 is 0, as torch's
    a = x.abs()
    if ord == math.inf:
        return a.amax(dim, keepdim)
    if ord == -math.inf:
        return a.amin(dim, keepdim)
    if ord == 0:  # the count of nonzeros; torch still gives it a (zero) gradient
        return (a != 0).to(x.dtype).sum(dim, keepdim) + (a * 0).sum(dim, keepdim)
    return (a**ord).sum(dim, keepdim) ** (1.0 / ord)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1),
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Matches `torch.linalg.matrix_norm` for ord 'fro', 1, -1, inf, -inf (not 'nuc', 2, -2,
    which need singular values)."""
    if dtype is not None:
        A = A.to(dtype)
    if ord == "fro":
        return vector_norm(A, 2, dim, keepdim)
    r, c = dim
    if ord in (1, -1):  # max/min column sum of |A|
        sums = A.abs().sum(r, keepdim=True)
        out = sums.amax(c, keepdim=True) if ord == 1 else sums.amin(c, keepdim=True)
    elif ord in (math.inf, -math.inf):  # max/min row sum
        sums = A.abs().sum(c, keepdim=True)
        out = sums.amax(r, keepdim=True) if ord > 0 else sums.amin(r, keepdim=True)
    else:
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs singular values, "
                                  "which ember does not compute")
    return out if keepdim else out.squeeze((r % A.dim(), c % A.dim()))


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """Matches `torch.linalg.norm`: a vector norm for 1-D input or one dim, a matrix norm for
    2-D input or two dims, the 2-norm of the flattened input when neither ord nor dim is given."""
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if (dim is not None and len(dim) == 2) or (dim is None and A.dim() == 2):
        return matrix_norm(A, ord, dim if dim is not None else (-2, -1), keepdim, dtype=dtype)
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """Matches `torch.linalg.vecdot` for real tensors: (x * y).sum(dim)."""
    return (x * y).sum(dim)


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """Matches `torch.linalg.cross` (dim defaults to -1, unlike torch.cross)."""
    return ember.cross(input, other, dim=dim)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matches `torch.linalg.diagonal`."""
    return ember.diagonal(A, offset=offset, dim1=dim1, dim2=dim2)
