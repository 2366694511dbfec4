"""Tensor creation (tensor, zeros, arange, ...) and conversion primitives (to, clone)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.autograd.function import Node, Primitive
from ember.ops.common import shape_arg
from ember.size import device as _device
from ember.tensor import Tensor, _check_can_require_grad

NDArray = np.ndarray

# public functions (grows as ops land); ember.ops and the ember namespace re-export these
__all__ = [
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "zeros_like",
    "ones_like", "empty_like", "full_like", "clone", "to", "is_tensor",
]


def _finish(arr: NDArray, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr)
    if requires_grad:
        _check_can_require_grad(t.dtype, factory=True)
        t._requires_grad = True
    return t


def _strip_tensors(data: Any) -> Any:
    """Nested lists may hold Tensors (e.g. a list of 0-dim tensors): use their arrays."""
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)):
        return [_strip_tensors(d) for d in data]
    return data


def _infer_array(data: Any, dtype: _dt.dtype | None) -> NDArray:
    if isinstance(data, np.ndarray):
        if dtype is None:
            _dt.from_numpy_dtype(data.dtype)  # refuses dtypes torch lacks
            return data
        return data.astype(dtype.to_numpy())
    arr = np.array(_strip_tensors(data))
    if arr.dtype == object or arr.dtype.kind in "SUc":
        raise TypeError(f"Could not infer dtype of {type(data).__name__}" if arr.dtype.kind != "c"
                        else "complex tensors are not supported by ember")
    if dtype is not None:
        return arr.astype(dtype.to_numpy())
    if arr.dtype.kind == "f":
        if isinstance(data, (np.floating, np.ndarray)):  # NumPy scalars keep their dtype
            return arr
        return arr.astype(_dt.get_default_dtype().to_numpy())
    if arr.dtype.kind in "iu":
        return arr if isinstance(data, np.integer) else arr.astype(np.int64)
    return arr


def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """Matches `torch.tensor`: always copies; infers int64/float32/bool from Python data."""
    if device is not None:
        _device(device)
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use sourceTensor.detach()."
            "clone() or sourceTensor.detach().clone().requires_grad_(True), rather than "
            "torch.tensor(sourceTensor).",
            UserWarning,
            stacklevel=2,
        )
        data = data._data
    d = None if dtype is None else _dt.to_dtype(dtype)
    arr = np.array(_infer_array(data, d), copy=True)
    return _finish(arr, requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Matches `torch.as_tensor`: shares memory with a NumPy array or Tensor when it can."""
    d = None if dtype is None else _dt.to_dtype(dtype)
    if isinstance(data, Tensor):
        return data if d is None else data.to(d)
    if isinstance(data, np.ndarray):
        return Tensor._make(_infer_array(data, d))
    return tensor(data, dtype=d)


