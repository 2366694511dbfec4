"""Weight averaging (SWA, EMA): AveragedModel, SWALR, update_bn, as `torch.optim.swa_utils`."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from copy import deepcopy
from typing import Any

import numpy as np

from ember.autograd import no_grad
from ember.nn.modules.module import Module
from ember.optim.lr_scheduler import LRScheduler, _format_param
from ember.optim.optimizer import Optimizer, _lerp_
from ember.tensor import Tensor

__all__ = ["AveragedModel", "SWALR", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn",
           "get_swa_multi_avg_fn", "update_bn"]

ParamList = Sequence[Tensor]


def _bump(t: Tensor) -> None:
    t._version_ref[0] += 1


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] "
                         "range.")


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[ParamList, ParamList, Any], None]:
    """Matches `torch.optim.swa_utils.get_ema_multi_avg_fn`: `ema.lerp_(param, 1 - decay)` for
    every pair, in place."""
    _check_decay(decay)

    def ema_update(ema_param_list: ParamList, current_param_list: ParamList, _: Any) -> None:
        floating = ema_param_list[0].is_floating_point()
        for ema, cur in zip(ema_param_list, current_param_list, strict=True):
            if floating:
                _lerp_(ema._data, cur._data, 1 - decay)
            else:  # integer buffers: computed in float64 and cast back, as torch's copy_
                ema._data[...] = ema._data * decay + cur._data * (1 - decay)
            _bump(ema)

    return ema_update


def get_swa_multi_avg_fn() -> Callable[[ParamList, ParamList, Any], None]:
    """Matches `torch.optim.swa_utils.get_swa_multi_avg_fn`: the running mean, in place."""

    def swa_update(averaged_param_list: ParamList, current_param_list: ParamList,
                   num_averaged: Tensor | int) -> None:
        if not averaged_param_list[0].is_floating_point():
            # torch's integer path ends in addcdiv_/add_(alpha=float), both refused for ints
            raise RuntimeError(
                "Integer division with addcdiv is no longer supported" if
                isinstance(num_averaged, Tensor) else
                "For integral input tensors, argument alpha must not be a floating point number.")
        n = float(num_averaged._data) if isinstance(num_averaged, Tensor) else num_averaged
        for avg, cur in zip(averaged_param_list, current_param_list, strict=True):
            _lerp_(avg._data, cur._data, 1 / (n + 1))
            _bump(avg)

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Tensor, Tensor, Any], Tensor]:
    """Matches `torch.optim.swa_utils.get_ema_avg_fn`."""
    _check_decay(decay)

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable[[Tensor, Tensor, Any], Tensor]:
    """Matches `torch.optim.swa_utils.get_swa_avg_fn`."""

    def swa_update(averaged_param: Tensor, current_param: Tensor,
                   num_averaged: Tensor | int) -> Tensor:
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    """Matches `torch.optim.swa_utils.AveragedModel`: a deep copy of `model` whose parameters
    (and buffers, with `use_buffers=True`) are averaged by `update_parameters`; the running
    mean (SWA) unless `avg_fn` / `multi_avg_fn` say otherwise (e.g. EMA)."""

    def __init__(self, model: Module, device: Any = None,
                 avg_fn: Callable[[Tensor, Tensor, Any], Tensor] | None = None,
                 multi_avg_fn: Callable[[ParamList, ParamList, Any], None] | None = None,
                 use_buffers: bool = False) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", Tensor._make(np.array(0, dtype=np.int64)))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Matches `torch.optim.swa_utils.AveragedModel.update_parameters`."""
        if self.use_buffers:
            ours: Iterable[Tensor] = itertools.chain(self.module.parameters(),
                                                     self.module.buffers())
            theirs: Iterable[Tensor] = itertools.chain(model.parameters(), model.buffers())
        else:
            ours, theirs = self.parameters(), model.parameters()
        n = int(self.n_averaged._data)
        pairs = [(a.detach(), m.detach()) for a, m in zip(ours, theirs, strict=False)]
        with no_grad():
            if n == 0:
                for a, m in pairs:
                    a.copy_(m)
            elif self.multi_avg_fn is not None or self.avg_fn is None:
                # torch groups by (device, dtype) and calls the list function once per group
                groups: dict[Any, tuple[list[Tensor], list[Tensor]]] = {}
                for a, m in pairs:
                    g = groups.setdefault(str(a.dtype), ([], []))
                    g[0].append(a)
                    g[1].append(m)
                for avg, cur in groups.values():
                    if self.multi_avg_fn is not None:
                        self.multi_avg_fn(avg, cur, self.n_averaged)
                    else:  # torch's CPU path: the per-tensor running mean
                        swa = get_swa_avg_fn()
                        for a, m in zip(avg, cur, strict=True):
                            a.copy_(swa(a, m, self.n_averaged))
            else:
                for a, m in pairs:
                    a.copy_(self.avg_fn(a, m, self.n_averaged))
            if not self.use_buffers:
                for b_avg, b_model in zip(self.module.buffers(), model.buffers(), strict=True):
                    b_avg.detach().copy_(b_model.detach())
        self.n_averaged._data += 1
        _bump(self.n_averaged)


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Matches `torch.optim.swa_utils.update_bn`: one pass over `loader` in train mode with
    every BatchNorm's running statistics reset and averaged cumulatively (momentum None)."""
    from ember.nn.modules.normalization import _BatchNorm

    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for input in loader:
            if isinstance(input, (list, tuple)):
                input = input[0]
            if device is not None:
                input = input.to(device)
            model(input)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Matches `torch.optim.swa_utils.SWALR`: anneals each group's lr to `swa_lr` over
    `anneal_epochs` steps (cosine or linear), then holds it."""

    def __init__(self, optimizer: Optimizer, swa_lr: float | list[float],
                 anneal_epochs: int = 10, anneal_strategy: str = "cos",
                 last_epoch: int = -1) -> None:
        swa_lrs = _format_param("swa_lr", optimizer, swa_lr)
        for lr, group in zip(swa_lrs, optimizer.param_groups, strict=True):
            group["swa_lr"] = lr
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError("anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got "
                             f"{anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def get_lr(self) -> list[Any]:
        """Matches `torch.optim.swa_utils.SWALR.get_lr`: recovers the lr before annealing from
        the current one, then moves a step further towards `swa_lr`."""
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, please use "
                          "`get_last_lr()`.", UserWarning, stacklevel=2)
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
                    for group in self.optimizer.param_groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [group["swa_lr"] * alpha + lr * (1 - alpha)
                for group, lr in zip(self.optimizer.param_groups, prev_lrs, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        """Matches `torch.optim.swa_utils.SWALR.state_dict`: everything but the optimizer and
        the anneal function (rebuilt from its name on load)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Matches `torch.optim.swa_utils.SWALR.load_state_dict`."""
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
