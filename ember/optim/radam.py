"""RAdam: Adam with a rectified adaptive learning rate."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.optim.adam import _check_betas
from ember.optim.optimizer import (
    NDArray, Optimizer, _check_same_dtype, _lerp_, _scalar, _step_tensor, _zeros_like,
)
from ember.tensor import Tensor

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """Matches `torch.optim.RAdam`. foreach and capturable are accepted and ignored."""

    def __init__(self, params: Any, lr: float | Tensor = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_betas(lr, eps, betas, weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "decoupled_weight_decay": decoupled_weight_decay,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _step_tensor()
        state["exp_avg"] = _zeros_like(p)
        state["exp_avg_sq"] = _zeros_like(p)

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        lr, wd = _scalar(group["lr"]), group["weight_decay"]
        beta1, beta2 = group["betas"]
        state["step"]._data += 1
        step = float(state["step"]._data)
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p *= 1 - lr * wd
            else:
                g = g + wd * p
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
        _check_same_dtype(exp_avg, g)
        _lerp_(exp_avg, g, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * g * g
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        corrected = exp_avg / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            sq = np.sqrt(exp_avg_sq)
            sq += group["eps"]
            p -= corrected * lr * ((bias_correction2**0.5) / sq) * rect
        else:
            p -= corrected * lr
