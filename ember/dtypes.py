"""dtype objects, torch's type-promotion rules and the default dtype."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

try:  # bfloat16 has no NumPy dtype of its own; ml_dtypes provides one.
    import ml_dtypes as _ml_dtypes

    _BF16_NP: Any = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - exercised only without the optional extra
    _BF16_NP = None


class dtype:
    """A tensor element type. Matches `torch.dtype`; also equal to its name as a string."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_kind", "_legacy")

    def __init__(self, name: str, np_dtype: Any, kind: int, legacy: str) -> None:
        self.name = name
        self.np = np_dtype  # numpy dtype, or None for bfloat16 without ml_dtypes
        self._kind = kind  # 0 bool, 1 integer, 2 floating (torch's promotion categories)
        self.is_floating_point = kind == 2
        self.is_signed = name not in ("uint8", "bool")
        self.itemsize = {"bool": 1, "uint8": 1, "int8": 1, "int16": 2, "float16": 2,
                         "bfloat16": 2, "int32": 4, "float32": 4}.get(name, 8)
        self._legacy = legacy  # torch's legacy tensor type name, used in error messages

    def __repr__(self) -> str:
        return "torch." + self.name  # torch's text, so printed output matches torch's

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = _BY_NAME.get(other.removeprefix("torch.").removeprefix("ember."))
        return self is other

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self) -> tuple[Any, tuple[str]]:  # by name: identity survives pickle/deepcopy
        return (to_dtype, (self.name,))

    @property
    def is_complex(self) -> bool:
        return False

    def to_numpy(self) -> Any:
        """The NumPy dtype; raises a clear error for bfloat16 without ml_dtypes."""
        if self.np is None:
            raise RuntimeError("bfloat16 needs the optional package ml_dtypes "
                               "(pip install ml_dtypes)")
        return self.np


bool_ = dtype("bool", np.dtype(np.bool_), 0, "BoolTensor")  # ember.bool
uint8 = dtype("uint8", np.dtype(np.uint8), 1, "ByteTensor")
int8 = dtype("int8", np.dtype(np.int8), 1, "CharTensor")
int16 = dtype("int16", np.dtype(np.int16), 1, "ShortTensor")
int32 = dtype("int32", np.dtype(np.int32), 1, "IntTensor")
int64 = dtype("int64", np.dtype(np.int64), 1, "LongTensor")
float16 = dtype("float16", np.dtype(np.float16), 2, "HalfTensor")
bfloat16 = dtype("bfloat16", _BF16_NP, 2, "BFloat16Tensor")
float32 = dtype("float32", np.dtype(np.float32), 2, "FloatTensor")
float64 = dtype("float64", np.dtype(np.float64), 2, "DoubleTensor")

ALL: tuple[dtype, ...] = (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32,
                          float64)
_BY_NAME: dict[str, dtype] = {d.name: d for d in ALL}
_BY_NAME.update(float=float32, double=float64, half=float16, long=int64, int=int32, short=int16)
_BY_NP: dict[Any, dtype] = {d.np: d for d in ALL if d.np is not None}

_default_float: dtype = float32


def from_numpy_dtype(np_dtype: Any) -> dtype:
    """The ember dtype of a NumPy dtype; TypeError for ones torch has no equivalent of."""
    d = _BY_NP.get(np_dtype)
    if d is None:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{np.dtype(np_dtype).name}. The only supported "
            "types are: float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, "
            "and bool."
        )
    return d


def is_dtype_name(name: str) -> bool:
    """Whether `name` names a dtype ('float32', 'torch.long', ...)."""
    return name.removeprefix("torch.").removeprefix("ember.") in _BY_NAME


def to_dtype(d: Any) -> dtype:
    """Normalise a dtype argument: an ember dtype, its name ('float32', 'torch.long'), a NumPy
    dtype or a Python type (float, int, bool)."""
    if isinstance(d, dtype):
        return d
    if isinstance(d, str):
        found = _BY_NAME.get(d.removeprefix("torch.").removeprefix("ember."))
        if found is None:
            raise TypeError(f"dtype must be an ember dtype or one of {sorted(_BY_NAME)}, got '{d}'")
        return found
    if d is builtins.float:
        return _default_float
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    try:
        return from_numpy_dtype(np.dtype(d))
    except TypeError:
        raise TypeError(f"expected a dtype (e.g. ember.float32 or 'float32'), got {d!r}") from None


def get_default_dtype() -> dtype:
    """Matches `torch.get_default_dtype`."""
    return _default_float


def set_default_dtype(d: Any, /) -> None:
    """Matches `torch.set_default_dtype`: only floating-point dtypes are accepted."""
    global _default_float
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float = d


# ---- promotion ------------------------------------------------------------------------------
# torch ranks operands: dimensioned tensors > 0-dim tensors > Python scalars. The result is the
# promotion within the top group; a lower group matters only if its category is higher.

_ORDER = {d: i for i, d in enumerate((bool_, uint8, int8, int16, int32, int64, float16, bfloat16,
                                      float32, float64))}


def promote_types(type1: dtype, type2: dtype) -> dtype:
    """Matches `torch.promote_types` (uint8+int8 -> int16, float16+bfloat16 -> float32)."""
    a, b = to_dtype(type1), to_dtype(type2)  # names too: promote_types('float32', 'int64')
    if a is b:
        return a
    pair = {a, b}
    if pair == {uint8, int8}:
        return int16
    if pair == {float16, bfloat16}:
        return float32
    if a._kind != b._kind:
        return a if a._kind > b._kind else b
    if uint8 in pair:  # uint8 with a wider signed integer: the signed one
        return a if b is uint8 else b
    return a if _ORDER[a] > _ORDER[b] else b


def _scalar_dtype(x: object) -> dtype:
    if isinstance(x, builtins.bool):
        return bool_
    if isinstance(x, builtins.int):
        return int64
    return _default_float


def result_dtype(dims: list[dtype], zerodims: list[dtype], scalars: list[object]) -> dtype:
    """Result dtype of an op over dimensioned tensors, 0-dim tensors and Python scalars."""
    out: dtype | None = None
    for d in dims:
        out = d if out is None else promote_types(out, d)
    for group in (zerodims, [_scalar_dtype(s) for s in scalars]):
        top: dtype | None = None
        for d in group:
            top = d if top is None else promote_types(top, d)
        if top is None:
            continue
        if out is None:
            out = top
        elif top._kind > out._kind:
            # a 0-dim tensor joins with its own dtype; a Python float as the default float
            out = top
    assert out is not None
    return out
