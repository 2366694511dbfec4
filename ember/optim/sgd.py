"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.optim.optimizer import NDArray, Optimizer, _scalar
from ember.tensor import Tensor

__all__ = ["SGD"]


class SGD(Optimizer):
    """Matches `torch.optim.SGD`. foreach and fused are accepted and ignored."""

    def __init__(self, params: Any, lr: float | Tensor = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float | Tensor = 0,
                 nesterov: bool = False, *, maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach, "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        # In place on p and the momentum buffer, with torch's arithmetic (buf = buf * m +
        # (1 - dampening) * g; p = p - lr * g); the gradient array itself is never written.
        wd, momentum = _scalar(group["weight_decay"]), group["momentum"]
        if wd != 0:
            g = g + wd * p
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                b = np.empty_like(p, dtype=g.dtype)  # in p's layout, as torch's clone of grad
                np.copyto(b, g)
                state["momentum_buffer"] = Tensor._make(b)
            else:
                b = buf._data
                b *= momentum
                damp = 1 - group["dampening"]
                b += g if damp == 1 else damp * g  # g * 1.0 is g: no temporary for the default
            g = g + momentum * b if group["nesterov"] else b
        step = self._scratch(p)  # lr * g, into a buffer reused across steps
        np.multiply(g, _scalar(group["lr"]), out=step)
        p -= step

    def _scratch(self, p: NDArray) -> NDArray:
        """A reusable array of p's shape and dtype (shared by same-shaped parameters, which are
        updated one after the other), so a step allocates nothing."""
        key = (p.shape, p.dtype)
        scratch = self.__dict__.setdefault("_scratch_arrays", {})
        if key not in scratch:
            scratch[key] = np.empty(p.shape, p.dtype)
        return scratch[key]  # type: ignore[no-any-return]
