"""Muon: momentum SGD whose update is orthogonalised by a Newton-Schulz iteration (2-d only)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.optim.optimizer import NDArray, Optimizer, _lerp_, _scalar
from ember.tensor import Tensor

__all__ = ["Muon"]

EPS = 1e-7
DEFAULT_A = 3.4445
DEFAULT_B = -4.7750
DEFAULT_C = 2.0315
DEFAULT_NS_STEPS = 5


def _bf16(x: NDArray) -> NDArray:
    """Round float32 values to bfloat16 and back: torch runs the iteration in bfloat16, each
    op accumulating in float32 and rounding its result once."""
    return x.astype(_dt.bfloat16.to_numpy()).astype(np.float32)


def _zeropower_via_newtonschulz(grad: NDArray, ns_coefficients: tuple[float, float, float],
                                ns_steps: int, eps: float) -> NDArray:
    """torch's quintic Newton-Schulz iteration towards the orthogonal factor U V^T of `grad`
    (R, C), computed on the wide orientation (min(R, C), max(R, C)); bfloat16 values."""
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if grad.ndim != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = ns_coefficients
    x = _bf16(grad.astype(np.float32))
    tall = grad.shape[0] > grad.shape[1]
    if tall:
        x = x.T
    norm = _bf16(np.sqrt(np.sum(x * x, dtype=np.float32, keepdims=True)))  # (1, 1)
    x = _bf16(x / np.maximum(norm, _bf16(np.full((1, 1), eps, dtype=np.float32))))
    for _ in range(ns_steps):
        gram = _bf16(x @ x.T)  # (m, m), m = min(R, C)
        gram_update = _bf16(b * gram + c * (gram @ gram))  # addmm(gram, gram, gram, b, c)
        x = _bf16(a * x + gram_update @ x)  # addmm(x, gram_update, x, beta=a)
    return x.T if tall else x


def _adjust_lr(lr: float, adjust_lr_fn: str | None, param_shape: tuple[int, ...]) -> float:
    rows, cols = param_shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, rows / cols))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        ratio = 1.0
    return lr * ratio


class Muon(Optimizer):
    """Matches `torch.optim.Muon`: for 2-d parameters only (use another optimizer for biases,
    norms and embeddings, as torch's docs advise)."""

    def __init__(self, params: Any, lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True,
                 ns_coefficients: tuple[float, float, float] = (DEFAULT_A, DEFAULT_B, DEFAULT_C),
                 eps: float = EPS, ns_steps: int = DEFAULT_NS_STEPS,
                 adjust_lr_fn: str | None = None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= _scalar(lr):
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ["original", "match_rms_adamw"]:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum,
                    "nesterov": nesterov, "ns_coefficients": ns_coefficients, "eps": eps,
                    "ns_steps": ns_steps, "adjust_lr_fn": adjust_lr_fn}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError("Muon only supports 2D parameters whereas we found a "
                                     f"parameter with size: {p.size()}")

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["momentum_buffer"] = Tensor._make(np.zeros_like(p._data))

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        if g.ndim != 2:
            raise ValueError("Param gradient must be a 2D matrix")
        lr, momentum = _scalar(group["lr"]), group["momentum"]
        buf = state["momentum_buffer"]._data
        _lerp_(buf, g, 1 - momentum)
        if group["nesterov"]:
            update = g.copy()
            _lerp_(update, buf, momentum)
        else:
            update = buf
        ortho = _zeropower_via_newtonschulz(update, group["ns_coefficients"], group["ns_steps"],
                                            group["eps"])
        adjusted = _adjust_lr(lr, group["adjust_lr_fn"], p.shape)
        p *= 1 - lr * group["weight_decay"]
        p -= adjusted * ortho.astype(p.dtype)  # the bfloat16 update promoted to p.dtype
