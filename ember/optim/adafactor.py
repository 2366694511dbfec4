"""Adafactor: Adam-like steps with the second moment factored into row and column means."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ember.optim.optimizer import NDArray, Optimizer, _lerp_, _scalar, _step_tensor
from ember.tensor import Tensor

__all__ = ["Adafactor"]


class Adafactor(Optimizer):
    """Matches `torch.optim.Adafactor` (torch's variant: `lr` caps the relative step size and
    scales weight decay). foreach is accepted and ignored."""

    def __init__(self, params: Any, lr: float | Tensor = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach: bool | None = None,
                 maximize: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= _scalar(lr):
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d,
                    "weight_decay": weight_decay, "foreach": foreach, "maximize": maximize}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _step_tensor()
        shape = p.shape
        if len(shape) > 1:  # factored: (..., R, 1) row means and (..., 1, C) column means
            state["row_var"] = Tensor._make(np.zeros((*shape[:-1], 1), dtype=p._data.dtype))
            state["col_var"] = Tensor._make(np.zeros((*shape[:-2], 1, shape[-1]),
                                                     dtype=p._data.dtype))
        else:
            state["variance"] = Tensor._make(np.zeros_like(p._data))

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        lr, d, wd = _scalar(group["lr"]), group["d"], group["weight_decay"]
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(p.dtype).eps)
        state["step"]._data += 1
        step = float(state["step"]._data)
        one_minus_beta2 = step ** group["beta2_decay"]
        rho = min(lr, 1 / step**0.5)
        alpha = max(eps2, float(np.sqrt(np.sum(p * p))) / math.sqrt(max(p.size, 1))) * rho
        if wd != 0:
            p *= 1 - lr * wd
        if g.ndim > 1:
            row_var, col_var = state["row_var"]._data, state["col_var"]._data
            _lerp_(row_var, np.mean(g * g, axis=-1, keepdims=True), one_minus_beta2)
            _lerp_(col_var, np.mean(g * g, axis=-2, keepdims=True), one_minus_beta2)
            var = row_var @ col_var  # (..., R, C): the rank-1 estimate of E[g^2]
            var /= np.maximum(np.mean(row_var, axis=-2, keepdims=True), eps1)
        else:
            _lerp_(state["variance"]._data, g * g, one_minus_beta2)
            var = state["variance"]._data.copy()
        update = 1 / np.sqrt(np.maximum(var, eps1 * eps1))
        update *= g
        rms = float(np.sqrt(np.sum(update * update))) / (math.sqrt(max(update.size, 1)) * d)
        p -= (alpha / max(1.0, rms)) * update
