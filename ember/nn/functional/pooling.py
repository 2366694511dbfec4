"""Pooling: max/avg pooling (ceil_mode, padding, dilation, indices) and adaptive pooling."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from ember.nn.functional.conv import _batched, ntuple
from ember.ops.conv import GatherFlat, ScatterFlat, Unfold, pad_to, padded_size, windows
from ember.tensor import Tensor

NDArray = np.ndarray
Ints = tuple[int, ...]

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "max_unpool1d", "max_unpool2d"]


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """floor (or ceil) of (S + 2p - d*(k-1) - 1)/s + 1; in ceil mode a last window that would
    start in the right padding is dropped."""
    num = size + 2 * p - d * (k - 1) - 1
    o = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1
    return o


def _pool_args(x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
               ceil_mode: bool, nd: int) -> tuple[Ints, Ints, Ints, Ints, Ints]:
    """Normalise pooling arguments (stride defaults to the kernel) and compute the output size."""
    k = ntuple(kernel_size, nd, "kernel_size")
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) else \
        ntuple(stride, nd, "stride")
    p, d = ntuple(padding, nd, "padding"), ntuple(dilation, nd, "dilation")
    for ki, pi, di in zip(k, p, d, strict=True):
        if pi * 2 > ki:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={pi}, kernel_size={ki} and dilation={di}")
    size = tuple(x.shape[2:])
    out = tuple(_pool_out(*a, ceil_mode) for a in zip(size, k, s, p, d, strict=True))
    if any(o <= 0 for o in out):
        shape_in = "x".join(map(str, x.shape[1:]))
        shape_out = "x".join(map(str, (x.shape[1],) + out))
        raise RuntimeError(f"Given input size: ({shape_in}). Calculated output size: "
                           f"({shape_out}). Output size is too small")
    return k, s, p, d, out


def _flat_index(coords: list[NDArray], size: Ints) -> NDArray:
    """Row-major flat index within one (N, C) plane of spatial size `size`."""
    flat = coords[0]
    for c, n in zip(coords[1:], size[1:], strict=True):
        flat = flat * n + c
    return flat.astype(np.int64)


def _lowest(dtype: np.dtype) -> Any:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _max_pool(input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: bool, return_indices: bool, nd: int) -> Any:
    x, unbatched = _batched(input, nd, f"max_pool{nd}d")
    k, s, p, d, out = _pool_args(x, kernel_size, stride, padding, dilation, ceil_mode, nd)
    arr = x._data
    size = tuple(arr.shape[2:])
    sp = padded_size(size, k, d, s, p, out)
    win = windows(pad_to(arr, p, sp, _lowest(arr.dtype)), k, d, s, out)  # (N, C, *out, *k)
    arg = win.reshape(win.shape[:2 + nd] + (-1,)).argmax(-1)  # first max wins ties
    kidx = np.unravel_index(arg, k)
    coords = []
    for i in range(nd):
        start = (np.arange(out[i]) * s[i] - p[i]).reshape((-1,) + (1,) * (nd - 1 - i))
        coords.append(start + kidx[i] * d[i])
    idx = _flat_index(coords, size)  # (N, C, *out)
    y = GatherFlat.apply(x, idx)
    if unbatched:
        y, idx = y.squeeze(0), idx[0]
    if return_indices:
        return y, Tensor._make(idx)
    return y


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Matches `torch.nn.functional.max_pool1d`."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Matches `torch.nn.functional.max_pool2d`."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def max_pool3d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Matches `torch.nn.functional.max_pool3d`."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3)


def _avg_divisor(size: Ints, k: Ints, s: Ints, p: Ints, out: Ints, count_include_pad: bool,
                 dtype: np.dtype) -> NDArray:
    """Per-window divisors (*out,): the window clipped to the padded extent, or to the input."""
    per_dim = []
    for n, ki, si, pi, oi in zip(size, k, s, p, out, strict=True):
        start = np.arange(oi) * si - pi
        end = np.minimum(start + ki, n + pi)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        per_dim.append(end - start)
    div = per_dim[0]
    for v in per_dim[1:]:
        div = np.multiply.outer(div, v)
    return div.astype(dtype)


def _avg_pool(input: Tensor, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
              count_include_pad: bool, divisor_override: int | None, nd: int) -> Tensor:
    x, unbatched = _batched(input, nd, f"avg_pool{nd}d")
    if x.dtype.is_floating_point is False:
        raise NotImplementedError(f"\"avg_pool{nd}d\" not implemented for "
                                  f"'{x.dtype._legacy[:-6]}'")
    k, s, p, d, out = _pool_args(x, kernel_size, stride, padding, 1, ceil_mode, nd)
    n, c = x.shape[0], x.shape[1]
    cols = Unfold.apply(x, k, d, s, p, out).reshape(n, c, math.prod(k), -1)  # (N, C, K, L)
    total = cols.sum(2).reshape((n, c) + out)
    if divisor_override:
        y = total / divisor_override
    else:
        div = _avg_divisor(tuple(x.shape[2:]), k, s, p, out, count_include_pad, x._data.dtype)
        y = total / Tensor._make(div)
    return y.squeeze(0) if unbatched else y


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Matches `torch.nn.functional.avg_pool1d`."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Matches `torch.nn.functional.avg_pool2d`."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2)


def avg_pool3d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Matches `torch.nn.functional.avg_pool3d`."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 3)


def _adaptive_size(x: Tensor, output_size: Any, nd: int) -> Ints:
    """Output sizes; None keeps the input's size in that dim."""
    sizes = output_size if isinstance(output_size, (list, tuple)) else (output_size,) * nd
    if len(sizes) != nd:
        raise ValueError(f"adaptive_pool{nd}d: output_size must be {nd} (got {len(sizes)})")
    return tuple(x.shape[x.ndim - nd + i] if o is None else int(o) for i, o in enumerate(sizes))


