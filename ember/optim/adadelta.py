"""Adadelta."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.optim.optimizer import NDArray, Optimizer, _scalar, _step_tensor, _zeros_like
from ember.tensor import Tensor

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Matches `torch.optim.Adadelta`. foreach and capturable are accepted and ignored."""

    def __init__(self, params: Any, lr: float | Tensor = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "capturable": capturable, "foreach": foreach,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _step_tensor()
        state["square_avg"] = _zeros_like(p)
        state["acc_delta"] = _zeros_like(p)

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        rho, eps = group["rho"], group["eps"]
        state["step"]._data += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        sq, acc = state["square_avg"]._data, state["acc_delta"]._data
        sq *= rho
        sq += (1 - rho) * g * g
        std = np.sqrt(sq + eps)
        delta = np.sqrt(acc + eps)
        delta /= std
        delta *= g
        acc *= rho
        acc += (1 - rho) * delta * delta
        p -= _scalar(group["lr"]) * delta
