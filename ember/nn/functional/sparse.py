"""Embedding lookups (torch.nn.functional.embedding)."""

from __future__ import annotations

import numpy as np

import ember
from ember.autograd.function import Primitive
from ember.autograd.grad_mode import is_grad_enabled
from ember.tensor import Tensor

__all__ = ["embedding"]

NDArray = np.ndarray


class _Embedding(Primitive):
    """weight[indices]. VJP: scatter-add g into the rows (padding_idx's row gets zero)."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx, scale_by_freq):  # type: ignore[no-untyped-def]
        ctx.idx = indices
        ctx.padding_idx = padding_idx
        ctx.scale_by_freq = scale_by_freq
        ctx.num = weight.shape[0]
        return weight[indices]

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, None, None, None]:  # type: ignore[no-untyped-def]
        idx = ctx.idx.reshape(-1)
        keep = None
        if ctx.padding_idx is not None:
            keep = (idx != ctx.padding_idx).astype(np.float64)
        if ctx.scale_by_freq:  # each row's gradient divided by how often its index occurs
            freq = 1.0 / np.bincount(idx, minlength=ctx.num)[idx]
            keep = freq if keep is None else keep * freq
        flat = g.reshape(-1, g.shape[-1])  # (N, D)
        if not is_grad_enabled():  # no graph to build: scatter-add without np.add.at
            return Tensor._make(_scatter_rows(flat._data, idx, keep, ctx.num)), None, None, None
        if keep is not None:
            flat = flat * Tensor._make(keep[:, None].astype(flat._data.dtype))
        out = ember.zeros((ctx.num, g.shape[-1]), dtype=g.dtype)
        return out.index_add(0, Tensor._make(idx), flat), None, None, None


def _scatter_rows(g: NDArray, idx: NDArray, keep: NDArray | None, num: int) -> NDArray:
    """out[i] = sum of keep[n] g[n] over n with idx[n] == i; g (N, D) -> (num, D).
    np.add.at is ~5x slower than either way here: a one-hot (num, N) @ g GEMM while that
    matrix is small (a 65-token vocabulary: 0.4 ms against 3.4 ms for N = 1024, D = 128),
    else a stable sort of the indices and np.add.reduceat over the runs."""
    n = idx.shape[0]
    if num * n <= 1 << 20:
        onehot = np.zeros((num, n), dtype=g.dtype)
        onehot[idx, np.arange(n)] = 1.0 if keep is None else keep
        return np.asarray(onehot @ g)
    if keep is not None:
        g = g * keep[:, None].astype(g.dtype)
    out = np.zeros((num, g.shape[1]), dtype=g.dtype)
    if n == 0:
        return out
    order = np.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
    out[sorted_idx[starts]] = np.add.reduceat(g[order], starts, axis=0)
    return out


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Matches `torch.nn.functional.embedding` (sparse=True still gives a dense gradient)."""
    if input.dtype not in (ember.int64, ember.int32):
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following "
                           "scalar types: Long, Int; but got "
                           f"{input.dtype._legacy} instead (while checking arguments for "
                           "embedding)")
    num = weight.shape[0]
    if padding_idx is not None:
        if padding_idx < 0:
            if padding_idx < -num:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx += num
        elif padding_idx >= num:
            raise AssertionError("Padding_idx must be within num_embeddings")
    idx = input.numpy()
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        raise IndexError("index out of range in self")
    if max_norm is not None:
        _renorm_rows(weight, np.unique(idx), max_norm, norm_type)
    return _Embedding.apply(weight, idx.astype(np.int64), padding_idx, scale_grad_by_freq)


def _renorm_rows(weight: Tensor, rows: np.ndarray, max_norm: float, norm_type: float) -> None:
    """In place, as torch.embedding_renorm_: rows whose norm exceeds max_norm are rescaled."""
    w = weight._data
    norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
    scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    with ember.no_grad():
        w[rows] = w[rows] * scale[:, None]
