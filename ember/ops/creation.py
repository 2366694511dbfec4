"""Tensor creation (tensor, zeros, arange, ...) and conversion primitives (to, clone)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.autograd.function import Node, Primitive
from ember.size import device as _device
from ember.tensor import Tensor, _check_can_require_grad

NDArray = np.ndarray

# public functions (grows as ops land); ember.ops and the ember namespace re-export these
__all__ = [
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "zeros_like",
    "ones_like", "empty_like", "full_like", "clone", "to", "is_tensor", "arange", "linspace",
    "logspace", "eye", "asarray", "scalar_tensor", "tril_indices", "triu_indices", "result_type",
    "can_cast", "is_floating_point", "is_complex", "numel", "is_nonzero", "detach", "detach_",
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


def _leaf_dtype(x: Any) -> _dt.dtype:
    """torch's scalar type of one element: Python numbers by kind, NumPy scalars and tensors by
    their own dtype."""
    if isinstance(x, (Tensor, np.ndarray, np.generic)):  # before float: np.float64 is a float
        arr = x._data if isinstance(x, Tensor) else np.asarray(x)
        if arr.dtype.kind == "c":
            raise TypeError("complex tensors are not supported by ember")
        return _dt.from_numpy_dtype(arr.dtype)
    if isinstance(x, bool):
        return _dt.bool_
    if isinstance(x, int):
        if not -(1 << 63) <= x < (1 << 63):
            raise ValueError("Overflow when unpacking long long")
        return _dt.int64
    if isinstance(x, float):
        return _dt.get_default_dtype()
    if isinstance(x, complex):
        raise TypeError("complex tensors are not supported by ember")
    raise TypeError(f"new(): invalid data type '{type(x).__name__}'")


def _infer_dtype(data: Any, depth: int = 0) -> tuple[_dt.dtype | None, tuple[int, ...]]:
    """The promoted dtype of every element and the shape of a nested list (None when empty)."""
    if not isinstance(data, (list, tuple)):
        return _leaf_dtype(data), (data.shape if isinstance(data, (Tensor, np.ndarray)) else ())
    out: _dt.dtype | None = None
    inner: tuple[int, ...] | None = None
    for x in data:
        xd, shape = _infer_dtype(x, depth + 1)
        if inner is not None and shape != inner:
            got = shape[0] if shape else 0
            raise ValueError(f"expected sequence of length {inner[0] if inner else 0} at dim "
                             f"{depth + 1} (got {got})")
        inner = shape
        if xd is not None:
            out = xd if out is None else _dt.promote_types(out, xd)
    return out, (len(data), *(inner or ()))


def _infer_array(data: Any, dtype: _dt.dtype | None) -> NDArray:
    if isinstance(data, np.ndarray) and dtype is None:
        _leaf_dtype(data)  # refuses dtypes torch lacks
        return data
    if not isinstance(data, np.ndarray):
        inferred, _ = _infer_dtype(data)
        base = inferred or _dt.get_default_dtype()
        if dtype is not None and base is not _dt.bool_:
            # torch converts each Python number straight to the target dtype: build at full
            # width first, so tensor(0.1, dtype=float64) is not rounded through float32
            base = _dt.float64 if base.is_floating_point else _dt.int64
        data = np.array(_strip_tensors(data), dtype=base.to_numpy())
        if dtype is None:
            return data
        if dtype.np.kind in "iu":
            _check_int_overflow(data, dtype)
    # casting afterwards wraps out-of-range ints (-3 as uint8 is 253) and overflows floats to
    # inf, silently, as torch does
    with np.errstate(over="ignore", invalid="ignore"):
        return data.astype(dtype.to_numpy())  # type: ignore[union-attr]


def _check_int_overflow(wide: NDArray, dtype: _dt.dtype) -> None:
    """torch refuses Python numbers outside an integer dtype's range (c10's `overflows`): floats
    (before truncation) beyond [min, max] or nan; ints above max or, for unsigned targets, below
    -max (so -3 becomes 253 in uint8 but -256 is refused)."""
    info = np.iinfo(dtype.np)
    lo = info.min if info.min < 0 else -int(info.max)
    if wide.dtype.kind == "f":
        bad = np.isnan(wide) | (wide < info.min) | (wide > info.max)
    elif wide.dtype.kind == "i":
        bad = (wide < lo) | (wide > info.max)
    else:
        return
    if bad.any():
        raise RuntimeError(f"value cannot be converted to type {dtype.name} without overflow")


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
    """A size given as varargs `(2, 3)` or one list/tuple/Size, with torch's errors."""
    seq: Any = size
    if len(size) == 1 and not _is_int(size[0]):
        seq = size[0]
        if not isinstance(seq, (list, tuple)):
            raise TypeError(f"{fn}(): argument 'size' (position 1) must be tuple of ints, not "
                            f"{type(seq).__name__}")
    for i, s in enumerate(seq):
        if not _is_int(s):
            raise TypeError(f"{fn}(): argument 'size' failed to unpack the object at pos {i + 1} "
                            f"with error \"type must be tuple of ints,but got "
                            f"{type(s).__name__}\"")
    shape = tuple(int(s) for s in seq)
    for s in shape:
        if s < 0:
            if fn == "zeros":
                raise RuntimeError("zeros: Dimension size must be non-negative.")
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                               f"{list(shape)}")
    return shape


