"""Gradient clipping: clip_grad_norm_, clip_grad_value_, get_total_norm, clip_grads_with_norm_."""

from __future__ import annotations

import types
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from ember.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_"]

TensorOrTensors = Tensor | Iterable[Tensor]


def _vector_norm(a: np.ndarray, p: float) -> np.ndarray:
    """torch.linalg.vector_norm of a flattened array, returned as a 0-d array of a's dtype."""
    x = np.abs(a.ravel())  # powers in a's dtype (as torch), sums in float64
    if p == float("inf"):
        r = x.max(initial=0.0)
    elif p == float("-inf"):
        r = x.min(initial=float("inf"))
    elif p == 0:
        r = np.count_nonzero(x)
    elif p == 1:
        r = x.sum(dtype=np.float64)
    elif p == 2:
        r = np.sqrt((x * x).sum(dtype=np.float64))
    else:
        r = (x ** x.dtype.type(p)).sum(dtype=np.float64) ** (1.0 / p)
    return np.asarray(r, dtype=a.dtype)


def get_total_norm(tensors: TensorOrTensors, norm_type: float | str = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Matches `torch.nn.utils.get_total_norm`: the norm of the per-tensor norms."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    p = float(norm_type)
    if not tensors:
        return Tensor._make(np.asarray(0.0, np.float32))
    norms = [_vector_norm(t._data, p) for t in tensors]
    stacked = np.stack(norms) if len({n.dtype for n in norms}) == 1 else np.stack(
        [n.astype(np.result_type(*norms)) for n in norms])
    total = _vector_norm(stacked, p)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {p} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite "
            "norm anyway, set `error_if_nonfinite=False`")
    return Tensor._make(total)


def clip_grads_with_norm_(parameters: TensorOrTensors, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Matches `torch.nn.utils.clip_grads_with_norm_`: grad *= min(1, max_norm / (total + 1e-6))."""
    params = [parameters] if isinstance(parameters, Tensor) else parameters
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    t = total_norm._data
    f = t.dtype.type
    # torch computes `max_norm / x` as reciprocal(x) * max_norm, in the norm's dtype
    coef = np.minimum((f(1) / (t + f(1e-6))) * f(float(max_norm)), f(1.0))
    with np.errstate(invalid="ignore"):  # a non-finite norm gives nan grads, as in torch
        for g in grads:
            np.multiply(g._data, coef.astype(g._data.dtype), out=g._data, casting="unsafe")
            g._version_ref[0] += 1


def clip_grad_norm_(parameters: TensorOrTensors, max_norm: float,
                    norm_type: float | str = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Matches `torch.nn.utils.clip_grad_norm_`: returns the total norm before clipping."""
    if isinstance(parameters, Tensor):
        params: list[Tensor] = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        params = list(parameters)
        if is_generator and not params:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=2)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters: TensorOrTensors, max_norm: float, norm_type: float | str = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Matches the deprecated `torch.nn.utils.clip_grad_norm`."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: TensorOrTensors, clip_value: float,
                     foreach: bool | None = None) -> None:
    """Matches `torch.nn.utils.clip_grad_value_`: clamps each grad to [-clip_value, clip_value]."""
    params = [parameters] if isinstance(parameters, Tensor) else parameters
    v = float(clip_value)
    for p in params:
        g: Any = p.grad
        if g is not None:
            np.clip(g._data, -v, v, out=g._data, casting="unsafe")
            g._version_ref[0] += 1
