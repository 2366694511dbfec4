"""embedding_bag: sums, means or maxima of bags of embedding rows, composed from embedding (a
gather) and one matmul by a (bags, entries) weighting matrix, so its gradient needs no primitive."""

from __future__ import annotations

import numpy as np

import ember
from ember.nn.functional.sparse import embedding
from ember.tensor import Tensor

__all__ = ["embedding_bag"]


def _bag_bounds(input: Tensor, offsets: Tensor | None,
                include_last_offset: bool) -> tuple[np.ndarray, np.ndarray, Tensor]:
    """Each bag's [start, end) in the flattened indices, and the flat (N,) indices."""
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences. However, found offsets "
                             f"of type {type(offsets).__name__}")
        bags, n = input.shape
        starts = np.arange(bags) * n
        return starts, starts + n, input.reshape(-1)
    if input.dim() != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.dim()}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    if offsets.dim() != 1:
        raise ValueError("offsets has to be a 1D Tensor")
    off = offsets.numpy().astype(np.int64)
    total = input.shape[0]
    if include_last_offset:
        starts, ends = off[:-1], off[1:]
    else:
        starts, ends = off, np.append(off[1:], total)
    if off.size and (off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] > total):
        raise RuntimeError("offsets must start at 0, be non-decreasing and not exceed the "
                           f"input's length {total}; got {off.tolist()}")
    return starts, ends, input


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,
                  max_norm: float | None = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Matches `torch.nn.functional.embedding_bag`: (B, N) input or 1-D input with offsets ->
    (bags, embedding_dim); padding_idx entries are left out of every bag (and of its mean's
    count); an empty bag gives zeros."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                "on GitHub.")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: If per_sample_weights "
                             f"({tuple(per_sample_weights.shape)}) is not None, then it must "
                             f"have the same shape as the input ({tuple(input.shape)})")
    starts, ends, flat = _bag_bounds(input, offsets, include_last_offset)
    rows = embedding(flat, weight, None, max_norm, norm_type, scale_grad_by_freq)  # (N, D)
    idx = flat.numpy()
    keep = np.ones(idx.shape, bool) if padding_idx is None else idx != padding_idx % len(weight)
    if mode == "max":
        picked = []
        for s, e in zip(starts, ends):
            members = np.nonzero(keep[s:e])[0] + s
            picked.append(rows[ember.tensor(members)].amax(0) if members.size
                          else ember.zeros(weight.shape[1], dtype=weight.dtype))
        if not picked:
            return ember.zeros(0, weight.shape[1], dtype=weight.dtype)
        return ember.stack(picked)
    # (bags, N) membership, 1 where entry j belongs to bag b (padding left out)
    member = np.zeros((len(starts), idx.size), dtype=weight.dtype.np)
    for b, (s, e) in enumerate(zip(starts, ends)):
        member[b, s:e] = keep[s:e]
    if mode == "mean":
        member /= np.maximum(member.sum(1, keepdims=True), 1)
    weights = ember.tensor(member)
    if per_sample_weights is not None:
        weights = weights * per_sample_weights.reshape(-1)
    return weights @ rows
