"""torch names that are not about devices or tooling: dtype limits (finfo/iinfo), the legacy
tensor types (torch.FloatTensor, ...) and Variable of older scripts, memory formats, the default
device, anomaly-detection flags."""

from __future__ import annotations

import warnings
from typing import Any


class finfo:  # noqa: N801 - torch's name
    """`torch.finfo`: machine limits of a floating dtype (the default dtype when none is given)."""

    def __init__(self, type: Any = None) -> None:
        import math

        import ml_dtypes

        from ember import get_default_dtype

        dtype = get_default_dtype() if type is None else type
        if not dtype.is_floating_point:
            raise TypeError(f"torch.finfo() requires a floating point input type. Use "
                            f"torch.iinfo to handle '{dtype.name}'")
        info = ml_dtypes.finfo(dtype.np)
        self.bits: int = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        # torch rounds resolution to a power of ten: 10 ** -floor(-log10(eps))
        self.resolution = 10.0 ** -math.floor(-math.log10(self.eps))
        self.dtype: str = dtype.name

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:  # noqa: N801 - torch's name
    """`torch.iinfo`: the limits of an integer dtype."""

    def __init__(self, type: Any) -> None:
        import numpy as np

        if type.is_floating_point or type.is_complex:
            raise TypeError(f"torch.iinfo() requires an integer input type. Use torch.finfo "
                            f"to handle '{type.name}'")
        info = np.iinfo(type.np) if type.name != "bool" else np.iinfo(np.uint8)
        self.bits: int = int(info.bits)
        self.max: int = int(info.max)
        self.min: int = int(info.min)
        self.dtype: str = type.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


class _LegacyTensorType(type):
    """Metaclass of torch.FloatTensor and friends: isinstance() checks a tensor's dtype."""

    dtype: Any

    def __instancecheck__(cls, obj: Any) -> bool:
        from ember import Tensor

        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __repr__(cls) -> str:
        return f"<class 'torch.{cls.__name__}'>"


def _legacy_new(cls: Any, *args: Any, device: Any = None) -> Any:
    """torch.FloatTensor(2, 3) (uninitialised, that shape), torch.FloatTensor(torch.Size),
    torch.FloatTensor([1, 2]) (data), torch.FloatTensor() (empty)."""
    import ember

    if len(args) == 1 and isinstance(args[0], ember.Tensor):
        if args[0].dtype != cls.dtype:
            raise TypeError(f"torch.{cls.__name__}(tensor) expected a tensor of dtype "
                            f"{cls.dtype}, got {args[0].dtype}")
        return args[0]
    if len(args) == 1 and not isinstance(args[0], int) and not isinstance(args[0], ember.Size):
        return ember.tensor(args[0], dtype=cls.dtype)
    shape = tuple(args[0]) if len(args) == 1 and isinstance(args[0], ember.Size) else args
    return ember.empty(*shape, dtype=cls.dtype) if shape else ember.empty(0, dtype=cls.dtype)


def _legacy_types() -> dict[str, Any]:
    """torch.FloatTensor, torch.LongTensor, ...: constructors and isinstance() targets."""
    from ember import dtypes

    out = {}
    for d in vars(dtypes).values():
        if isinstance(d, dtypes.dtype) and d._legacy not in out:
            out[d._legacy] = _LegacyTensorType(d._legacy, (), {"dtype": d,
                                                             "__new__": _legacy_new})
    return out


class _VariableType(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        from ember import Tensor

        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableType):
    """`torch.autograd.Variable`: since torch 0.4 a Variable is a Tensor; the call returns the
    tensor (with requires_grad set when asked)."""

    def __new__(cls, data: Any, requires_grad: bool = False, volatile: bool = False) -> Any:
        if requires_grad:
            data.requires_grad_(True)
        return data


class memory_format:  # noqa: N801 - torch's name
    """torch.channels_last & co.: ember keeps NumPy's layout, so these are accepted and ignored
    wherever torch takes memory_format=."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


_MEMORY_FORMATS = {n: memory_format(n) for n in
                   ("contiguous_format", "channels_last", "channels_last_3d", "preserve_format")}


def _set_default_device(device: Any) -> None:
    """`torch.set_default_device`: only the CPU exists here."""
    if device is not None and not str(device).startswith("cpu"):
        raise RuntimeError(f"torch.set_default_device({str(device)!r}): ember runs on the CPU "
                           "only")


class set_detect_anomaly:  # noqa: N801 - torch's name
    """`torch.autograd.set_detect_anomaly(mode)`: callable or a context manager. ember does not
    trace anomalies; the flag is kept so `is_anomaly_enabled()` answers as set."""

    _enabled = False

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = set_detect_anomaly._enabled
        set_detect_anomaly._enabled = bool(mode)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        set_detect_anomaly._enabled = self.prev


class detect_anomaly(set_detect_anomaly):  # noqa: N801 - torch's name
    """`torch.autograd.detect_anomaly()`: a context manager turning the flag on."""

    def __init__(self, check_nan: bool = True) -> None:
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", UserWarning, stacklevel=2)
        super().__init__(True, check_nan)
