"""nn.Parameter (a Tensor subclass that modules register) and the nn.Buffer marker."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.tensor import Tensor, _check_can_require_grad

__all__ = ["Parameter", "Buffer"]


class Parameter(Tensor):
    """A leaf tensor that a Module registers as a parameter. Matches `torch.nn.Parameter`.

    `Parameter(t)` shares `t`'s data and version counter; `Parameter()` is an empty float32 one.
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            arr, version = np.empty((0,), np.float32), None
        elif isinstance(data, Tensor):
            arr, version = data._data, data._version_ref
        else:
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not "
                            f"{type(data).__name__}")
        return cls._wrap(arr, requires_grad, version)

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # all state is set in __new__

    @classmethod
    def _wrap(cls, arr: np.ndarray, requires_grad: bool,
              version: list[int] | None = None) -> Parameter:
        if requires_grad:
            _check_can_require_grad(_dt._BY_NP[arr.dtype], factory=True)
        p = object.__new__(cls)
        p._init(arr, bool(requires_grad), version)
        return p

    @classmethod
    def create(cls, data: Any = None, dtype: Any = None, requires_grad: bool = True) -> Parameter:
        """Build a Parameter from a Tensor, NumPy array, (nested) list or scalar.

        An ember extension: `dtype` may be a dtype or its name ('int32'). A Tensor of the same
        dtype is shared, as with `Parameter(t)`; anything else is copied.
        """
        d = None if dtype is None else _dt.to_dtype(dtype)
        if data is None:
            data = Tensor._make(np.empty((0,), np.float32))
        if isinstance(data, Tensor):
            if d is not None and d.np != data._data.dtype:
                return cls._wrap(data._data.astype(d.to_numpy()), requires_grad)
            return cls._wrap(data._data, requires_grad, data._version_ref)
        from ember.ops.creation import tensor

        return cls._wrap(tensor(data, dtype=d)._data, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_parameter, (np.array(self._data), self._requires_grad))

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]  # type: ignore[no-any-return]
        p = type(self)._wrap(np.array(self._data, copy=True), self._requires_grad)
        memo[id(self)] = p
        return p


def _rebuild_parameter(arr: np.ndarray, requires_grad: bool) -> Parameter:
    return Parameter._wrap(arr, requires_grad)


class _BufferMeta(type):
    """`isinstance(t, Buffer)` is True for tensors that `Buffer(...)` marked, as in torch."""

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, Tensor) and bool(obj._extra) and "buffer" in obj._extra  # type: ignore[operator]


class Buffer(Tensor, metaclass=_BufferMeta):
    """Marks a tensor as a module buffer when assigned as an attribute. Matches `torch.nn.Buffer`.

    Like torch it returns a plain (detached) Tensor carrying the mark, not a Buffer object.
    """

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Tensor:  # type: ignore[misc]
        if data is None:
            data = Tensor._make(np.empty((0,), np.float32))
        t = Tensor._make(data._data, data._requires_grad, data._version_ref)
        t._set_extra("buffer", bool(persistent))
        return t
