"""Loss functions (torch.nn.functional): cross_entropy, nll, regression, binary, kl_div, ..."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import ember
from ember.autograd.function import Primitive
from ember.autograd.grad_mode import is_grad_enabled
from ember.nn.functional.activation import logsigmoid
from ember.tensor import Tensor

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
           "cosine_embedding_loss", "margin_ranking_loss", "soft_margin_loss",
           "hinge_embedding_loss", "poisson_nll_loss", "gaussian_nll_loss"]

NDArray = np.ndarray


def _legacy_reduction(size_average: bool | None, reduce: bool | None) -> str:
    """torch's legacy_get_string for the deprecated size_average/reduce pair."""
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='sum' "
                  "instead." if size_average is False else "size_average and reduce args will be "
                  "deprecated, please use reduction='mean' instead.", stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _resolve(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    if size_average is not None or reduce is not None:
        return _legacy_reduction(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _class_view(t: Tensor, ndim: int) -> Tensor:
    """A (C,) per-class tensor shaped to broadcast against (N, C, d1, ...)."""
    return t.reshape((1, -1) + (1,) * (ndim - 2))


def _check_target(input: Tensor, target: Tensor) -> None:
    if target.dtype not in (ember.int64, ember.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got "
                           f"{target.dtype._legacy[:-6]}")
    want = (input.shape[0],) + tuple(input.shape[2:])
    if target.ndim == 0 or target.shape[0] != input.shape[0]:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                         f"batch_size ({target.shape[0] if target.ndim else 0}).")
    if tuple(target.shape) != want:
        raise RuntimeError(f"Expected target size {list(want)}, got {list(target.shape)}")


def _nll_parts(lp: Tensor, target: Tensor, weight: Tensor | None,
               ignore_index: int) -> tuple[Tensor, Tensor, Tensor]:
    """(-w[y] * lp[y] masked, w[y] masked, mask) for class-index targets; lp is (N, C, ...)."""
    t = target.numpy().astype(np.int64)
    mask = t != ignore_index
    c = lp.shape[1]
    bad = mask & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"Target {int(t[bad].flat[0])} is out of bounds.")
    safe = np.where(mask, t, 0)
    picked = lp.gather(1, Tensor._make(safe[:, None])).squeeze(1)  # (N, d1, ...)
    m = Tensor._make(mask.astype(lp._data.dtype))
    w = m if weight is None else weight.to(lp.dtype)[Tensor._make(safe)] * m
    return -picked * w, w, m


