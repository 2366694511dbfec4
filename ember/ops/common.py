"""Argument handling shared by the ops: wrapping inputs, dims, and torch's type promotion."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.tensor import Tensor, _wrap_dim

Scalar = int | float | bool
_NP2DT = _dt._BY_NP


def is_scalar(x: object) -> bool:
    """Python numbers and NumPy scalars act as 'wrapped numbers' in torch's promotion."""
    return isinstance(x, numbers.Number) and not isinstance(x, np.ndarray)


def as_tensor_arg(x: Any, like: Tensor | None = None) -> Tensor:
    """Turn a non-Tensor operand (list, array, scalar) into a Tensor."""
    if isinstance(x, Tensor):
        return x
    if like is not None and is_scalar(x):
        return Tensor._make(np.asarray(x, dtype=like._data.dtype))
    from ember.ops.creation import tensor

    return tensor(x)


def result_type(*args: Any) -> _dt.dtype:
    """torch's result dtype for tensors and scalars (dimensioned > 0-dim > Python scalars)."""
    dims: list[_dt.dtype] = []
    zero: list[_dt.dtype] = []
    scal: list[Any] = []
    for a in args:
        if isinstance(a, Tensor):
            (dims if a._data.ndim else zero).append(_NP2DT[a._data.dtype])
        elif isinstance(a, np.ndarray):
            (dims if a.ndim else zero).append(_dt.from_numpy_dtype(a.dtype))
        else:
            scal.append(_py_scalar(a))
    return _dt.result_dtype(dims, zero, scal)


def _py_scalar(x: Any) -> Any:
    """A NumPy scalar acts like the Python number of its kind."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x)
    raise TypeError(f"expected a Tensor or a number, got {type(x).__name__}")


def promote(a: Any, b: Any) -> tuple[Any, Any, _dt.dtype]:
    """Cast two operands to their common torch dtype (differentiably), keeping scalars scalar.

    Returns (a', b', dtype) where each is a Tensor of `dtype` or a Python scalar that NumPy
    combines with an array of `dtype` without changing it.
    """
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a._data.dtype == b._data.dtype:  # the common case: nothing to decide
            return a, b, _NP2DT[a._data.dtype]
    elif not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = as_tensor_arg(a)
    if not isinstance(a, Tensor) and not is_scalar(a):
        a = as_tensor_arg(a)
    if not isinstance(b, Tensor) and not is_scalar(b):
        b = as_tensor_arg(b)
    out = result_type(a, b)
    return _cast(a, out), _cast(b, out), out


def _cast(x: Any, d: _dt.dtype) -> Any:
    if isinstance(x, Tensor):
        return x if x._data.dtype == d.np else x.to(d)
    x = _py_scalar(x)
    if d is _dt.bfloat16:  # ml_dtypes' bfloat16 has no 'weak' Python scalars: use a 0-d array
        return np.asarray(x, dtype=d.np)
    # a scalar of a higher category than the result would not be 'weak' for NumPy: convert it
    if d.is_floating_point:
        return float(x)
    if d is _dt.bool_:
        return bool(x)
    return int(x)


def float_input(x: Any) -> Tensor:
    """Inputs of float-valued ops (exp, sqrt, true division): ints and bools become the default
    float dtype, as torch does."""
    if not isinstance(x, Tensor):
        x = as_tensor_arg(x)
    if x._data.dtype.kind in "biu":
        return x.to(_dt.get_default_dtype())
    return x


def dims_arg(dim: Any, ndim: int) -> tuple[int, ...]:
    """Normalise a `dim` argument (int, tuple or list, possibly negative) to sorted positives."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (int, np.integer)):
        return (_wrap_dim(int(dim), ndim),)
    return tuple(sorted({_wrap_dim(int(d), ndim) for d in dim}))


def shape_arg(size: Sequence[Any], fn: str = "view") -> tuple[int, ...]:
    """Shapes given as varargs `(2, 3)` or as one list/tuple/Size `([2, 3],)`."""
    if len(size) == 1 and not isinstance(size[0], (int, np.integer, Tensor)):
        size = size[0]
    out = []
    for i, s in enumerate(size):
        if isinstance(s, Tensor):
            s = s.__index__()
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{fn}(): argument 'size' (position {i + 1}) must be tuple of ints, "
                            f"but found element of type {type(s).__name__} at pos {i}")
        out.append(int(s))
    return tuple(out)
