"""ASGD (averaged stochastic gradient descent)."""

from __future__ import annotations

from typing import Any

from ember.optim.optimizer import (
    NDArray, Optimizer, _scalar, _scalar_dtype, _step_tensor, _zeros_like,
)
from ember.tensor import Tensor

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """Matches `torch.optim.ASGD`. foreach and capturable are accepted and ignored."""

    def __init__(self, params: Any, lr: float | Tensor = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                    "weight_decay": weight_decay, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _step_tensor()
        state["eta"] = _step_tensor(_scalar(group["lr"]))
        state["mu"] = _step_tensor(1.0)
        state["ax"] = _zeros_like(p)

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        lr, lambd = _scalar(group["lr"]), group["lambd"]
        eta, mu = state["eta"]._data, state["mu"]._data
        state["step"]._data += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        eta_value = float(eta)  # eta and mu are float32 scalars, as torch keeps them
        p *= 1 - lambd * eta_value
        p -= eta_value * g
        ax = state["ax"]._data
        if float(mu) != 1:
            ax += (p - ax) * mu.astype(p.dtype)
        else:
            ax[...] = p
        step = float(state["step"]._data)
        # torch goes through torch.as_tensor(float): the new values are rounded to the scalar
        # dtype even when loading made eta and mu float64
        eta[...] = _scalar_dtype()(lr / ((1 + lambd * lr * step) ** group["alpha"]))
        mu[...] = _scalar_dtype()(1 / max(1, step - group["t0"]))