class _CrossEntropyIndices(Primitive):
    """Fused log_softmax + nll over dim 1 for class-index targets (mask = not ignored).
    loss_i = -w[y_i] lp[i, y_i] mask_i; 'mean' divides by sum(w[y_i] mask_i).
    VJP: dx = (softmax(x) - onehot(y)) * (w[y] mask)[:, None] * g (/ the 'mean' denominator)."""

    @staticmethod
    def forward(ctx: Any, x: NDArray, safe: NDArray, wy: NDArray, reduction: str) -> NDArray:
        ctx.save_for_backward(ctx.inputs[0])
        ctx.safe, ctx.wy, ctx.reduction = safe, wy, reduction
        m = np.amax(x, axis=1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        picked = np.take_along_axis(x, safe[:, None], 1)[:, 0] - m[:, 0]  # (N, d1, ...)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            e = np.exp(x - m)
            total_e = np.sum(e, axis=1)
            lse = np.log(total_e)
            ctx.prob = e / np.expand_dims(total_e, 1)  # softmax, reused by backward
            loss = (lse - picked) * wy
            if reduction == "none":
                return loss.astype(x.dtype, copy=False)
            total = np.sum(loss)
            if reduction == "mean":
                total = total / np.sum(wy)
        return np.asarray(total, dtype=x.dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, None, None, None]:
        (x,) = ctx.saved_tensors
        scale = ctx.wy
        if ctx.reduction == "mean":
            scale = scale / np.sum(ctx.wy)
        onehot = np.zeros(x.shape, dtype=x._data.dtype)
        np.put_along_axis(onehot, ctx.safe[:, None], 1, 1)
        w = Tensor._make(np.expand_dims(scale, 1).astype(x._data.dtype))  # (N, 1, d1, ...)
        gg = g.unsqueeze(1) if ctx.reduction == "none" else g
        # create_graph needs softmax as a function of x; otherwise the forward's copy will do
        prob = ember.softmax(x, 1) if is_grad_enabled() else Tensor._make(ctx.prob)
        return (prob - Tensor._make(onehot)) * (w * gg), None, None, None


def _fused_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
                         reduction: str) -> Tensor:
    t = target.numpy().astype(np.int64)
    mask = t != ignore_index
    c = input.shape[1]
    bad = mask & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"Target {int(t[bad].flat[0])} is out of bounds.")
    safe = np.where(mask, t, 0)
    dt = input._data.dtype
    wy = mask.astype(dt) if weight is None else weight.numpy().astype(dt)[safe] * mask
    return _CrossEntropyIndices.apply(input, safe, wy, reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None,
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Matches `torch.nn.functional.nll_loss` ('mean' divides by the summed target weights)."""
    reduction = _resolve(size_average, reduce, reduction)
    if input.ndim == 1:  # unbatched (C,) with a 0-dim target
        input, target = input.unsqueeze(0), target.reshape(1)
        out = nll_loss(input, target, weight, None, ignore_index, None, reduction)
        return out.reshape(()) if reduction == "none" else out
    _check_target(input, target)
    loss, w, _ = _nll_parts(input, target, weight, ignore_index)
    if reduction == "mean":
        return loss.sum() / w.sum()
    return _reduce(loss, reduction)


def _smoothed_index_loss(lp: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
                         reduction: str, eps: float) -> Tensor:
    """(1-eps) * nll + eps/C * sum_c(-w_c lp_c), both over non-ignored entries."""
    nll, w, m = _nll_parts(lp, target, weight, ignore_index)
    wl = lp if weight is None else lp * _class_view(weight.to(lp.dtype), lp.ndim)
    smooth = -wl.sum(1) * m
    c = lp.shape[1]
    if reduction == "mean":
        denom = w.sum()
        return (nll.sum() / denom) * (1.0 - eps) + (smooth.sum() / denom) * (eps / c)
    return _reduce(nll * (1.0 - eps) + smooth * (eps / c), reduction)


def _prob_target_loss(lp: Tensor, target: Tensor, weight: Tensor | None, reduction: str,
                      eps: float) -> Tensor:
    """-sum_c w_c t_c lp_c; 'mean' divides by the number of samples (N * d1 * ...)."""
    if tuple(target.shape) != tuple(lp.shape):
        raise RuntimeError(f"Expected target size {list(lp.shape)}, got {list(target.shape)}")
    c = lp.shape[1]
    if eps > 0:
        target = target * (1.0 - eps) + eps / c
    prod = lp * target
    if weight is not None:
        prod = prod * _class_view(weight, lp.ndim)
    return _reduce(-prod.sum(1), reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Matches `torch.nn.functional.cross_entropy` (class indices or probabilities)."""
    reduction = _resolve(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.ndim == 1:  # unbatched (C,)
        t = target.unsqueeze(0) if target.dtype.is_floating_point else target.reshape(1)
        out = cross_entropy(input.unsqueeze(0), t, weight, None, ignore_index, None, reduction,
                            label_smoothing)
        return out.reshape(()) if reduction == "none" else out
    if target.dtype.is_floating_point:
        lp = ember.log_softmax(input, 1)  # (N, C, d1, ...)
        return _prob_target_loss(lp, target, weight, reduction, label_smoothing)
    _check_target(input, target)
    if label_smoothing > 0:
        lp = ember.log_softmax(input, 1)
        return _smoothed_index_loss(lp, target, weight, ignore_index, reduction, label_smoothing)
    return _fused_cross_entropy(input, target, weight, ignore_index, reduction)


def _size_warning(input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size.", stacklevel=3)


def _need_float(input: Tensor, kernel: str) -> None:
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"{kernel}" not implemented for '
                                  f"'{input.dtype._legacy[:-6]}'")


def _weighted(loss: Tensor, weight: Tensor | None) -> Tensor:
    return loss if weight is None else loss * weight


def mse_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Matches `torch.nn.functional.mse_loss`."""
    reduction = _resolve(size_average, reduce, reduction)
    _size_warning(input, target)
    _need_float(input, "mse_cpu")
    d = input - target
    return _reduce(_weighted(d * d, weight), reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Matches `torch.nn.functional.l1_loss` (gradient 0 where input == target)."""
    reduction = _resolve(size_average, reduce, reduction)
    _size_warning(input, target)
    return _reduce(_weighted(ember.abs(input - target), weight), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Matches `torch.nn.functional.smooth_l1_loss`: 0.5 d^2/beta below beta, |d| - beta/2 above."""
    reduction = _resolve(size_average, reduce, reduction)
    _size_warning(input, target)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _need_float(input, "smooth_l1_cpu")
    d = ember.abs(input - target)
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(ember.where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """Matches `torch.nn.functional.huber_loss`: 0.5 d^2 below delta, delta(|d| - delta/2) above."""
    reduction = _resolve(None, None, reduction)
    _size_warning(input, target)
    _need_float(input, "huber_cpu")
    d = ember.abs(input - target)
    loss = ember.where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    return _reduce(_weighted(loss, weight), reduction)


class _BCE(Primitive):
    """-(y log p + (1-y) log(1-p)), each log clamped at -100.
    VJP: dp = g (p - y) / max(p (1-p), 1e-12); dy = g (log(1-p) - log p)."""

    @staticmethod
    def forward(ctx: Any, p: NDArray, y: NDArray) -> NDArray:
        ctx.save_for_backward(*ctx.inputs)
        with np.errstate(divide="ignore"):
            lp = np.maximum(np.log(p), -100)
            l1p = np.maximum(np.log1p(-p), -100)
        return (-(y * lp + (1 - y) * l1p)).astype(p.dtype, copy=False)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
        p, y = ctx.saved_tensors
        dp = dy = None
        if ctx.needs_input_grad[0]:
            dp = g * (p - y) / ember.clamp_min((1.0 - p) * p, 1e-12)
        if ctx.needs_input_grad[1]:
            dy = g * (ember.log1p(-p) - ember.log(p))  # unclamped, as torch
        return dp, dy


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """Matches `torch.nn.functional.binary_cross_entropy` (each log clamped at -100)."""
    reduction = _resolve(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input "
                         f"size ({input.shape}) is deprecated. Please ensure they have the same "
                         "size.")
    p = input._data
    if p.size and not ((p >= 0) & (p <= 1)).all():
        raise RuntimeError("all elements of input should be between 0 and 1")
    loss = _BCE.apply(input, target.to(input.dtype))
    return _reduce(_weighted(loss, weight), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: Any = None, reduce: Any = None,
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Matches `torch.nn.functional.binary_cross_entropy_with_logits` (stable; pos_weight
    broadcasts over the last dim)."""
    reduction = _resolve(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size "
                         f"({input.shape})")
    if not target.dtype.is_floating_point:
        raise RuntimeError(f"result type {input.dtype._legacy[:-6]} can't be cast to the desired "
                           f"output type {target.dtype._legacy[:-6]}")
    # loss = (1 - y) z - log_weight * logsigmoid(z), log_weight = 1 + (pos_weight - 1) y
    ls = logsigmoid(input)
    if pos_weight is None:
        loss = (1.0 - target) * input - ls
    else:
        loss = (1.0 - target) * input - ((pos_weight - 1.0) * target + 1.0) * ls
    return _reduce(_weighted(loss, weight), reduction)


def kl_div(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Matches `torch.nn.functional.kl_div`: target * (log target - input), 0 where target = 0."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", stacklevel=2)
    elif reduction not in ("none", "sum", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if log_target:
        loss = ember.exp(target) * (target - input)
    else:
        loss = ember.xlogy(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average: Any = None, reduce: Any = None,
                          reduction: str = "mean") -> Tensor:
    """Matches `torch.nn.functional.cosine_embedding_loss` (EPSILON 1e-12 as torch)."""
    reduction = _resolve(size_average, reduce, reduction)
    dim = input1.ndim - 1
    prod = (input1 * input2).sum(dim)
    m1 = (input1 * input1).sum(dim) + 1e-12
    m2 = (input2 * input2).sum(dim) + 1e-12
    cos = prod / ember.sqrt(m1 * m2)
    zeros = ember.zeros_like(cos)
    pos = ember.where(target == 1, 1.0 - cos, zeros)
    neg = ember.where(target == -1, ember.clamp_min(cos - margin, 0.0), zeros)
    return _reduce(pos + neg, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    """Matches `torch.nn.functional.margin_ranking_loss`: max(0, -y (x1 - x2) + margin)."""
    reduction = _resolve(size_average, reduce, reduction)
    return _reduce(ember.clamp_min(-target * (input1 - input2) + margin, 0.0), reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                     reduction: str = "mean") -> Tensor:
    """Matches `torch.nn.functional.soft_margin_loss`: log(1 + exp(-y x))."""
    reduction = _resolve(size_average, reduce, reduction)
    return _reduce(-logsigmoid(target * input), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """Matches `torch.nn.functional.hinge_embedding_loss`."""
    reduction = _resolve(size_average, reduce, reduction)
    zeros = ember.zeros_like(input)
    margin_part = ember.where(target == -1, ember.clamp_min(margin - input, 0.0), zeros)
    self_part = ember.where(target == 1, input, zeros)
    return _reduce(margin_part + self_part, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average: Any = None, eps: float = 1e-8, reduce: Any = None,
                     reduction: str = "mean") -> Tensor:
    """Matches `torch.nn.functional.poisson_nll_loss`."""
    reduction = _resolve(size_average, reduce, reduction)
    if log_input:
        loss = ember.exp(input) - target * input
    else:
        loss = input - target * ember.log(input + eps)
    if full:
        stirling = target * ember.log(target) - target + 0.5 * ember.log(2 * np.pi * target)
        loss = loss + ember.where(target > 1, stirling, ember.zeros_like(target))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Matches `torch.nn.functional.gaussian_nll_loss` (var clamped at eps without gradient)."""
    reduction = _resolve(None, None, reduction)
    if not isinstance(var, Tensor):
        var = ember.full_like(input, float(var))
    elif var.ndim == input.ndim - 1 or (var.shape[-1:] == (1,) and input.shape[-1:] != (1,)):
        var = var.unsqueeze(-1) if var.ndim == input.ndim - 1 else var
    var = var.clone()
    with ember.no_grad():
        var.clamp_(min=eps)
    d = input - target
    loss = 0.5 * (ember.log(var) + d * d / var)
    if full:
        loss = loss + 0.5 * float(np.log(2 * np.pi))
    return _reduce(loss, reduction)
