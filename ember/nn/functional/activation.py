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
# z = a/sqrt 2, the halving of Phi(-a) = erfc(a/sqrt 2)/2 is folded into the coefficients, and
# t = u/p with u = 1/(a + 1/p), p = 0.3275911/sqrt 2: one pass fewer (an add and a reciprocal
# instead of a multiply, an add and a reciprocal), the coefficients b_i = a_i/(2 p^i).
_AS_P = 0.3275911 / math.sqrt(2.0)
_AS_B = tuple(0.5 * c / _AS_P**i for i, c in reversed(list(enumerate(
    (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429), 1))))  # b5 .. b1
_EXP2_HALF = 0.5 / math.log(2.0)  # exp(-x²/2) = 2^(-x² log2(e)/2): np.exp2 ~1.5x faster than exp
_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_K = math.sqrt(2.0 / math.pi)


_CHUNK = 1 << 15  # elements per block: five live blocks (640 KiB) stay in L2; 64K-element blocks
# ran ~7% slower at 1 thread ((16,64,512) fwd with grad, CPU ms, /tmp/pg4/gelu_new.py: 4.42 ->
# 4.11), and 16K ones made 2 threads slower than 1 (each NumPy call ~5 us, so the threads
# waited on the GIL between calls): (16,64,512) fwd 1T/2T 5.8/6.3 -> 5.3/3.2 ms
_GRAIN = 1 << 17  # elements per thread at least: below ~128K the hand-off costs more than it saves
_SIGN_BIT = np.int32(-(2**31))


def _gelu_f32(x: NDArray, grad: bool) -> tuple[NDArray, NDArray | None]:
    """float32 x -> (gelu(x), gelu'(x) when grad): gelu as relu(x) - |x| Phi(-|x|), no mask
    pass (np.where and where= on a random mask run at ~1/50 of a plain pass), no erf series;
    gelu' = Phi(x) + x phi(x), Phi(x) = 1/2 + sign(x) (1/2 - Phi(-|x|)). The ~26 one-op NumPy
    passes run block by block so the block stays in cache: 2x faster than whole-array passes
    for 16x64x512 (10.6 -> 4.9 ms CPU). Keeping gelu' (one array) instead of Phi(-|x|) and
    exp(-x²/2) for the backward leaves it one multiply: fwd+bwd 6.2 -> 5.2 ms CPU, same bits.
    Ranges of blocks run on ember's threads (`parallel_for`); every pass is elementwise, so
    the result does not depend on the split."""
    flat = x.reshape(-1)
    # pooled: fresh 2 MiB arrays per call page-faulted ~500 times each (10.6 -> 5.7 ms)
    out = _buffers.empty_like(flat)
    deriv = _buffers.empty_like(flat) if grad else None

    def run(start: int, stop: int) -> None:
        f32 = np.float32
        a_buf, t_buf, p_buf, e_buf = (np.empty(_CHUNK, f32) for _ in range(4))  # per thread
        zero = _buffers.zeros(_CHUNK, f32)  # np.maximum with an array: ~3x faster than with 0.0
        for s in range(start, stop, _CHUNK):
            m = min(_CHUNK, stop - s)
            xs, a, t, p, e = flat[s:s + m], a_buf[:m], t_buf[:m], p_buf[:m], e_buf[:m]
            o = out[s:s + m]
            np.abs(xs, out=a)
            np.add(a, f32(1.0 / _AS_P), out=t)
            np.reciprocal(t, out=t)  # u
            np.multiply(t, f32(_AS_B[0]), out=p)
            for c in _AS_B[1:]:  # Horner, in place
                p += f32(c)
                p *= t
            np.multiply(xs, f32(-_EXP2_HALF), out=e)
            e *= xs
            np.exp2(e, out=e)  # exp(-x²/2)
            p *= e  # Phi(-|x|)
            np.multiply(a, p, out=t)
            np.maximum(xs, zero[:m], out=o)
            o -= t
            if deriv is None:
                continue
            d = deriv[s:s + m]
            np.subtract(f32(0.5), p, out=d)
            # copysign(d, x) as sign-bit ops: np.copysign ran ~4x slower than these two
            di, ti = d.view(np.int32), t.view(np.int32)
            np.bitwise_and(xs.view(np.int32), _SIGN_BIT, out=ti)
            np.bitwise_or(di, ti, out=di)
            d += f32(0.5)  # Phi(x)
            np.multiply(e, f32(_INV_SQRT_2PI), out=t)
            t *= xs  # x phi(x)
            d += t

    parallel_for(run, flat.size, _GRAIN)
    return out.reshape(x.shape), None if deriv is None else deriv.reshape(x.shape)


def _normal_cdf(x: NDArray) -> NDArray:
    """Phi(x) = (1 + erf(x/sqrt 2))/2 from ember's accurate erf (float64; float32 exact gelu
    takes `_gelu_f32`)."""
    erf = ember.erf(Tensor._make(x * _SQRT1_2))._data
    return np.asarray((erf + 1.0) * 0.5)


class _Gelu(Primitive):
    """Fused gelu for float32/64: exact x Phi(x) (Phi the normal cdf) or, with `tanh`,
    x (1 + th)/2, th = tanh(k (x + 0.044715 x³)), k = sqrt(2/pi). float32 exact gelu is
    relu(x) - |x| Phi(-|x|), which keeps relative digits in the lower tail.
    VJP: g (Phi + x phi), phi = exp(-x²/2)/sqrt(2 pi); tanh: g ((1 + th)/2
    + x/2 (1 - th²) k (1 + 3 0.044715 x²)). The forward keeps Phi (float64), (1 + th)/2
    (tanh), or for float32 exact gelu the whole derivative."""

    @staticmethod
    def forward(ctx: Any, x: NDArray, tanh: bool) -> NDArray:
        need = ctx.needs_input_grad[0]
        ctx.tanh, ctx.cdf, ctx.deriv = tanh, None, None
        if need:
            ctx.save_for_backward(ctx.inputs[0])
        if not tanh and x.dtype == np.float32:
            out, ctx.deriv = _gelu_f32(x, need)
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
        if ctx.deriv is not None:  # float32 exact: gelu'(x) from the forward
            d = ctx.deriv
            return Tensor._make(np.multiply(g._data, d, out=_buffers.empty(d.shape, d.dtype))), None
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
