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
        buf = state.get("momentum_buffer")
        first = momentum != 0 and buf is None
        if first:  # in p's layout, as torch's clone of grad (filled by the kernel)
            buf = state["momentum_buffer"] = Tensor._make(np.empty_like(p, dtype=g.dtype))
        b = None if buf is None or momentum == 0 else buf._data
        args = (first, wd, momentum, 1 - group["dampening"], group["nesterov"],
                _scalar(group["lr"]))
        if p.size < 2 * _CHUNK or not (p.flags.c_contiguous and g.flags.c_contiguous
                                       and g.shape == p.shape
                                       and (b is None or b.flags.c_contiguous)):
            _sgd_kernel(p, g, b, self._scratch(p), *args)  # lr * g into a reused buffer
            return
        # large parameters: the same elementwise math on flat chunks of _CHUNK elements, so
        # each chunk's 4 passes run in cache (one memory pass over p, g and buf instead of 4;
        # lr * g in one chunk-sized scratch). Not split over ember's threads: the MLP step at
        # 2 threads ran 9.49 / 9.55 ms split against 9.12 / 9.30 on one (medians of 80 steps
        # interleaved, /tmp/mlp_sgd.py)
        fp, fg = p.reshape(-1), g.reshape(-1)
        fb = None if b is None else b.reshape(-1)
        step = np.empty(_CHUNK, p.dtype)
        for k in range(0, p.size, _CHUNK):
            e = min(p.size, k + _CHUNK)
            _sgd_kernel(fp[k:e], fg[k:e], None if fb is None else fb[k:e], step[:e - k], *args)

    def _scratch(self, p: NDArray) -> NDArray:
        """A reusable array of p's shape and dtype (shared by same-shaped parameters, which are
        updated one after the other), so a step allocates nothing."""
        key = (p.shape, p.dtype)
        scratch = self.__dict__.setdefault("_scratch_arrays", {})
        if key not in scratch:
            scratch[key] = np.empty(p.shape, p.dtype)
        return scratch[key]  # type: ignore[no-any-return]


def _sgd_kernel(p: NDArray, g: NDArray, b: NDArray | None, step: NDArray, first: bool, wd: Any,
                momentum: float, damp: float, nesterov: bool, lr: Any) -> None:
    """torch's single-tensor SGD update, operation for operation, in place on p and b (whole
    arrays or matching flat slices of them); `first`: b is new and takes g (torch's clone)."""
    if wd != 0:
        g = g + wd * p
    if b is not None:
        if first:
            np.copyto(b, g)
        else:
            b *= momentum
            b += g if damp == 1 else damp * g  # g * 1.0 is g: no temporary for the default
        g = g + momentum * b if nesterov else b
    np.multiply(g, lr, out=step)
    p -= step


# elements per chunk: 4 arrays of 128 KiB stay in a core's L2 (2 MiB here) through the chunk's
# 4 passes. SGD update of the MLP's 669K parameters, CPU ms at 1 thread, medians
# (/tmp/pt/sgd_mb.py): whole arrays 1.36, chunks of 8K 1.84, 16K 1.44, 32K 1.19, 64K 1.24
_CHUNK = 1 << 15