def from_numpy(ndarray: NDArray) -> Tensor:
    """Matches `torch.from_numpy`: shares memory; negative strides are refused like torch."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if any(s < 0 for s in ndarray.strides):
        raise ValueError(
            "At least one stride in the given numpy array is negative, and tensors with negative "
            "strides are not currently supported. (You can probably work around this by making a "
            "copy of your array  with array.copy().) ")
    _dt.from_numpy_dtype(ndarray.dtype)
    return Tensor._make(ndarray)


def _np_dtype(dtype: Any, default: _dt.dtype | None = None) -> Any:
    d = _dt.to_dtype(dtype) if dtype is not None else (default or _dt.get_default_dtype())
    return d.to_numpy()


def _sized(fn: str, size: tuple[Any, ...]) -> tuple[int, ...]:
    shape = shape_arg(size, fn)
    if any(s < 0 for s in shape):
        raise RuntimeError(f"{fn}: Dimension size must be non-negative.")
    return shape


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          out: Any = None, layout: Any = None, pin_memory: bool = False) -> Tensor:
    """Matches `torch.zeros`; the size may be varargs or one list/tuple."""
    return _finish(np.zeros(_sized("zeros", size), _np_dtype(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
         out: Any = None, layout: Any = None, pin_memory: bool = False) -> Tensor:
    """Matches `torch.ones`."""
    return _finish(np.ones(_sized("ones", size), _np_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          out: Any = None, layout: Any = None, pin_memory: bool = False,
          memory_format: Any = None) -> Tensor:
    """Matches `torch.empty` (the memory is zeroed: NumPy's empty could hold NaN garbage)."""
    return _finish(np.zeros(_sized("empty", size), _np_dtype(dtype)), requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: bool = False, out: Any = None, layout: Any = None) -> Tensor:
    """Matches `torch.full`: the dtype follows the fill value (int64, float32 or bool)."""
    if dtype is None:
        if isinstance(fill_value, Tensor):
            fill_value = fill_value.item()
        dtype = (_dt.bool_ if isinstance(fill_value, (bool, np.bool_)) else
                 _dt.int64 if isinstance(fill_value, (int, np.integer)) else None)
    shape = _sized("full", (size,) if isinstance(size, int) else tuple(size))
    return _finish(np.full(shape, fill_value, _np_dtype(dtype)), requires_grad)


def _like(input: Tensor, dtype: Any) -> Any:
    return input._data.dtype if dtype is None else _dt.to_dtype(dtype).to_numpy()


def zeros_like(input: Tensor, *, dtype: Any = None, device: Any = None,
               requires_grad: bool = False, memory_format: Any = None,
               layout: Any = None) -> Tensor:
    """Matches `torch.zeros_like`."""
    return _finish(np.zeros(input._data.shape, _like(input, dtype)), requires_grad)


def ones_like(input: Tensor, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False, memory_format: Any = None,
              layout: Any = None) -> Tensor:
    """Matches `torch.ones_like`."""
    return _finish(np.ones(input._data.shape, _like(input, dtype)), requires_grad)


def empty_like(input: Tensor, *, dtype: Any = None, device: Any = None,
               requires_grad: bool = False, memory_format: Any = None,
               layout: Any = None) -> Tensor:
    """Matches `torch.empty_like` (zeroed)."""
    return _finish(np.zeros(input._data.shape, _like(input, dtype)), requires_grad)


def full_like(input: Tensor, fill_value: Any, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False, memory_format: Any = None,
              layout: Any = None) -> Tensor:
    """Matches `torch.full_like`."""
    return _finish(np.full(input._data.shape, fill_value, _like(input, dtype)), requires_grad)


# ---- conversion -----------------------------------------------------------------------------
class ToCopy(Primitive):
    """A dtype conversion. VJP: g converted back to the input dtype."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, np_dtype: Any) -> NDArray:
        ctx.in_dtype = a.dtype
        return a.astype(np_dtype)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (g.to(_dt.from_numpy_dtype(ctx.in_dtype)),)


class Clone(Primitive):
    """A copy. VJP: g."""

    @staticmethod
    def forward(ctx: Node, a: NDArray) -> NDArray:
        return np.array(a, copy=True, order="C")

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (g,)


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    """Matches `torch.clone`."""
    return Clone.apply(input)


def to(input: Tensor, *args: Any, dtype: Any = None, device: Any = None, copy: bool = False,
       non_blocking: bool = False, memory_format: Any = None) -> Tensor:
    """Matches `torch.Tensor.to`: `to(dtype)`, `to(device)`, `to(device, dtype)`, `to(tensor)`;
    returns `input` itself when nothing changes and `copy` is False."""
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, (str, _device)) and not _is_dtype_name(a):
            _device(a)  # validates: only the CPU exists
        elif a is not None:
            dtype = a
    if device is not None:
        _device(device)
    if dtype is None:
        return clone(input) if copy else input
    d = _dt.to_dtype(dtype)
    if d.np == input._data.dtype:
        return clone(input) if copy else input
    return ToCopy.apply(input, d.to_numpy())


def _is_dtype_name(a: Any) -> bool:
    return isinstance(a, str) and a.removeprefix("torch.").removeprefix("ember.") in _dt._BY_NAME


def is_tensor(obj: object) -> bool:
    """Matches `torch.is_tensor`."""
    return isinstance(obj, Tensor)
