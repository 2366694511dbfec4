"""Activation layers: thin Modules over ember.nn.functional."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.nn import functional as F
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.tensor import Tensor

__all__ = ["ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid",
           "Tanh", "Softmax", "LogSoftmax", "Softmin", "Softplus", "Hardtanh", "Hardswish",
           "Hardsigmoid", "LogSigmoid", "GLU", "PReLU", "Threshold", "Softsign", "Tanhshrink",
           "Hardshrink", "Softshrink"]


class _Inplace(Module):
    """An activation with only an `inplace` flag."""

    _fn = staticmethod(F.relu)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class _Plain(Module):
    """An activation without arguments."""

    _fn = staticmethod(F.sigmoid)

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input)


class ReLU(_Inplace):
    """Matches `torch.nn.ReLU`."""

    _fn = staticmethod(F.relu)


class SELU(_Inplace):
    """Matches `torch.nn.SELU`."""

    _fn = staticmethod(F.selu)


class SiLU(_Inplace):
    """Matches `torch.nn.SiLU`."""

    _fn = staticmethod(F.silu)


class Mish(_Inplace):
    """Matches `torch.nn.Mish`."""

    _fn = staticmethod(F.mish)


class Hardswish(_Inplace):
    """Matches `torch.nn.Hardswish`."""

    _fn = staticmethod(F.hardswish)


class Hardsigmoid(_Inplace):
    """Matches `torch.nn.Hardsigmoid`."""

    _fn = staticmethod(F.hardsigmoid)


class Sigmoid(_Plain):
    """Matches `torch.nn.Sigmoid`."""

    _fn = staticmethod(F.sigmoid)


class Tanh(_Plain):
    """Matches `torch.nn.Tanh`."""

    _fn = staticmethod(F.tanh)


class LogSigmoid(_Plain):
    """Matches `torch.nn.LogSigmoid`."""

    _fn = staticmethod(F.logsigmoid)


class Softsign(_Plain):
    """Matches `torch.nn.Softsign`."""

    _fn = staticmethod(F.softsign)


class Tanhshrink(_Plain):
    """Matches `torch.nn.Tanhshrink`."""

    _fn = staticmethod(F.tanhshrink)


class Hardtanh(Module):
    """Matches `torch.nn.Hardtanh`."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn("keyword argument `min_value` is deprecated and rename to `min_val`",
                          FutureWarning, stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and rename to `max_val`",
                          FutureWarning, stacklevel=2)
            max_val = max_value
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace
        if max_val <= min_val:
            raise AssertionError

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        ip = ", inplace=True" if self.inplace else ""
        return f"min_val={self.min_val}, max_val={self.max_val}{ip}"


class ReLU6(Hardtanh):
    """Matches `torch.nn.ReLU6`."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """Matches `torch.nn.LeakyReLU`."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        ip = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{ip}"


class ELU(Module):
    """Matches `torch.nn.ELU`."""

    _fn = staticmethod(F.elu)

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        ip = ", inplace=True" if self.inplace else ""
        return f"alpha={self.alpha}{ip}"


class CELU(ELU):
    """Matches `torch.nn.CELU`."""

    _fn = staticmethod(F.celu)


class GELU(Module):
    """Matches `torch.nn.GELU`."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class _SoftmaxBase(Module):
    _fn = staticmethod(F.softmax)

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """Matches `torch.nn.Softmax`."""

    _fn = staticmethod(F.softmax)


class LogSoftmax(_SoftmaxBase):
    """Matches `torch.nn.LogSoftmax`."""

    _fn = staticmethod(F.log_softmax)


class Softmin(_SoftmaxBase):
    """Matches `torch.nn.Softmin`."""

    _fn = staticmethod(F.softmin)


class Softplus(Module):
    """Matches `torch.nn.Softplus`."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class _Shrink(Module):
    _fn = staticmethod(F.hardshrink)

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Hardshrink(_Shrink):
    """Matches `torch.nn.Hardshrink`."""

    _fn = staticmethod(F.hardshrink)


class Softshrink(_Shrink):
    """Matches `torch.nn.Softshrink`."""

    _fn = staticmethod(F.softshrink)


class GLU(Module):
    """Matches `torch.nn.GLU`."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Threshold(Module):
    """Matches `torch.nn.Threshold`."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        ip = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{ip}"


class PReLU(Module):
    """Matches `torch.nn.PReLU` (weight (num_parameters,) filled with init)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        d = _dt.get_default_dtype() if dtype is None else _dt.to_dtype(dtype)
        self.weight = Parameter(Tensor._make(np.full((num_parameters,), init, dtype=d.np)))

    def reset_parameters(self) -> None:
        self.weight._data[...] = self.init

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