def _is_int(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x._data.ndim == 0 and x._data.dtype.kind in "iu"
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def zeros(*shape: Any, size: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False, out: Any = None, layout: Any = None,
          pin_memory: bool = False) -> Tensor:
    """Matches `torch.zeros`; the size may be varargs or one list/tuple."""
    shape = _sized("zeros", shape if size is None else (size,))
    return _finish(np.zeros(shape, _np_dtype(dtype)), requires_grad)


def ones(*shape: Any, size: Any = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False, out: Any = None, layout: Any = None,
         pin_memory: bool = False) -> Tensor:
    """Matches `torch.ones`."""
    shape = _sized("ones", shape if size is None else (size,))
    return _finish(np.ones(shape, _np_dtype(dtype)), requires_grad)


def empty(*shape: Any, size: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False, out: Any = None, layout: Any = None,
          pin_memory: bool = False, memory_format: Any = None) -> Tensor:
    """Matches `torch.empty` (the memory is zeroed: NumPy's empty could hold NaN garbage)."""
    shape = _sized("empty", shape if size is None else (size,))
    return _finish(np.zeros(shape, _np_dtype(dtype)), requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: bool = False, out: Any = None, layout: Any = None) -> Tensor:
    """Matches `torch.full`: the dtype follows the fill value (int64, float32 or bool)."""
    if dtype is None:
        if isinstance(fill_value, Tensor):
            fill_value = fill_value.item()
        dtype = (_dt.bool_ if isinstance(fill_value, (bool, np.bool_)) else
                 _dt.int64 if isinstance(fill_value, (int, np.integer)) else None)
    if not isinstance(size, (list, tuple)):
        raise TypeError(f"full(): argument 'size' (position 1) must be tuple of ints, not "
                        f"{type(size).__name__}")
    shape = _sized("full", (size,))
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
        with np.errstate(over="ignore", invalid="ignore"):  # 1e308 -> float32 is inf, silently
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


def detach(input: Tensor) -> Tensor:
    """Matches `torch.detach`: `input.detach()`."""
    return input.detach()


def detach_(input: Tensor) -> Tensor:
    """Matches `torch.detach_`: `input.detach_()`."""
    return input.detach_()


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


def is_tensor(obj: object, /) -> bool:
    """Matches `torch.is_tensor`."""
    return isinstance(obj, Tensor)


# ---- ranges and special matrices ------------------------------------------------------------
def _num(x: Any) -> Any:
    return x.item() if isinstance(x, Tensor) else x


def _is_float(*xs: Any) -> bool:
    return any(isinstance(x, (float, np.floating)) for x in xs)


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, out: Any = None,
           device: Any = None, layout: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """Matches `torch.arange`: int64 for integer bounds, the default float dtype otherwise;
    length ceil((end - start) / step), values start + i * step."""
    start, end, step = _num(start), _num(end), _num(step)
    if end is None:
        start, end = 0, start
    d = _dt.to_dtype(dtype) if dtype is not None else (
        _dt.get_default_dtype() if _is_float(start, end, step) else _dt.int64)
    if not all(math.isfinite(float(v)) for v in (start, end)):
        raise RuntimeError(f"unsupported range: {start} -> {end}")
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if d is _dt.int64:  # torch's integer arithmetic: bounds and step truncated first
        a, b, st = int(start), int(end), int(step)
        if st == 0:
            raise RuntimeError("step must be nonzero")
        n = max(-(-(b - a) // st), 0)
        return _finish(a + st * np.arange(n, dtype=np.int64), requires_grad)
    n = max(math.ceil((float(end) - float(start)) / float(step)), 0)
    from ember.random import _fma

    # start + i * step fused in double, as torch's scalar kernel (its SIMD chunks of 16+
    # elements round differently in the last place)
    vals: NDArray = _fma(np.arange(n, dtype=np.float64), float(step), float(start))
    if not d.is_floating_point:
        vals = int(start) + np.arange(n, dtype=np.int64) * int(step)
    return _finish(vals.astype(d.to_numpy()), requires_grad)


def linspace(start: Any, end: Any, steps: int, *, dtype: Any = None, out: Any = None,
             device: Any = None, layout: Any = None, requires_grad: bool = False) -> Tensor:
    """Matches `torch.linspace`: the first half counts up from start, the second half down
    from end (as torch's kernel), so both ends are exact."""
    start, end, steps = float(_num(start)), float(_num(end)), int(_num(steps))
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    d = _dt.to_dtype(dtype) if dtype is not None else _dt.get_default_dtype()
    return _finish(_lin(start, end, steps, d).astype(d.to_numpy()), requires_grad)


def _lin(start: float, end: float, steps: int, d: _dt.dtype) -> NDArray:
    if steps <= 1:
        return np.full(steps, start)
    if d in (_dt.float32, _dt.float16, _dt.bfloat16):  # step computed in float32
        s32, e32 = np.float32(start), np.float32(end)
        step = float((e32 - s32) / np.float32(steps - 1))
        start, end = float(s32), float(e32)
    else:
        step = (end - start) / (steps - 1)
    i = np.arange(steps, dtype=np.float64)
    half = steps // 2
    from ember.random import _fma

    return np.where(i < half, _fma(i, step, start), _fma(steps - 1 - i, -step, end))


def logspace(start: Any, end: Any, steps: int, base: float = 10.0, *, dtype: Any = None,
             out: Any = None, device: Any = None, layout: Any = None,
             requires_grad: bool = False) -> Tensor:
    """Matches `torch.logspace`: base ** linspace(start, end, steps), within a few ulps of
    torch's values (its vectorised exponent and pow round differently)."""
    start, end, steps = float(_num(start)), float(_num(end)), int(_num(steps))
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    d = _dt.to_dtype(dtype) if dtype is not None else _dt.get_default_dtype()
    # the exponents are rounded to the dtype first, as torch's kernel computes them in it
    ex = _lin(start, end, steps, d)
    if d.is_floating_point:
        ex = ex.astype(d.to_numpy()).astype(np.float64)
    vals = np.power(float(base), ex)
    return _finish(vals.astype(d.to_numpy()), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, out: Any = None, device: Any = None,
        layout: Any = None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Matches `torch.eye`."""
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    if m is not None and m < 0:
        raise RuntimeError(f"m must be greater or equal to 0, got {m}")
    return _finish(np.eye(n, m, dtype=_np_dtype(dtype)), requires_grad)


def _tri_indices(rows: NDArray, cols: NDArray, dtype: Any) -> Tensor:
    d = _dt.int64 if dtype is None else _dt.to_dtype(dtype)
    return Tensor._make(np.stack([rows, cols]).astype(d.to_numpy()).reshape(2, -1))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None,
                 layout: Any = None) -> Tensor:
    """Matches `torch.tril_indices`: a (2, N) tensor of row and column indices."""
    return _tri_indices(*np.tril_indices(row, offset, col), dtype)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None, device: Any = None,
                 layout: Any = None) -> Tensor:
    """Matches `torch.triu_indices`."""
    return _tri_indices(*np.triu_indices(row, offset, col), dtype)


# ---- conversion helpers and predicates ------------------------------------------------------
def asarray(obj: Any, *, dtype: Any = None, device: Any = None, copy: bool | None = None,
            requires_grad: bool = False) -> Tensor:
    """Matches `torch.asarray`: shares memory with Tensors and NumPy arrays unless a copy is
    asked for or the dtype changes."""
    d = None if dtype is None else _dt.to_dtype(dtype)
    if isinstance(obj, Tensor):
        t = obj if d is None else obj.to(d)
        t = t.clone() if copy and t is obj else t
    elif isinstance(obj, np.ndarray):
        t = Tensor._make(np.array(_infer_array(obj, d), copy=True) if copy else
                         _infer_array(obj, d))
    else:
        t = tensor(obj, dtype=d)
    if requires_grad:
        t = t.detach().requires_grad_() if t is obj else t.requires_grad_()
    return t


def scalar_tensor(s: Any, *, dtype: Any = None, device: Any = None, layout: Any = None,
                  requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Matches `torch.scalar_tensor`: a 0-dim tensor of the default float dtype."""
    return _finish(np.asarray(_num(s), dtype=_np_dtype(dtype)), requires_grad)


def result_type(tensor: Any, other: Any) -> _dt.dtype:
    """Matches `torch.result_type`."""
    from ember.ops.common import result_type as _rt

    return _rt(tensor, other)


def can_cast(from_: Any, to: Any) -> bool:
    """Matches `torch.can_cast`: no cast to a lower category (float -> int, int -> bool)."""
    return bool(_dt.to_dtype(from_)._kind <= _dt.to_dtype(to)._kind)


def is_floating_point(input: Tensor) -> bool:
    """Matches `torch.is_floating_point`."""
    return input.dtype.is_floating_point


def is_complex(input: Tensor) -> bool:
    """Matches `torch.is_complex` (always False: ember has no complex dtypes)."""
    return False


def numel(input: Tensor) -> int:
    """Matches `torch.numel`."""
    return int(input._data.size)


def is_nonzero(input: Tensor) -> bool:
    """Matches `torch.is_nonzero`."""
    if input._data.size == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if input._data.size > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input._data.reshape(()))
