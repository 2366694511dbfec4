"""NAdam: Adam with Nesterov momentum and momentum decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.optim.adam import _check_betas
from ember.optim.optimizer import (
    NDArray, Optimizer, _check_same_dtype, _lerp_, _scalar, _step_tensor, _zeros_like,
)
from ember.tensor import Tensor

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """Matches `torch.optim.NAdam`. foreach and capturable are accepted and ignored."""

    def __init__(self, params: Any, lr: float | Tensor = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_betas(lr, eps, betas, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
                    "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _step_tensor()
        state["mu_product"] = _step_tensor(1.0)
        state["exp_avg"] = _zeros_like(p)
        state["exp_avg_sq"] = _zeros_like(p)

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        lr, wd, md = _scalar(group["lr"]), group["weight_decay"], group["momentum_decay"]
        beta1, beta2 = group["betas"]
        state["step"]._data += 1
        step = float(state["step"]._data)
        bias_correction2 = 1 - beta2**step
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p *= 1 - lr * wd
            else:
                g = g + wd * p
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * md)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * md)))
        mu_product = state["mu_product"]._data
        mu_product *= mu  # a float32 product, as torch keeps it
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
        _check_same_dtype(exp_avg, g)
        _lerp_(exp_avg, g, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * g * g
        denom = np.sqrt(exp_avg_sq / bias_correction2)
        denom += group["eps"]
        mu_prod = float(mu_product)
        p += (-lr * (1.0 - mu) / (1.0 - mu_prod)) * g / denom
        p += ((-lr * mu_next) / (1.0 - mu_prod * mu_next)) * exp_avg / denom
