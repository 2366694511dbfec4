"""Convolutions (conv1d/2d/3d, conv_transpose1d/2d) as one im2col + GEMM, and unfold/fold."""

from __future__ import annotations

import math
import warnings
from typing import Any

from ember.ops.conv import Convolution, Fold, Unfold, transposed_is_conv
from ember.tensor import Tensor

Ints = tuple[int, ...]

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "unfold",
           "fold"]


def ntuple(v: Any, n: int, name: str = "argument") -> Ints:
    """An int or a sequence of n ints as a tuple of n ints."""
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return (int(v[0]),) * n
        if len(v) != n:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} "
                               f"values to match the convolution dimensions, but got "
                               f"{name}={list(v)}")
        return tuple(int(i) for i in v)
    return (int(v),) * n


def out_size(size: Ints, kernel: Ints, dilation: Ints, stride: Ints, pad: Ints) -> Ints:
    """floor((S + 2p - d*(k-1) - 1)/s) + 1 per spatial dim."""
    return tuple((s + 2 * p - d * (k - 1) - 1) // st + 1 for s, k, d, st, p in
                 zip(size, kernel, dilation, stride, pad, strict=True))


def _batched(input: Tensor, nd: int, fn: str) -> tuple[Tensor, bool]:
    """Accept unbatched (C, *S) input as torch does; return (batched input, was_unbatched)."""
    if input.ndim == nd + 1:
        return input.unsqueeze(0), True
    if input.ndim != nd + 2:
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                           f"{fn}, but got input of size: {list(input.shape)}")
    return input, False


