"""Adagrad, with lr decay and an initial accumulator value."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.optim.optimizer import NDArray, Optimizer, _scalar, _step_tensor
from ember.tensor import Tensor

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Matches `torch.optim.Adagrad`: state is created in the constructor, as torch does.

    foreach and fused are accepted and ignored.
    """

    def __init__(self, params: Any, lr: float | Tensor = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError("Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group, self.state[p])

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _step_tensor()
        state["sum"] = Tensor._make(
            np.full_like(p._data, self.defaults["initial_accumulator_value"]))

    def share_memory(self) -> None:
        """Matches `torch.optim.Adagrad.share_memory` (a no-op for NumPy arrays)."""

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        state["step"]._data += 1
        step = float(state["step"]._data)
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        clr = _scalar(group["lr"]) / (1 + (step - 1) * group["lr_decay"])
        s = state["sum"]._data
        s += g * g
        std = np.sqrt(s)
        std += group["eps"]
        p -= clr * g / std
