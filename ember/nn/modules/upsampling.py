"""Resizing layers (Upsample, UpsamplingNearest2d/Bilinear2d, PixelShuffle/Unshuffle) and the
padding layers (ZeroPad, ConstantPad, ReflectionPad, ReplicationPad, CircularPad)."""

from __future__ import annotations

from typing import Any

from ember.nn import functional as F
from ember.nn.modules.module import Module
from ember.tensor import Tensor

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle",
           "PixelUnshuffle", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d",
           "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d",
           "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d",
           "CircularPad1d", "CircularPad2d", "CircularPad3d"]


class Upsample(Module):
    """Matches `torch.nn.Upsample`."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor: Any = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Matches `torch.nn.UpsamplingNearest2d`."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Matches `torch.nn.UpsamplingBilinear2d` (align_corners=True)."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """Matches `torch.nn.PixelShuffle`."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Matches `torch.nn.PixelUnshuffle`."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


# ---- padding layers -----------------------------------------------------------------------------
class _PadNd(Module):
    """F.pad with a fixed mode; `padding` is stored as torch does, a 2*nd tuple."""

    _nd = 1
    _mode = "constant"

    def __init__(self, padding: Any, value: float | None = None) -> None:
        super().__init__()
        n = 2 * self._nd
        self.padding = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * n
        if len(self.padding) != n:
            raise ValueError(f"expected padding of length {n}, got {len(self.padding)}")
        if value is not None:
            self.value = value

    def forward(self, input: Tensor) -> Tensor:
        if self._mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        if self._mode == "constant" and type(self).__name__.startswith("Constant"):
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


class _ZeroPad(_PadNd):
    _mode = "constant"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)


class ZeroPad1d(_ZeroPad):
    """Matches `torch.nn.ZeroPad1d`."""

    _nd = 1


class ZeroPad2d(_ZeroPad):
    """Matches `torch.nn.ZeroPad2d`."""

    _nd = 2


class ZeroPad3d(_ZeroPad):
    """Matches `torch.nn.ZeroPad3d`."""

    _nd = 3


class _ConstantPad(_PadNd):
    _mode = "constant"

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding, value)


class ConstantPad1d(_ConstantPad):
    """Matches `torch.nn.ConstantPad1d`."""

    _nd = 1


class ConstantPad2d(_ConstantPad):
    """Matches `torch.nn.ConstantPad2d`."""

    _nd = 2


class ConstantPad3d(_ConstantPad):
    """Matches `torch.nn.ConstantPad3d`."""

    _nd = 3


class _ReflectionPad(_PadNd):
    _mode = "reflect"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class ReflectionPad1d(_ReflectionPad):
    """Matches `torch.nn.ReflectionPad1d`."""

    _nd = 1


class ReflectionPad2d(_ReflectionPad):
    """Matches `torch.nn.ReflectionPad2d`."""

    _nd = 2


class ReflectionPad3d(_ReflectionPad):
    """Matches `torch.nn.ReflectionPad3d`."""

    _nd = 3


class _ReplicationPad(_PadNd):
    _mode = "replicate"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class ReplicationPad1d(_ReplicationPad):
    """Matches `torch.nn.ReplicationPad1d`."""

    _nd = 1


class ReplicationPad2d(_ReplicationPad):
    """Matches `torch.nn.ReplicationPad2d`."""

    _nd = 2


class ReplicationPad3d(_ReplicationPad):
    """Matches `torch.nn.ReplicationPad3d`."""

    _nd = 3


class _CircularPad(_PadNd):
    _mode = "circular"

    def __init__(self, padding: Any) -> None:
        super().__init__(padding)


class CircularPad1d(_CircularPad):
    """Matches `torch.nn.CircularPad1d`."""

    _nd = 1


class CircularPad2d(_CircularPad):
    """Matches `torch.nn.CircularPad2d`."""

    _nd = 2


class CircularPad3d(_CircularPad):
    """Matches `torch.nn.CircularPad3d`."""

    _nd = 3