def _bounds(n: int, o: int) -> list[tuple[int, int]]:
    """Adaptive window i covers [floor(i*n/o), ceil((i+1)*n/o))."""
    return [(i * n // o, -(-(i + 1) * n // o)) for i in range(o)]


def _adaptive_avg(input: Tensor, output_size: Any, nd: int) -> Tensor:
    """Adaptive average pooling is separable: window sums by one 0/1 matrix (n, o) per spatial
    dim, then one division by the window sizes (as torch: sum, then divide)."""
    x, unbatched = _batched(input, nd, f"adaptive_avg_pool{nd}d")
    out = _adaptive_size(x, output_size, nd)
    size = x.shape[2:]
    if all(o > 0 and s % o == 0 for s, o in zip(size, out, strict=True)):
        # equal windows (global pooling included): one mean over (N, C, o1, s1/o1, ...) instead
        # of a batched matmul per dim, whose backward ran ~20 ms for (32, 64, 16, 16) -> 1x1
        split = tuple(v for s, o in zip(size, out, strict=True) for v in (o, s // o))
        y = x.reshape(*x.shape[:2], *split).mean(tuple(range(3, 3 + 2 * nd, 2)))
        return y.squeeze(0) if unbatched else y
    y = x
    count: Any = np.ones((), dtype=x._data.dtype)
    for i, o in enumerate(out):
        n = x.shape[2 + i]
        a = np.zeros((n, o), dtype=x._data.dtype)
        for j, (lo, hi) in enumerate(_bounds(n, o)):
            a[lo:hi, j] = 1.0
        count = np.multiply.outer(count, a.sum(0))
        y = (y.transpose(2 + i, -1) @ Tensor._make(a)).transpose(2 + i, -1)
    y = y / Tensor._make(count)
    return y.squeeze(0) if unbatched else y


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """Matches `torch.nn.functional.adaptive_avg_pool1d`."""
    return _adaptive_avg(input, output_size, 1)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Matches `torch.nn.functional.adaptive_avg_pool2d`."""
    return _adaptive_avg(input, output_size, 2)


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """Matches `torch.nn.functional.adaptive_avg_pool3d`."""
    return _adaptive_avg(input, output_size, 3)


def _adaptive_max(input: Tensor, output_size: Any, return_indices: bool, nd: int) -> Any:
    x, unbatched = _batched(input, nd, f"adaptive_max_pool{nd}d")
    out = _adaptive_size(x, output_size, nd)
    arr = x._data
    size = tuple(arr.shape[2:])
    bounds = [_bounds(n, o) for n, o in zip(size, out, strict=True)]
    idx = np.empty(arr.shape[:2] + out, dtype=np.int64)
    for pos in itertools.product(*(range(o) for o in out)):
        box = [bounds[i][j] for i, j in enumerate(pos)]
        sub = arr[(slice(None), slice(None)) + tuple(slice(lo, hi) for lo, hi in box)]
        local = np.unravel_index(sub.reshape(sub.shape[:2] + (-1,)).argmax(-1), sub.shape[2:])
        idx[(slice(None), slice(None)) + pos] = _flat_index(
            [lc + lo for lc, (lo, _) in zip(local, box, strict=True)], size)
    y = GatherFlat.apply(x, idx)
    if unbatched:
        y, idx = y.squeeze(0), idx[0]
    return (y, Tensor._make(idx)) if return_indices else y


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Matches `torch.nn.functional.adaptive_max_pool1d`."""
    return _adaptive_max(input, output_size, return_indices, 1)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Matches `torch.nn.functional.adaptive_max_pool2d`."""
    return _adaptive_max(input, output_size, return_indices, 2)


def _max_unpool(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any, padding: Any,
                output_size: Any, nd: int) -> Tensor:
    """Values scattered to their max-pool positions in zeros (ScatterFlat; its VJP gathers)."""
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    idx = indices._data[None] if unbatched else indices._data
    k = ntuple(kernel_size, nd, "kernel_size")
    s = k if stride is None else ntuple(stride, nd, "stride")
    p = ntuple(padding, nd, "padding")
    default = [(x.shape[2 + i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(nd)]
    if output_size is None:
        size = default
    else:
        size = [int(v) for v in output_size][-nd:]
        for i, (o, d) in enumerate(zip(size, default, strict=True)):
            if not d - s[i] < o < d + s[i]:
                raise ValueError(f'invalid output_size "{tuple(size)}" (dim {i} must be between '
                                 f"{d - s[i] + 1} and {d + s[i] - 1})")
    y = ScatterFlat.apply(x, idx.astype(np.int64), tuple(x.shape[:2]) + tuple(size), True)
    return y.squeeze(0) if unbatched else y


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """Matches `torch.nn.functional.max_unpool1d`."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """Matches `torch.nn.functional.max_unpool2d`."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2)
