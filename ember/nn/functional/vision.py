"""Padding, resizing (interpolate/upsample) and pixel shuffles."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ember.ops.conv import ConstantPad, Take
from ember.tensor import Tensor

NDArray = np.ndarray

__all__ = ["pad", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear",
           "pixel_shuffle", "pixel_unshuffle"]


def _pad_pairs(input: Tensor, pad: Any) -> list[tuple[int, int]]:
    """torch's pad order, (left_last, right_last, left_2nd_last, ...), as per-dim (lo, hi)."""
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * input.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(pad)} and input of dimension "
                           f"{input.ndim}")
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pairs[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return pairs


def _source_index(n: int, lo: int, hi: int, mode: str, dim: int, shape: list[int]) -> NDArray:
    """Where each output position along one dim reads from, for the non-constant modes."""
    i = np.arange(-lo, n + hi)
    if mode == "reflect":
        if lo >= n or hi >= n:
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding "
                               f"input dimension, but got: padding ({lo}, {hi}) at dimension "
                               f"{dim} of input {shape}")
        return np.abs(n - 1 - np.abs(n - 1 - np.abs(i)))
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if lo > n or hi > n:
        raise RuntimeError("Padding value causes wrapping around more than once.")
    return i % n


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """Matches `torch.nn.functional.pad`."""
    pairs = _pad_pairs(input, pad)
    if mode == "constant":
        return ConstantPad.apply(input, tuple(pairs), 0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    k = len(pad) // 2
    if not (k + 1 <= input.ndim <= k + 2) or k > 3:
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    y = input
    for d, (lo, hi) in enumerate(pairs):
        if lo or hi:
            y = Take.apply(y, d, _source_index(input.shape[d], lo, hi, mode, d,
                                               list(input.shape)))
    return y


# ---- interpolation ------------------------------------------------------------------------------
_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _out_sizes(x: Tensor, nd: int, size: Any, scale_factor: Any,
               recompute: bool | None) -> tuple[list[int], list[float | None]]:
    """Output sizes and the scales torch uses in its index maths (None: in/out)."""
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    spatial = list(x.shape[2:])
    if size is not None:
        sizes = list(size) if isinstance(size, (list, tuple)) else [size] * nd
        if len(sizes) != nd:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, "
                             f"but got input with spatial dimensions of {spatial} and output size "
                             f"of {sizes}. Please provide input tensor in (N, C, d1, d2, "
                             "...,dK) format and output size in (o1, o2, ...,oK) format.")
        return [int(s) for s in sizes], [None] * nd
    scales = list(scale_factor) if isinstance(scale_factor, (list, tuple)) else \
        [scale_factor] * nd
    sizes = [int(math.floor(n * float(s))) for n, s in zip(spatial, scales, strict=True)]
    if recompute:
        return sizes, [None] * nd
    return sizes, [float(s) for s in scales]


def _ratio(n_in: int, n_out: int, scale: float | None, align_corners: bool) -> float:
    """torch's area_pixel_compute_scale."""
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else n_in / n_out


def _nearest_index(n_in: int, n_out: int, scale: float | None, exact: bool) -> NDArray:
    r = _ratio(n_in, n_out, scale, False)
    dst = np.arange(n_out, dtype=np.float32)  # torch computes the source index in float32
    src = np.floor((dst + np.float32(0.5)) * np.float32(r)) if exact else \
        np.floor(dst * np.float32(r))
    return np.minimum(src.astype(np.int64), n_in - 1)


def _linear_matrix(n_in: int, n_out: int, scale: float | None, align_corners: bool,
                   dtype: np.dtype) -> NDArray:
    """The (n_out, n_in) matrix of linear-interpolation weights along one dim."""
    r = _ratio(n_in, n_out, scale, align_corners)
    dst = np.arange(n_out, dtype=np.float64)
    src = dst * r if align_corners else np.maximum((dst + 0.5) * r - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    a = np.zeros((n_out, n_in), dtype=np.float64)
    np.add.at(a, (np.arange(n_out), i0), 1.0 - lam)
    np.add.at(a, (np.arange(n_out), i1), lam)
    return a.astype(dtype)


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Matches `torch.nn.functional.interpolate` for nearest, nearest-exact, linear, bilinear and
    trilinear (no antialias)."""
    nd = input.ndim - 2
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if mode in _LINEAR and _LINEAR[mode] != nd:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                  f"{_LINEAR[mode] + 2}D input")
    if mode not in ("nearest", "nearest-exact") and mode not in _LINEAR:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported by ember")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by ember")
    sizes, scales = _out_sizes(input, nd, size, scale_factor, recompute_scale_factor)
    y = input
    for i in range(nd):
        n_in, n_out, d = input.shape[2 + i], sizes[i], 2 + i
        if mode in _LINEAR:
            a = _linear_matrix(n_in, n_out, scales[i], bool(align_corners), input._data.dtype)
            y = (y.transpose(d, -1) @ Tensor._make(a.T)).transpose(d, -1)
        elif n_in != n_out:
            y = Take.apply(y, d, _nearest_index(n_in, n_out, scales[i], mode == "nearest-exact"))
    return y


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """Matches `torch.nn.functional.upsample` (deprecated alias of interpolate)."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """Matches `torch.nn.functional.upsample_nearest`."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:
    """Matches `torch.nn.functional.upsample_bilinear` (align_corners=True)."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """Matches `torch.nn.functional.pixel_shuffle`: (*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    r = upscale_factor
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    nl = len(lead)
    y = input.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(nl), nl, nl + 3, nl + 1, nl + 4, nl + 2)  # (*, C, H, r, W, r)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """Matches `torch.nn.functional.pixel_unshuffle`: (*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    r = downscale_factor
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height to be divisible by downscale_factor, "
                           f"but input.size(-2)={h} is not divisible by {r}" if h % r else
                           f"pixel_unshuffle expects width to be divisible by downscale_factor, "
                           f"but input.size(-1)={w} is not divisible by {r}")
    nl = len(lead)
    y = input.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(nl), nl, nl + 2, nl + 4, nl + 1, nl + 3)  # (*, C, r, r, H/r, W/r)
    return y.reshape(*lead, c * r * r, h // r, w // r)
