"""Adam and AdamW (decoupled weight decay), with AMSGrad."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember._parallel import parallel_for
from ember.optim.optimizer import (
    NDArray, Optimizer, _check_same_dtype, _lerp_, _scalar, _step_tensor, _zeros_like,
)
from ember.tensor import Tensor

__all__ = ["Adam", "AdamW"]


def _check_betas(lr: Any, eps: float, betas: tuple[Any, Any], weight_decay: float) -> None:
    """The argument checks Adam, Adamax, NAdam and RAdam share, with torch's messages."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    """Matches `torch.optim.Adam`. foreach, fused and capturable are accepted and ignored."""

    def __init__(self, params: Any, lr: float | Tensor = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        _check_betas(lr, eps, betas, weight_decay)
        if isinstance(betas[0], Tensor) != isinstance(betas[1], Tensor):
            raise ValueError("betas must be either both floats or both Tensors")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                    "capturable": capturable, "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        state["step"] = _step_tensor()
        state["exp_avg"] = _zeros_like(p)
        state["exp_avg_sq"] = _zeros_like(p)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = _zeros_like(p)

    def _scratch(self, p: NDArray) -> tuple[NDArray, NDArray]:
        """Two work arrays shaped like p, views of flat per-dtype buffers that grow to the largest
        parameter and live with the optimizer (not in its state: state_dict stays torch's)."""
        cache: dict[Any, NDArray] = self.__dict__.setdefault("_work", {})
        flat = cache.get(p.dtype)
        if flat is None or flat.shape[1] < p.size:
            flat = cache[p.dtype] = np.empty((2, p.size), dtype=p.dtype)
        return flat[0, :p.size].reshape(p.shape), flat[1, :p.size].reshape(p.shape)

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        """torch's single-tensor (foreach=False) Adam, operation for operation, in place: the
        same roundings, no temporaries beyond two reused work arrays."""
        lr, wd, eps = _scalar(group["lr"]), group["weight_decay"], group["eps"]
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
        state["step"]._data += 1
        step = float(state["step"]._data)
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p *= 1 - lr * wd
            else:
                g = g + wd * p
        _check_same_dtype(exp_avg, g)
        if g.shape != p.shape or g.dtype != p.dtype or exp_avg_sq.dtype != p.dtype:
            self._update_composed(p, g, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, step, state,
                                  group)
            return
        buf, buf2 = self._scratch(p)
        step_size = lr / (1 - beta1**step)
        bc2_sqrt = (1 - beta2**step) ** 0.5
        vmax = state["max_exp_avg_sq"]._data if group["amsgrad"] else None
        arrays = (p, g, exp_avg, exp_avg_sq, vmax, buf, buf2)
        args = (1 - beta1, beta2, step_size, bc2_sqrt, eps)
        if p.size < 2 * _GRAIN or not all(a is None or a.flags.c_contiguous for a in arrays):
            _adam_kernel(*arrays, *args)
            return
        fp, fg, fm, fv, fb, fb2 = (a.reshape(-1) for a in (p, g, exp_avg, exp_avg_sq, buf, buf2))
        fx = None if vmax is None else vmax.reshape(-1)  # all views: contiguous

        def run(i: int, j: int) -> None:  # elementwise: any split gives the same bits
            _adam_kernel(fp[i:j], fg[i:j], fm[i:j], fv[i:j], None if fx is None else fx[i:j],
                         fb[i:j], fb2[i:j], *args)

        parallel_for(run, p.size, _GRAIN)

    @staticmethod
    def _update_composed(p: NDArray, g: NDArray, exp_avg: NDArray, exp_avg_sq: NDArray,
                         lr: Any, beta1: Any, beta2: Any, eps: float, step: float,
                         state: dict[str, Any], group: dict[str, Any]) -> None:
        """The written-out update (mixed dtypes or shapes; the tests' reference)."""
        _lerp_(exp_avg, g, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * g * g  # torch's addcmul order
        step_size = lr / (1 - beta1**step)
        bc2_sqrt = (1 - beta2**step) ** 0.5
        if group["amsgrad"]:
            v = state["max_exp_avg_sq"]._data
            np.maximum(v, exp_avg_sq, out=v)
        else:
            v = exp_avg_sq
        denom = np.sqrt(v)
        denom /= bc2_sqrt
        denom += eps
        p -= step_size * exp_avg / denom  # torch's addcdiv order


# elements per thread at least: the GPT's 49K-65K-element weights split in two ran slower with 2
# threads than with 1 (AdamW step 5.2-7.4 -> 5.9-8.1 ms, /tmp/adam_ab.py: ~10 us NumPy calls, so
# the threads wait on the GIL), so only much larger parameters are split
_GRAIN = 1 << 18


def _adam_kernel(p: NDArray, g: NDArray, exp_avg: NDArray, exp_avg_sq: NDArray,
                 vmax: NDArray | None, buf: NDArray, buf2: NDArray, w: float, beta2: float,
                 step_size: float, bc2_sqrt: float, eps: float) -> None:
    """torch's single-tensor Adam update after weight decay, operation for operation, in place
    on same-shaped arrays (whole parameters or matching slices of them)."""
    if abs(w) < 0.5:  # exp_avg.lerp_(g, w) = exp_avg + w (g - exp_avg)
        np.subtract(g, exp_avg, out=buf)
        buf *= w
        exp_avg += buf
    else:
        _lerp_(exp_avg, g, w)
    exp_avg_sq *= beta2
    np.multiply(g, 1 - beta2, out=buf)  # addcmul: ((1 - beta2) g) g
    buf *= g
    exp_avg_sq += buf
    v = exp_avg_sq
    if vmax is not None:
        np.maximum(vmax, exp_avg_sq, out=vmax)
        v = vmax
    np.sqrt(v, out=buf)  # denom = sqrt(v) / bc2_sqrt + eps
    buf /= bc2_sqrt
    buf += eps
    np.multiply(exp_avg, step_size, out=buf2)  # addcdiv: p - (step_size exp_avg) / denom
    buf2 /= buf
    p -= buf2


class AdamW(Adam):
    """Matches `torch.optim.AdamW`: Adam with decoupled weight decay (default 0.01)."""

    def __init__(self, params: Any, lr: float | Tensor = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
