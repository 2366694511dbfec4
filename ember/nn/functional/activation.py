"""Activation functions (torch.nn.functional): composed from ember ops."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

import ember
from ember import _buffers
from ember.autograd.function import Primitive
from ember._parallel import parallel_for
from ember.autograd.grad_mode import is_grad_enabled
from ember.tensor import Tensor

NDArray = np.ndarray

__all__ = ["relu", "relu_", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish",
           "sigmoid", "tanh", "softmax", "log_softmax", "softmin", "softplus", "hardtanh",
           "hardswish", "hardsigmoid", "logsigmoid", "glu", "threshold", "prelu", "softsign",
           "tanhshrink", "hardshrink", "softshrink"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _inplace(input: Tensor, out: Tensor, inplace: bool) -> Tensor:
    """Write `out` into `input` for the inplace=True forms (returns the input object)."""
    if not inplace:
        return out
    return input.copy_(out)


def _src(input: Tensor, inplace: bool) -> Tensor:
    """The tensor to compute from: a clone when an in-place result would overwrite a value that
    the computation saves for backward (x * sigmoid(x) keeps x)."""
    return input.clone() if inplace and input.requires_grad else input


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.relu`."""
    return input.relu_() if inplace else ember.relu(input)


def relu_(input: Tensor) -> Tensor:
    """Matches `torch.nn.functional.relu_`."""
    return input.relu_()


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.hardtanh` (the gradient is 0 at and beyond the bounds)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    inside = (input > min_val) & (input < max_val)
    out = ember.where(inside, input, ember.clamp(input.detach(), min_val, max_val))
    return _inplace(input, out, inplace)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.relu6`."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.leaky_relu`."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"leaky_relu_cpu" not implemented for '
                                  f"'{input.dtype._legacy[:-6]}'")
    out = ember.where(input > 0, input, input * negative_slope)
    return _inplace(input, out, inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.elu`."""
    neg = ember.expm1(ember.clamp(input, max=0.0)) * alpha
    return _inplace(input, ember.where(input > 0, input, neg), inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.selu`."""
    return _inplace(input, elu(input, _SELU_ALPHA) * _SELU_SCALE, inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.celu`."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    neg = ember.expm1(ember.clamp(input, max=0.0) / alpha) * alpha
    return _inplace(input, ember.where(input > 0, input, neg), inplace)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Matches `torch.nn.functional.gelu` ('none' uses erf, 'tanh' the tanh approximation)."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    if input.dtype in (ember.float32, ember.float64):
        return _Gelu.apply(input, approximate == "tanh")
    return _gelu_composed(input, approximate)


def _gelu_composed(input: Tensor, approximate: str) -> Tensor:
    """The reference composition (other dtypes, and the tests' reference for `_Gelu`)."""
    if approximate == "none":
        return input * 0.5 * (1.0 + ember.erf(input * (1.0 / math.sqrt(2.0))))
    inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
    return input * 0.5 * (1.0 + ember.tanh(inner))


# erfc(z) ~ t (a1 + a2 t + ... + a5 t⁴) exp(-z²), t = 1/(1 + 0.3275911 z), z >= 0: Abramowitz
# & Stegun 7.1.26, |error| < 1.5e-7, the formula torch's vectorised float32 erf uses. Here
# z = a/sqrt 2 and the halving of Phi(-a) = erfc(a/sqrt 2)/2 is folded into the coefficients.
_AS_P = 0.3275911 / math.sqrt(2.0)
_AS_A = tuple(0.5 * c for c in (1.061405429, -1.453152027, 1.421413741, -0.284496736,
                                0.254829592))  # a5 .. a1, halved
_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_K = math.sqrt(2.0 / math.pi)


_CHUNK = 1 << 16  # elements per block: five live blocks (1.25 MiB) about fill L2; smaller blocks
# (16K) ran no faster at 1 thread and made 2 threads slower than 1 (each NumPy call ~5 us,
# so the threads waited on the GIL between calls): (16,64,512) fwd 1T/2T 5.8/6.3 -> 5.3/3.2 ms
_GRAIN = 1 << 17  # elements per thread at least: below ~128K the hand-off costs more than it saves


def _gelu_f32(x: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """float32 x -> (gelu(x), Phi(-|x|), exp(-x²/2)) as relu(x) - |x| Phi(-|x|): no mask pass
    (np.where and where= on a random mask run at ~1/50 of a plain pass), no erf series. The
    ~17 one-op NumPy passes run block by block so the block stays in cache: 2x faster than
    whole-array passes for 16x64x512 (10.6 -> 4.9 ms CPU). Ranges of blocks run on ember's
    threads (`parallel_for`); every pass is elementwise, so the result does not depend on
    the split."""
    flat = x.reshape(-1)
    # pooled: three fresh 2 MiB arrays per call page-faulted ~1500 times (10.6 -> 5.7 ms)
    out, tail, gauss = (_buffers.empty_like(flat) for _ in range(3))

    def run(start: int, stop: int) -> None:
        f32 = np.float32
        a_buf, t_buf = np.empty(_CHUNK, f32), np.empty(_CHUNK, f32)  # per thread
        for s in range(start, stop, _CHUNK):
            m = min(_CHUNK, stop - s)
            xs, a, t = flat[s:s + m], a_buf[:m], t_buf[:m]
            p, e, o = tail[s:s + m], gauss[s:s + m], out[s:s + m]
            np.abs(xs, out=a)
            np.multiply(a, f32(_AS_P), out=t)
            t += f32(1.0)
            np.reciprocal(t, out=t)
            np.multiply(t, f32(_AS_A[0]), out=p)
            for c in _AS_A[1:]:  # Horner, in place
                p += f32(c)
                p *= t
            np.multiply(a, a, out=e)
            e *= f32(-0.5)
            np.exp(e, out=e)
            p *= e  # Phi(-|x|)
            np.multiply(a, p, out=t)
            np.maximum(xs, f32(0.0), out=o)
            o -= t

    parallel_for(run, flat.size, _GRAIN)
    return out.reshape(x.shape), tail.reshape(x.shape), gauss.reshape(x.shape)


def _gelu_f32_grad(x: NDArray, tail: NDArray, gauss: NDArray, g: NDArray) -> NDArray:
    """g (Phi(x) + x phi(x)) from the forward's Phi(-|x|) and exp(-x²/2), block by block,
    ranges of blocks on ember's threads as the forward."""
    xf, pf, ef = x.reshape(-1), tail.reshape(-1), gauss.reshape(-1)
    gf = np.ascontiguousarray(np.broadcast_to(g, x.shape)).reshape(-1)
    out = _buffers.empty_like(xf)

    def run(start: int, stop: int) -> None:
        f32 = np.float32
        t_buf = np.empty(_CHUNK, f32)
        for s in range(start, stop, _CHUNK):
            m = min(_CHUNK, stop - s)
            xs, d, t = xf[s:s + m], out[s:s + m], t_buf[:m]
            np.subtract(f32(0.5), pf[s:s + m], out=d)  # Phi(x) = 1/2 + sign(x)(1/2 - p)
            np.copysign(d, xs, out=d)
            d += f32(0.5)
            np.multiply(ef[s:s + m], f32(_INV_SQRT_2PI), out=t)
            t *= xs  # x phi(x)
            d += t
            d *= gf[s:s + m]

    parallel_for(run, xf.size, _GRAIN)
    return out.reshape(x.shape)


def _normal_cdf(x: NDArray) -> NDArray:
    """Phi(x) = erfc(-x/sqrt 2)/2 in x's dtype: float32 from `_gelu_f32`, Phi(x) = 1/2 +
    sign(x) (1/2 - Phi(-|x|)) branch-free; float64 from ember's accurate erf."""
    if x.dtype != np.float32:
        erf = ember.erf(Tensor._make(x * _SQRT1_2))._data
        return np.asarray((erf + 1.0) * 0.5)
    return _cdf_from_tail(x, _gelu_f32(x)[1])


def _cdf_from_tail(x: NDArray, p: NDArray) -> NDArray:
    cdf = np.subtract(np.float32(0.5), p)
    np.copysign(cdf, x, out=cdf)
    cdf += np.float32(0.5)
    return cdf


class _Gelu(Primitive):
    """Fused gelu for float32/64: exact x Phi(x) (Phi the normal cdf) or, with `tanh`,
    x (1 + th)/2, th = tanh(k (x + 0.044715 x³)), k = sqrt(2/pi). float32 exact gelu is
    relu(x) - |x| Phi(-|x|), which keeps relative digits in the lower tail.
    VJP: g (Phi + x phi), phi = exp(-x²/2)/sqrt(2 pi); tanh: g ((1 + th)/2
    + x/2 (1 - th²) k (1 + 3 0.044715 x²)). Phi (or its parts, or th) is kept from the forward."""

    @staticmethod
    def forward(ctx: Any, x: NDArray, tanh: bool) -> NDArray:
        need = ctx.needs_input_grad[0]
        ctx.tanh, ctx.cdf, ctx.tail = tanh, None, None
        if need:
            ctx.save_for_backward(ctx.inputs[0])
        if not tanh and x.dtype == np.float32:
            out, p, e = _gelu_f32(x)
            if need:
                ctx.tail = (p, e)
            return out
        if tanh:
            inner = x * x
            inner *= 0.044715
            inner += 1.0
            inner *= x
            inner *= _TANH_K
            cdf = np.tanh(inner, out=inner)
            cdf += 1.0
            cdf *= 0.5  # (1 + th)/2
        else:
            cdf = _normal_cdf(x)
        if need:
            ctx.cdf = cdf
            return x * cdf
        cdf *= x
        return cdf

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, None]:
        (x,) = ctx.saved_tensors
        if is_grad_enabled():  # create_graph: the composed derivative, differentiable again
            return g * _gelu_derivative(x, ctx.tanh), None
        xa = x._data
        if ctx.tail is not None:  # float32 exact: Phi from Phi(-|x|), phi from exp(-x²/2)
            p, e = ctx.tail
            return Tensor._make(_gelu_f32_grad(xa, p, e, g._data)), None
        if ctx.tanh:
            # x/2 (1 - th²) k (1 + 3a x²), with (1 - th²)/4 = cdf (1 - cdf)
            cdf = ctx.cdf
            d = xa * xa
            d *= 3 * 0.044715
            d += 1.0
            d *= xa
            d *= 2.0 * _TANH_K
            d *= cdf
            d *= 1.0 - cdf
        else:
            cdf = ctx.cdf
            d = xa * xa
            d *= -0.5
            np.exp(d, out=d)
            d *= _INV_SQRT_2PI
            d *= xa  # x phi(x)
        d += cdf
        d *= g._data
        return Tensor._make(d), None


def _gelu_derivative(x: Tensor, tanh: bool) -> Tensor:
    """d gelu / dx written in ember ops (for create_graph)."""
    if tanh:
        th = ember.tanh((x + x * x * x * 0.044715) * _TANH_K)
        dinner = (1.0 + x * x * (3 * 0.044715)) * _TANH_K
        return (1.0 + th) * 0.5 + x * 0.5 * (1.0 - th * th) * dinner
    cdf = (1.0 + ember.erf(x * _SQRT1_2)) * 0.5
    return cdf + x * ember.exp(x * x * -0.5) * _INV_SQRT_2PI


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.silu`."""
    x = _src(input, inplace)
    return _inplace(input, x * ember.sigmoid(x), inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.mish`: x * tanh(softplus(x))."""
    x = _src(input, inplace)
    return _inplace(input, x * ember.tanh(softplus(x)), inplace)


def sigmoid(input: Tensor) -> Tensor:
    """Matches `torch.nn.functional.sigmoid`."""
    return ember.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """Matches `torch.nn.functional.tanh`."""
    return ember.tanh(input)


def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """Matches `torch.nn.functional.softmax` (dim=None warns and picks torch's legacy dim)."""
    if dim is None:
        dim = _get_softmax_dim("softmax", input.ndim, _stacklevel)
    return ember.softmax(input, dim, dtype=dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """Matches `torch.nn.functional.softmin`: softmax(-input)."""
    if dim is None:
        dim = _get_softmax_dim("softmin", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return ember.softmax(-input, dim)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None) -> Tensor:
    """Matches `torch.nn.functional.log_softmax`."""
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.ndim, _stacklevel)
    return ember.log_softmax(input, dim, dtype=dtype)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Matches `torch.nn.functional.softplus`: log1p(exp(beta*x))/beta, linear above threshold."""
    bx = input * beta
    linear = bx > threshold
    soft = ember.log1p(ember.exp(ember.where(linear, ember.zeros_like(bx), bx))) / beta
    return ember.where(linear, input, soft)


class _LogSigmoid(Primitive):
    """Stable min(x, 0) - log1p(exp(-|x|)). VJP: g * sigmoid(-x)."""

    @staticmethod
    def forward(ctx: Any, x: NDArray) -> NDArray:
        ctx.save_for_backward(*ctx.inputs)
        return (np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor]:
        (x,) = ctx.saved_tensors
        return (g * ember.sigmoid(-x),)


def logsigmoid(input: Tensor) -> Tensor:
    """Matches `torch.nn.functional.logsigmoid`."""
    return _LogSigmoid.apply(input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.hardsigmoid`: relu6(x+3)/6 (gradient 0 at the bounds)."""
    return _inplace(input, hardtanh(input + 3.0, 0.0, 6.0) / 6.0, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.hardswish`: x*relu6(x+3)/6."""
    x = _src(input, inplace)
    lo, hi = x <= -3.0, x >= 3.0
    mid = x * (x + 3.0) / 6.0
    out = ember.where(hi, x, ember.where(lo, ember.zeros_like(x), mid))
    return _inplace(input, out, inplace)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Matches `torch.nn.functional.glu`: a * sigmoid(b) for the halves along `dim`."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    if input.shape[dim] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % input.ndim} "
                           f"is size {input.shape[dim]}")
    a, b = input.chunk(2, dim)
    return a * ember.sigmoid(b)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """Matches `torch.nn.functional.threshold`: x where x > threshold, else value."""
    out = ember.where(input > threshold, input, ember.full_like(input, value))
    return _inplace(input, out, inplace)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """Matches `torch.nn.functional.prelu` (weight has 1 or C entries, C = dim 1)."""
    w = weight
    if weight.numel() > 1 and input.ndim >= 2:
        w = weight.reshape((-1,) + (1,) * (input.ndim - 2))
    return ember.where(input > 0, input, input * w)


def softsign(input: Tensor) -> Tensor:
    """Matches `torch.nn.functional.softsign`."""
    return input / (1.0 + ember.abs(input))


def tanhshrink(input: Tensor) -> Tensor:
    """Matches `torch.nn.functional.tanhshrink`."""
    return input - ember.tanh(input)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """Matches `torch.nn.functional.hardshrink`."""
    return ember.where(ember.abs(input) > lambd, input, ember.zeros_like(input))


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """Matches `torch.nn.functional.softshrink`."""
    shrunk = input - ember.sign(input) * lambd
    return ember.where(ember.abs(input) > lambd, shrunk, ember.zeros_like(input))
