"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.optim.adam import _check_betas
from ember.optim.optimizer import (
    NDArray, Optimizer, _check_same_dtype, _lerp_, _scalar, _step_tensor, _zeros_like,
)
from ember.tensor import Tensor

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Matches `torch.optim.Adamax`. foreach and capturable are accepted and ignored."""

    def __init__(self, params: Any, lr: float | Tensor = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _check_betas(lr, eps, betas, weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _step_tensor()
        state["exp_avg"] = _zeros_like(p)
        state["exp_inf"] = _zeros_like(p)

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        state["step"]._data += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        exp_avg, exp_inf = state["exp_avg"]._data, state["exp_inf"]._data
        _check_same_dtype(exp_avg, g)
        _lerp_(exp_avg, g, 1 - beta1)
        exp_inf *= beta2
        norm = np.abs(g)
        norm += group["eps"]
        np.maximum(exp_inf, norm, out=exp_inf)
        clr = _scalar(group["lr"]) / (1 - beta1 ** float(state["step"]._data))
        p -= clr * exp_avg / exp_inf