def _same_padding(kernel: Ints, dilation: Ints, stride: Ints) -> tuple[Ints, bool]:
    """'same': total d*(k-1) split with the floor on the left; also whether it is asymmetric."""
    if any(s != 1 for s in stride):
        raise ValueError("padding='same' is not supported for strided convolutions")
    total = tuple(d * (k - 1) for k, d in zip(kernel, dilation, strict=True))
    return tuple(t // 2 for t in total), any(t % 2 for t in total)


def _convnd(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any,
            dilation: Any, groups: int, nd: int, fused: bool = True) -> Tensor:
    fn = f"conv{nd}d"
    x, unbatched = _batched(input, nd, fn)
    kernel = tuple(weight.shape[2:])
    stride_t = ntuple(stride, nd, "stride")
    dil = ntuple(dilation, nd, "dilation")
    size = tuple(x.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            lo: Ints = (0,) * nd
            out = out_size(size, kernel, dil, stride_t, lo)
        elif padding == "same":
            lo, odd = _same_padding(kernel, dil, stride_t)
            if odd:
                warnings.warn("Using padding='same' with even kernel lengths and odd dilation "
                              "may require a zero-padded copy of the input be created",
                              UserWarning, stacklevel=3)
            out = size
        else:
            raise ValueError(f"Invalid padding string '{padding}', should be one of "
                             "{'valid', 'same'}")
    else:
        lo = ntuple(padding, nd, "padding")
        out = out_size(size, kernel, dil, stride_t, lo)
    c = x.shape[1]
    if weight.ndim != nd + 2:
        raise RuntimeError(f"Expected {nd + 2}-dimensional weight for {nd + 2}-dimensional input "
                           f"{list(x.shape)}, but got {weight.ndim}-dimensional weight of size "
                           f"{list(weight.shape)} instead")
    if c != weight.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected "
                           f"input{list(x.shape)} to have {weight.shape[1] * groups} channels, "
                           f"but got {c} channels instead")
    if any(v <= 0 for v in out):
        raise RuntimeError(f"Calculated output size: ({', '.join(map(str, out))}). "
                           "Output size is too small")
    if x.dtype != weight.dtype:  # the fused path would let NumPy promote silently
        raise RuntimeError(f"expected scalar type {_c_name(x)} but found {_c_name(weight)}")
    if bias is not None and bias.dtype != x.dtype:
        raise RuntimeError(f"Input type ({_c_name(x).lower()}) and bias type "
                           f"({_c_name(bias).lower()}) should "
                           "be the same")
    if groups == 1 and fused:
        y = Convolution.apply(x, weight, bias, kernel, dil, stride_t, lo, out)
    else:
        y = _conv_composed(x, weight, bias, kernel, dil, stride_t, lo, out, groups)
    return y.squeeze(0) if unbatched else y


def _c_name(t: Tensor) -> str:
    """torch's C++ scalar-type name in its dtype errors (Float, Double, ...)."""
    return {"float32": "Float", "float64": "Double", "float16": "Half",
            "bfloat16": "BFloat16"}.get(t.dtype.name, t.dtype.name)


def _conv_composed(x: Tensor, weight: Tensor, bias: Tensor | None, kernel: Ints, dil: Ints,
                   stride_t: Ints, lo: Ints, out: Ints, groups: int) -> Tensor:
    """Any conv as composed primitives (the fused Convolution's test reference, and groups > 1)."""
    n, c, o = x.shape[0], x.shape[1], weight.shape[0]
    # one GEMM: (O, C*K) @ (C*K, N*L) per group
    cols = Unfold.apply(x, kernel, dil, stride_t, lo, out, True)  # (C*K, N*L)
    ckg = c // groups * math.prod(kernel)
    if groups == 1:
        y = weight.reshape(o, ckg) @ cols  # (O, N*L)
    else:
        y = weight.reshape(groups, o // groups, ckg) @ cols.reshape(groups, ckg, -1)
    y = y.reshape(o, -1)  # (O, N*L)
    if bias is not None:
        y = y + bias.reshape(o, 1)
    return y.reshape((o, n) + out).transpose(0, 1).contiguous()  # (N, O, *out), as torch's


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """Matches `torch.nn.functional.conv1d`."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """Matches `torch.nn.functional.conv2d`."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 2)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """Matches `torch.nn.functional.conv3d`."""
    return _convnd(input, weight, bias, stride, padding, dilation, groups, 3)


def _conv_transposend(input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,
                      padding: Any, output_padding: Any, groups: int, dilation: Any,
                      nd: int) -> Tensor:
    """The adjoint of conv: cols = W^T x (a GEMM), then col2im (Fold) into the output."""
    x, unbatched = _batched(input, nd, f"conv_transpose{nd}d")
    kernel = tuple(weight.shape[2:])
    stride_t = ntuple(stride, nd, "stride")
    dil = ntuple(dilation, nd, "dilation")
    pad = ntuple(padding, nd, "padding")
    opad = ntuple(output_padding, nd, "output_padding")
    n, c = x.shape[0], x.shape[1]
    if c != weight.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected "
                           f"input{list(x.shape)} to have {weight.shape[0]} channels, but got "
                           f"{c} channels instead")
    for op, s, d in zip(opad, stride_t, dil, strict=True):
        if op >= s and op >= d:
            raise RuntimeError("output padding must be smaller than either stride or dilation, "
                               f"but got output_padding={list(opad)}, stride={list(stride_t)}, "
                               f"dilation={list(dil)}")
    size_in = tuple(x.shape[2:])
    size = tuple((h - 1) * s - 2 * p + d * (k - 1) + op + 1 for h, s, p, d, k, op in
                 zip(size_in, stride_t, pad, dil, kernel, opad, strict=True))
    if groups == 1 and transposed_is_conv(kernel, dil, stride_t, pad):
        # stride 1: a plain Convolution with the weight flipped and its channels swapped
        # (Convolution's own input gradient), one GEMM and no col2im
        back = tuple(d * (k - 1) - p for k, d, p in zip(kernel, dil, pad, strict=True))
        wt = weight.flip(tuple(range(2, 2 + nd))).transpose(0, 1)  # (O, C, *k)
        y = Convolution.apply(x, wt, bias, kernel, dil, stride_t, back, size)
        return y.squeeze(0) if unbatched else y
    og = weight.shape[1]  # output channels per group
    kk = math.prod(kernel)
    xf = x.reshape(n, c, -1).transpose(0, 1).reshape(groups, c // groups, -1)  # (G, C/G, N*L)
    w = weight.reshape(groups, c // groups, og * kk).mT  # (G, O/G*K, C/G)
    cols = (w @ xf).reshape(groups * og * kk, -1)  # (O*K, N*L): one GEMM per group
    y = Fold.apply(cols, size, kernel, dil, stride_t, pad, size_in, True, n)
    if bias is not None:
        y = y + bias.reshape((1, groups * og) + (1,) * nd)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """Matches `torch.nn.functional.conv_transpose1d`."""
    return _conv_transposend(input, weight, bias, stride, padding, output_padding, groups,
                             dilation, 1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """Matches `torch.nn.functional.conv_transpose2d`."""
    return _conv_transposend(input, weight, bias, stride, padding, output_padding, groups,
                             dilation, 2)


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Tensor:
    """Matches `torch.nn.functional.unfold` (4-D input, or 3-D unbatched)."""
    x, unbatched = _batched(input, 2, "unfold")
    k, d = ntuple(kernel_size, 2), ntuple(dilation, 2)
    p, s = ntuple(padding, 2), ntuple(stride, 2)
    out = out_size(tuple(x.shape[2:]), k, d, s, p)
    y = Unfold.apply(x, k, d, s, p, out)
    return y.squeeze(0) if unbatched else y


def fold(input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Tensor:
    """Matches `torch.nn.functional.fold` (3-D input, or 2-D unbatched)."""
    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    size, k = ntuple(output_size, 2), ntuple(kernel_size, 2)
    d, p, s = ntuple(dilation, 2), ntuple(padding, 2), ntuple(stride, 2)
    out = out_size(size, k, d, s, p)
    if x.shape[1] % math.prod(k):
        raise RuntimeError("Expected size of input's dimension 1 to be divisible by the product "
                           f"of kernel_size, but got input.size(1)={x.shape[1]} and "
                           f"kernel_size={k}")
    if x.shape[2] != math.prod(out):
        raise RuntimeError(f"Given output_size={size}, kernel_size={k}, dilation={d}, "
                           f"padding={p}, stride={s}, expected size of input's dimension 2 to "
                           f"match the calculated number of sliding blocks {out[0]} * {out[1]} "
                           f"= {math.prod(out)}, but got input.size(2)={x.shape[2]}.")
    y = Fold.apply(x, size, k, d, s, p, out)
    return y.squeeze(0) if unbatched else y
