"""nn.init: in-place initialisers, computed in torch's order so a seed gives torch's weights."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ember.autograd.grad_mode import no_grad
from ember.random import Generator
from ember.tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "sparse_", "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform",
    "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse",
]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d")


def _write(tensor: Tensor, values: Any) -> Tensor:
    """Write values into the tensor's memory (an in-place update under no_grad)."""
    np.copyto(tensor._data, values, casting="unsafe")
    tensor._version_ref[0] += 1
    return tensor


def _uniform(tensor: Tensor, a: float, b: float, generator: Generator | None) -> Tensor:
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)  # type: ignore[no-any-return]


def _normal(tensor: Tensor, mean: float, std: float, generator: Generator | None) -> Tensor:
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)  # type: ignore[no-any-return]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Matches `torch.nn.init.calculate_gain`."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: Generator | None = None) -> Tensor:
    """Matches `torch.nn.init.uniform_`."""
    return _uniform(tensor, a, b, generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Generator | None = None) -> Tensor:
    """Matches `torch.nn.init.normal_`."""
    return _normal(tensor, mean, std, generator)


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: Generator | None = None) -> Tensor:
    """Matches `torch.nn.init.trunc_normal_`: normals outside [a, b] are redrawn (or, when
    little mass lies inside, uniforms on [a, b] are accepted by rejection), as torch does."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The "
                      "distribution of values may be incorrect.", stacklevel=2)
    p = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std)
    with no_grad():
        if p > 0.3:
            _trunc_by_redraw(tensor, mean, std, a, b, generator)
        else:
            _trunc_by_rejection(tensor, mean, std, a, b, generator)
    return tensor


def _trunc_by_redraw(tensor: Tensor, mean: float, std: float, a: float, b: float,
                     generator: Generator | None) -> None:
    dt = tensor._data.dtype
    lo, hi = np.asarray(a, dt), np.asarray(b, dt)  # the bounds in the tensor's dtype, as torch
    result = np.array(tensor.normal_(mean, std, generator=generator)._data)
    while True:
        mask = (result < lo) | (result > hi)
        if not mask.any():
            break
        fresh = Tensor._make(np.empty_like(result)).normal_(mean, std, generator=generator)
        result = np.where(mask, fresh._data, result)
    _write(tensor, result)


def _trunc_by_rejection(tensor: Tensor, mean: float, std: float, a: float, b: float,
                        generator: Generator | None) -> None:
    mode = max(a, min(mean, b))
    log_peak = -0.5 * ((mode - mean) / std) ** 2
    dt = tensor._data.dtype

    def log_density(x: np.ndarray) -> np.ndarray:
        return (((x - dt.type(mean)) / dt.type(std)) ** 2 * dt.type(-0.5)  # type: ignore[no-any-return]
                - dt.type(log_peak))

    def reject(cand: np.ndarray) -> np.ndarray:
        u = Tensor._make(np.empty_like(cand)).uniform_(generator=generator)._data
        return np.log(u) > log_density(cand)  # type: ignore[no-any-return]

    result = np.array(tensor.uniform_(a, b, generator=generator)._data)
    pending = reject(result)
    while pending.any():
        cand = Tensor._make(np.empty_like(result)).uniform_(a, b, generator=generator)._data
        result = np.where(pending, cand, result)
        pending = np.where(pending, reject(cand), pending)
    _write(tensor, result)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Matches `torch.nn.init.constant_`."""
    return _write(tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    """Matches `torch.nn.init.ones_`."""
    return _write(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Matches `torch.nn.init.zeros_`."""
    return _write(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """Matches `torch.nn.init.eye_`."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _write(tensor, np.eye(*tensor._data.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Matches `torch.nn.init.dirac_`."""
    dims = tensor.ndim
    if dims not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor._data.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = sizes[0] // groups
    values = np.zeros(sizes, tensor._data.dtype)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min(per_group, sizes[1])):
            values[(g * per_group + d, d, *centre)] = 1
    return _write(tensor, values)


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         "dimensions")
    receptive_field_size = 1
    for s in tensor.shape[2:]:
        receptive_field_size *= s
    return tensor.shape[1] * receptive_field_size, tensor.shape[0] * receptive_field_size


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: Generator | None = None) -> Tensor:
    """Matches `torch.nn.init.xavier_uniform_`."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std  # the bound in torch's float order (bit-identical weights)
    return _uniform(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: Generator | None = None) -> Tensor:
    """Matches `torch.nn.init.xavier_normal_`."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _normal(tensor, 0.0, std, generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Tensor:
    """Matches `torch.nn.init.kaiming_uniform_`."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std  # this order gives torch's bound to the last bit
    return _uniform(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Tensor:
    """Matches `torch.nn.init.kaiming_normal_`."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return _normal(tensor, 0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Generator | None = None) -> Tensor:
    """Matches `torch.nn.init.orthogonal_` (QR of a normal matrix, signs fixed by diag(R))."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = Tensor._make(np.empty((rows, cols), tensor._data.dtype))
    flat = flat.normal_(0, 1, generator=generator)._data
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, q.reshape(tensor._data.shape) * gain)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01,
            generator: Generator | None = None) -> Tensor:
    """Matches `torch.nn.init.sparse_`."""
    from ember.random import randperm

    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor._data.shape
    num_zeros = math.ceil(sparsity * rows)
    _normal(tensor, 0, std, generator)
    for col in range(cols):
        tensor._data[randperm(rows)._data[:num_zeros], col] = 0
    return tensor


def _make_deprecate(meth: Callable[..., Tensor]) -> Callable[..., Tensor]:
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args: Any, **kwargs: Any) -> Tensor:
        warnings.warn(f"`nn.init.{old_name}` is now deprecated in favor of "
                      f"`nn.init.{new_name}`.", FutureWarning, stacklevel=2)
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = (f"Deprecated alias of `{new_name}`. Matches "
                               f"`torch.nn.init.{old_name}`.")
    deprecated_init.__name__ = old_name
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)
