"""Elementwise primitives (arithmetic, unary math, comparisons, logic) and their composites."""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ember import _buffers
from ember import dtypes as _dt
from ember.autograd.function import Node, Primitive
from ember.autograd.grad_mode import STATE
from ember.ops.common import as_tensor_arg, float_input, is_scalar, promote, result_type
from ember.tensor import Tensor

NDArray = np.ndarray

# public functions; ember.ops and the ember namespace re-export these
__all__ = [
    "add", "sub", "subtract", "rsub", "mul", "multiply", "div", "divide", "true_divide",
    "floor_divide", "remainder", "fmod", "pow", "neg", "negative", "abs", "absolute", "sign",
    "square", "reciprocal", "sqrt", "rsqrt", "exp", "exp2", "log", "log1p", "expm1", "log2",
    "log10", "sin", "cos", "tan", "asin", "acos", "atan", "arcsin", "arccos", "arctan", "sinh",
    "cosh", "tanh", "sigmoid", "relu", "erf", "erfc", "erfinv", "atan2", "arctan2", "hypot",
    "logaddexp", "xlogy", "floor", "ceil", "round", "trunc", "fix", "frac", "clamp", "clip",
    "clamp_min", "clamp_max", "maximum", "minimum", "fmax", "fmin", "where", "lerp", "addcmul",
    "addcdiv", "nan_to_num", "isnan", "isinf", "isfinite", "isposinf", "isneginf", "logical_and",
    "logical_or", "logical_not", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_not", "eq", "ne", "lt", "le", "gt", "ge", "greater", "less", "greater_equal",
    "less_equal", "not_equal", "equal", "allclose", "isclose", "masked_fill", "fill", "zero",
    "copy",
]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_2_SQRTPI = 2.0 / math.sqrt(math.pi)


def _zeros(g: Tensor) -> Tensor:
    """A zero gradient (torch returns zeros, not None, for rounding ops and fill)."""
    return Tensor._make(np.zeros_like(g._data))


def _cond(mask: NDArray, g: Tensor) -> Tensor:
    """g where mask holds, else 0 (mask is a NumPy bool array; the result stays in the graph)."""
    return where(Tensor._make(np.asarray(mask)), g, 0.0)


# ---- binary arithmetic -----------------------------------------------------------------------
class Add(Primitive):
    """a + b. VJP: (g, g)."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        return a + b

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return g, g


class Sub(Primitive):
    """a - b. VJP: (g, -g)."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        return a - b

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Primitive):
    """a * b. VJP: (g * b, g * a); each side saves only what the other's gradient needs."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        need_a, need_b = ctx.needs_input_grad
        if need_a or need_b:  # not when nothing is recorded (no_grad, backward's own g * b)
            x, y = ctx.inputs  # type: ignore[misc]
            ctx.save_for_backward(y if need_a else None, x if need_b else None)
        return a * b

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        b, a = ctx.saved_tensors
        gd = g._data
        if not STATE.enabled and (a is None or isinstance(a, Tensor) and a._data.dtype is gd.dtype
                                  ) and (b is None or isinstance(b, Tensor)
                                         and b._data.dtype is gd.dtype):
            # a plain backward records nothing: the NumPy products without Mul's apply2 and
            # its Tensor operator (Tensors of g's dtype: nothing to promote)
            return (None if b is None else Tensor._make(gd * b._data),
                    None if a is None else Tensor._make(gd * a._data))
        return (g * b if ctx.needs_input_grad[0] else None,
                g * a if ctx.needs_input_grad[1] else None)


class Div(Primitive):
    """a / b (floating). VJP: (g / b, -g * a / b**2)."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        x, y = ctx.inputs  # type: ignore[misc]
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, y)
        with np.errstate(all="ignore"):
            return a / b

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        return (g / b if ctx.needs_input_grad[0] else None,
                -g * a / (b * b) if ctx.needs_input_grad[1] else None)


def _int_zero_check(b: Any) -> None:
    if np.any(np.asarray(b) == 0):
        raise RuntimeError("ZeroDivisionError")


class RoundedDiv(Primitive):
    """a / b rounded ('trunc' or 'floor'). VJP: zeros, as torch."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray, mode: str) -> NDArray:
        a_, b_ = np.asarray(a), np.asarray(b)
        if np.result_type(a, b).kind in "biu":
            _int_zero_check(b_)
            q = np.floor_divide(a, b)
            if mode == "trunc":  # floor rounds down where the signs differ and it is inexact
                q = q + ((np.remainder(a, b) != 0) & ((a_ < 0) != (b_ < 0)))
            return np.asarray(q)
        with np.errstate(all="ignore"):
            return np.asarray(np.trunc(a / b) if mode == "trunc" else np.floor_divide(a, b))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return _zeros(g), _zeros(g), None


class FloorDivide(RoundedDiv):
    """a // b: recorded, but torch defines no derivative, so backward raises its error."""

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        raise RuntimeError("derivative for aten::floor_divide is not implemented")


class Remainder(Primitive):
    """a mod b with the divisor's sign (Python's %). VJP: (g, -g * floor(a / b))."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        ctx.save_for_backward(*ctx.inputs)  # type: ignore[misc]
        if np.result_type(a, b).kind in "biu":
            _int_zero_check(b)
        with np.errstate(all="ignore"):
            return np.asarray(np.remainder(a, b))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        return g, (-g * div(a, b, rounding_mode="floor") if ctx.needs_input_grad[1] else None)


class Fmod(Primitive):
    """a mod b with the dividend's sign (C fmod). VJP: (g, -g * trunc(a / b))."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        ctx.save_for_backward(*ctx.inputs)  # type: ignore[misc]
        if np.result_type(a, b).kind in "biu":
            _int_zero_check(b)
        with np.errstate(all="ignore"):
            return np.asarray(np.fmod(a, b))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        return g, (-g * div(a, b, rounding_mode="trunc") if ctx.needs_input_grad[1] else None)


class Pow(Primitive):
    """a ** b. VJP: (g * b * a**(b-1), 0 where b == 0; g * out * log(a), 0 where a == 0 and
    b >= 0)."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        ctx.save_for_backward(*ctx.inputs)  # type: ignore[misc]
        rt = np.result_type(a, b)
        if rt.kind in "biu":  # NumPy raises bool to int8; torch keeps bool
            return _int_pow(a, b).astype(rt, copy=False)
        with np.errstate(all="ignore"):
            return np.asarray(np.power(a, b))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            if is_scalar(b):
                ga = _zeros(g) if b == 0 else g * b * a ** (b - 1)
            else:
                ga = where(b == 0, 0.0, g * b * a ** (b - 1))
        if ctx.needs_input_grad[1]:
            lg = g * ctx.output() * log(a) if isinstance(a, Tensor) else g * ctx.output() * (
                math.log(a) if a > 0 else (-math.inf if a == 0 else math.nan))
            gb = where((a == 0) & (b >= 0), 0.0, lg)
        return ga, gb


def _int_pow(a: Any, b: Any) -> NDArray:
    """Integer powers; negative exponents give 1 for base 1, +-1 for base -1, else 0 (torch)."""
    neg = np.asarray(b) < 0
    if not np.any(neg):
        return np.asarray(np.power(a, b))
    out = np.asarray(np.power(a, np.where(neg, 0, b).astype(np.result_type(b))))
    odd = np.asarray(b % 2 == 1)
    at_neg = np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0))
    return np.asarray(np.where(neg, at_neg, out).astype(out.dtype))


class Atan2(Primitive):
    """atan2(a, b). VJP: (g * b / (a² + b²), -g * a / (a² + b²))."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        ctx.save_for_backward(*ctx.inputs)  # type: ignore[misc]
        return np.asarray(np.arctan2(a, b))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        r = g / (a * a + b * b)
        return r * b, -r * a


class Hypot(Primitive):
    """sqrt(a² + b²). VJP: (g * a / out, g * b / out)."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        ctx.save_for_backward(*ctx.inputs)  # type: ignore[misc]
        return np.asarray(np.hypot(a, b))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        r = g / ctx.output()
        return r * a, r * b


class LogAddExp(Primitive):
    """log(exp(a) + exp(b)). VJP: (g * exp(a - out), g * exp(b - out))."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        ctx.save_for_backward(*ctx.inputs)  # type: ignore[misc]
        with np.errstate(invalid="ignore"):  # inf - inf inside; torch gives nan or inf silently
            return np.asarray(np.logaddexp(a, b))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        out = ctx.output()
        return g * exp(a - out), g * exp(b - out)


class XLogY(Primitive):
    """x * log(y), 0 where x == 0 (unless y is nan). VJP: (g * xlogy(x != 0, y), g * x / y)."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, y: NDArray) -> NDArray:
        ctx.save_for_backward(*ctx.inputs)  # type: ignore[misc]
        with np.errstate(all="ignore"):
            out = np.asarray(x * np.log(y))
        return np.asarray(np.where((np.asarray(x) == 0) & ~np.isnan(y), 0, out).astype(out.dtype))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        x, y = ctx.saved_tensors
        gx = g * xlogy((x != 0).to(g.dtype), y) if ctx.needs_input_grad[0] else None
        return gx, (g * x / y if ctx.needs_input_grad[1] else None)


class _MaxMin(Primitive):
    """maximum/minimum, nan-propagating. VJP: g to the larger (smaller) side, halved on ties."""

    np_fn: Any = np.maximum

    @classmethod
    def forward(cls, ctx: Node, a: NDArray, b: NDArray) -> NDArray:  # type: ignore[override]
        ctx.save_for_backward(*ctx.inputs)  # type: ignore[misc]
        return np.asarray(cls.np_fn(a, b))

    @classmethod
    def backward(cls, ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        a, b = (t._data if isinstance(t, Tensor) else t for t in ctx.saved_tensors)
        lose_a = a < b if cls.np_fn is np.maximum else a > b
        lose_b = b < a if cls.np_fn is np.maximum else b > a
        half = where(Tensor._make(np.asarray(a == b)), g / 2, g)
        return _cond(~lose_a, half), _cond(~lose_b, half)


class Maximum(_MaxMin):
    np_fn = np.maximum


class Minimum(_MaxMin):
    np_fn = np.minimum


class _FMaxMin(Primitive):
    """fmax/fmin (nan ignored). VJP: g to self where it wins or ties or other is nan, else other."""

    np_fn: Any = np.fmax

    @classmethod
    def forward(cls, ctx: Node, a: NDArray, b: NDArray) -> NDArray:  # type: ignore[override]
        ge = a >= b if cls.np_fn is np.fmax else a <= b
        ctx.to_a = np.asarray(ge | np.isnan(b))
        return np.asarray(cls.np_fn(a, b))

    @classmethod
    def backward(cls, ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        return _cond(ctx.to_a, g), _cond(~ctx.to_a, g)


class FMax(_FMaxMin):
    np_fn = np.fmax


class FMin(_FMaxMin):
    np_fn = np.fmin


class Clamp(Primitive):
    """min(max(x, lo), hi); lo/hi are arrays, scalars or None. VJP as torch: g to x where
    lo <= x <= hi (the bounds count as inside), to lo where x < lo and lo < hi, to hi where
    x > hi or hi < lo (with lo == hi and x < lo, nothing gets a gradient)."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, lo: Any, hi: Any) -> NDArray:
        out = x
        ge = le = np.ones(np.shape(x), bool)
        lo_lt_hi = hi_lt_lo = np.asarray(lo is None or hi is None)
        if lo is not None and hi is not None:
            lo_lt_hi, hi_lt_lo = np.asarray(lo < hi), np.asarray(hi < lo)
        if lo is not None:
            ge = x >= lo
            out = np.maximum(out, lo)  # nan in x propagates; nan in a bound gives nan, as torch
        if hi is not None:
            le = x <= hi
            out = np.minimum(out, hi)
        ctx.ge, ctx.le, ctx.lo_lt_hi, ctx.hi_lt_lo = np.asarray(ge), np.asarray(le), lo_lt_hi, (
            hi_lt_lo if lo is not None and hi is not None else np.asarray(False))
        return np.asarray(out).astype(x.dtype, copy=False)  # bfloat16 with a float stays bf16

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        gx = _cond(ctx.ge & ctx.le, g) if ctx.needs_input_grad[0] else None
        glo = _cond(~ctx.ge & ctx.lo_lt_hi, g) if ctx.needs_input_grad[1] else None
        ghi = _cond(~ctx.le | ctx.hi_lt_lo, g) if ctx.needs_input_grad[2] else None
        return gx, glo, ghi


class Where(Primitive):
    """cond ? a : b. VJP: (None, g where cond, g where not cond)."""

    @staticmethod
    def forward(ctx: Node, c: NDArray, a: NDArray, b: NDArray) -> NDArray:
        ctx.c = c
        return np.asarray(np.where(c, a, b))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        c = Tensor._make(ctx.c)
        return (None, where(c, g, 0.0) if ctx.needs_input_grad[1] else None,
                where(c, 0.0, g) if ctx.needs_input_grad[2] else None)


class Neg(Primitive):
    """-a. VJP: -g."""

    @staticmethod
    def forward(ctx: Node, a: NDArray) -> NDArray:
        return -a

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (-g,)


# ---- unary math, table-driven ------------------------------------------------------------------
class _Unary(Primitive):
    """One-input op: `np_fn` forward; VJP `grad(g, x, out)`. `save_input` keeps x; `quiet`
    silences NumPy's warnings where inputs outside the domain are routine (log(0), sqrt(-1)):
    torch returns inf/nan silently. Hot ops skip it: the context manager costs a few µs."""

    np_fn: Any = None
    save_input = True
    quiet = False

    @classmethod
    def forward(cls, ctx: Node, a: NDArray) -> NDArray:  # type: ignore[override]
        if cls.save_input:
            ctx.save_for_backward(ctx.inputs[0])  # type: ignore[index]
        if not cls.quiet:
            return np.asarray(cls.np_fn(a))
        with np.errstate(all="ignore"):
            return np.asarray(cls.np_fn(a))

    @classmethod
    def backward(cls, ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x = ctx.saved_tensors[0] if cls.save_input else None
        out = ctx.output() if cls.save_output else None
        return (cls.grad(g, x, out),)

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        raise NotImplementedError


class _OutUnary(_Unary):
    """A unary op whose derivative needs only the output."""

    save_input = False
    save_output = True


class Exp(_OutUnary):
    """exp(x). VJP: g * out."""

    np_fn = np.exp

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * out


class Exp2(_OutUnary):
    """2**x. VJP: g * out * ln 2."""

    np_fn = np.exp2

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * out * _LN2


class Expm1(_OutUnary):
    """exp(x) - 1. VJP: g * (out + 1)."""

    np_fn = np.expm1

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * (out + 1)


class Sqrt(_OutUnary):
    """sqrt(x). VJP: g / (2 out) (inf at 0, as torch)."""

    quiet = True

    np_fn = np.sqrt

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g / (out * 2)


class Rsqrt(_OutUnary):
    """1 / sqrt(x). VJP: -g * out³ / 2."""

    quiet = True

    @staticmethod
    def np_fn(a: NDArray) -> NDArray:  # type: ignore[override]
        return np.asarray(1 / np.sqrt(a)).astype(a.dtype)

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * (out * out * out) * -0.5


class Reciprocal(_OutUnary):
    """1 / x. VJP: -g * out²."""

    quiet = True

    @staticmethod
    def np_fn(a: NDArray) -> NDArray:  # type: ignore[override]
        return np.asarray(np.reciprocal(a))

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return -g * (out * out)


class Tan(_OutUnary):
    """tan(x). VJP: g * (1 + out²)."""

    np_fn = np.tan

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * (out * out + 1)


class Tanh(_OutUnary):
    """tanh(x). VJP: g * (1 - out²)."""

    np_fn = np.tanh

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * (1 - out * out)


class Sigmoid(_OutUnary):
    """1 / (1 + exp(-x)) as torch (exp overflow gives 0). VJP: g * out * (1 - out)."""

    quiet = True

    @staticmethod
    def np_fn(a: NDArray) -> NDArray:  # type: ignore[override]
        return np.asarray(1 / (1 + np.exp(-a))).astype(a.dtype)

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * (out * (1 - out))


class Relu(_OutUnary):
    """max(x, 0). VJP: g where out > 0 (relu'(0) = 0, as torch)."""

    @staticmethod
    def forward(ctx: Node, a: NDArray) -> NDArray:  # type: ignore[override]
        # a 0-d zero of a's dtype keeps it (ints and bf16 too) and costs NumPy ~2K fewer
        # instructions than a Python 0, a weak scalar whose type it resolves per call
        if (a.size < _RELU_BITS_MIN or a.dtype not in (np.float32, np.float64)
                or not a.flags.c_contiguous):
            return np.maximum(a, _ZERO[a.dtype])
        # large arrays: against a block of zeros NumPy's maximum ran ~2x faster than against a
        # 0-d zero ((32,64,16,16) float32: 0.50 -> 0.24 ms, /tmp/pc/max0.py); same values
        out = np.empty_like(a)
        af, of, z = a.reshape(-1), out.reshape(-1), _buffers.zeros(_ZEROS_BLOCK, a.dtype)
        for i in range(0, a.size, z.size):
            np.maximum(af[i:i + z.size], z[:a.size - i], out=of[i:i + z.size])
        return out

    @classmethod
    def backward(cls, ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        # the output's array, not a Tensor in the graph: the mask carries no gradient
        out = ctx.output_array()
        if STATE.enabled:  # create_graph: through ReluBackward, so double backward flows
            return (ReluBackward.apply(g, out),)
        # a plain backward records nothing: the same array without a Node and apply
        return (Tensor._make(_relu_vjp(g._data, out)),)


def _relu_vjp(g: NDArray, out: NDArray) -> NDArray:
    """g where out is not <= 0, else 0, in g's dtype: torch's threshold_backward (so nan
    outputs pass g, and inf or nan g gives 0 where masked). Against a cached 0-d
    zero, not g * mask (float by bool: a cast to resolve, and inf * 0 is nan) nor a Python 0
    (a weak scalar NumPy resolves per call)."""
    if (g.size >= _RELU_BITS_MIN and g.shape == out.shape and g.dtype == out.dtype
            and g.dtype in (np.float32, np.float64)):
        # large arrays (CNN activations): np.where ran ~3x slower, (32,64,16,16) float32
        # 3.3 -> 1.1 ms: keep = (out <= 0) - 1 (all bits set where g passes), g's bits & keep
        res = np.empty_like(g)
        keep = res.view(np.int32 if g.itemsize == 4 else np.int64)
        np.subtract(out <= _ZERO[out.dtype], 1, out=keep, dtype=keep.dtype)
        np.bitwise_and(keep, g.view(keep.dtype), out=keep)
        return res
    if g.shape != out.shape:
        return np.where(out <= _ZERO[out.dtype], _ZERO[g.dtype], g)
    # small arrays: a copy of g with zeros put where out <= 0, the same bits as np.where and
    # ~2.4K fewer instructions (np.where's iterator over three operands costs more)
    res = g.copy()
    np.putmask(res, out <= _ZERO[out.dtype], _ZERO[g.dtype])
    return res


class _Zeros0(dict):  # type: ignore[type-arg]
    """A read-only 0-d zero per NumPy dtype (from _buffers): one subscript per use instead of
    two Python calls."""

    def __missing__(self, dt: Any) -> NDArray:
        z = self[dt] = _buffers.zeros((), dt)
        return z


_ZERO = _Zeros0()

_RELU_BITS_MIN = 1 << 12  # elements from which _relu_vjp works on the bits (and relu in blocks)
_ZEROS_BLOCK = 1 << 16  # elements of the zeros relu's forward compares large arrays with


class ReluBackward(Primitive):
    """relu's VJP `g * (out > 0)` as one primitive (composed it is three: compare, cast,
    multiply). VJP: (gg * (out > 0), None): the mask is piecewise constant."""

    @staticmethod
    def forward(ctx: Node, g: NDArray, out: NDArray) -> NDArray:
        if ctx.needs_input_grad[0]:  # double backward: the same mask
            ctx.mask = ~(out <= 0)
        return _relu_vjp(g, out)

    @staticmethod
    def backward(ctx: Node, gg: Tensor) -> tuple[Tensor | None, ...]:
        return (gg * Tensor._make(ctx.mask), None)


class Log(_Unary):
    """log(x). VJP: g / x."""

    quiet = True

    np_fn = np.log

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g / x


class Log1p(_Unary):
    """log(1 + x). VJP: g / (1 + x)."""

    quiet = True

    np_fn = np.log1p

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g / (x + 1)


class Log2(_Unary):
    """log2(x). VJP: g / (x ln 2)."""

    quiet = True

    np_fn = np.log2

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g / (x * _LN2)


class Log10(_Unary):
    """log10(x). VJP: g / (x ln 10)."""

    quiet = True

    np_fn = np.log10

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g / (x * _LN10)


class Sin(_Unary):
    """sin(x). VJP: g * cos(x)."""

    np_fn = np.sin

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * cos(x)


class Cos(_Unary):
    """cos(x). VJP: -g * sin(x)."""

    np_fn = np.cos

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return -g * sin(x)


class Asin(_Unary):
    """asin(x). VJP: g / sqrt(1 - x²)."""

    quiet = True

    np_fn = np.arcsin

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * rsqrt(1 - x * x)


class Acos(_Unary):
    """acos(x). VJP: -g / sqrt(1 - x²)."""

    quiet = True

    np_fn = np.arccos

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return -g * rsqrt(1 - x * x)


class Atan(_Unary):
    """atan(x). VJP: g / (1 + x²)."""

    np_fn = np.arctan

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g / (x * x + 1)


class Sinh(_Unary):
    """sinh(x). VJP: g * cosh(x)."""

    np_fn = np.sinh

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * cosh(x)


class Cosh(_Unary):
    """cosh(x). VJP: g * sinh(x)."""

    np_fn = np.cosh

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * sinh(x)


class Abs(_Unary):
    """|x|. VJP: g * sign(x) (0 at 0, as torch)."""

    np_fn = np.abs

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * sign(x)


class Frac(_Unary):
    """x - trunc(x). VJP: g."""

    save_input = False

    @staticmethod
    def np_fn(a: NDArray) -> NDArray:  # type: ignore[override]
        return np.asarray(a - np.trunc(a))

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g


class _Flat(_Unary):
    """Piecewise-constant ops (floor, sign, ...): VJP zeros, as torch."""

    save_input = False

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return _zeros(g)


class Floor(_Flat):
    np_fn = np.floor


class Ceil(_Flat):
    np_fn = np.ceil


class Trunc(_Flat):
    np_fn = np.trunc


class Sign(_Flat):
    """sign(x), with sign(nan) = 0 as torch."""

    @staticmethod
    def np_fn(a: NDArray) -> NDArray:  # type: ignore[override]
        return np.asarray(np.where(np.isnan(a), 0, np.sign(a)).astype(a.dtype))


class Round(_Flat):
    """Round half to even, to `decimals` places."""

    @classmethod
    def forward(cls, ctx: Node, a: NDArray, decimals: int = 0) -> NDArray:  # type: ignore[override]
        with np.errstate(all="ignore"):
            return np.asarray(np.round(a, decimals))

    @classmethod
    def backward(cls, ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        return _zeros(g), None


# ---- erf family (NumPy has none; SciPy is not a dependency) ------------------------------------
def _erfc_pos(x: NDArray) -> NDArray:
    """erfc for x >= 0 in float64: a power series of erf below 2, Laplace's continued fraction
    (evaluated bottom-up with a fixed depth) above. Relative error ~1e-13 (below 2), ~2e-15."""
    small = x < 2.0
    xs = np.where(small, x, 0.0)
    # erf(x) = 2/sqrt(pi) exp(-x²) sum_n (2x²)^n x / (1·3·...·(2n+1)): positive terms only
    term = xs.copy()
    total = xs.copy()
    for n in range(1, 60):
        term = term * (2 * xs * xs) / (2 * n + 1)
        total = total + term
    erf_small = _2_SQRTPI * np.exp(-xs * xs) * total
    xl = np.where(small, 2.0, x)
    frac = xl.copy()
    for k in range(60, 0, -1):  # erfc(x) = exp(-x²)/sqrt(pi) / (x + (1/2)/(x + 1/(x + ...)))
        frac = xl + (k / 2) / frac
    with np.errstate(over="ignore", under="ignore"):
        erfc_large = np.exp(-xl * xl - np.log(math.sqrt(math.pi) * frac))
    return np.asarray(np.where(small, 1.0 - erf_small, erfc_large))


def _erf_np(a: NDArray) -> NDArray:
    x = np.asarray(a, dtype=np.float64)
    small = np.abs(x) < 0.5  # 1 - erfc loses digits near 0: use the series result directly
    c = _erfc_pos(np.abs(np.nan_to_num(x)))
    out = np.sign(x) * (1.0 - c)
    out = np.where(small, _erf_series(np.where(small, x, 0.0)), out)
    return np.asarray(np.where(np.isnan(x), np.nan, out)).astype(a.dtype)


def _erf_series(x: NDArray) -> NDArray:
    term, total = x.copy(), x.copy()
    for n in range(1, 30):
        term = term * (2 * x * x) / (2 * n + 1)
        total = total + term
    return np.asarray(_2_SQRTPI * np.exp(-x * x) * total)


def _erfc_np(a: NDArray) -> NDArray:
    x = np.asarray(a, dtype=np.float64)
    c = _erfc_pos(np.abs(np.nan_to_num(x, posinf=1e300, neginf=-1e300)))
    out = np.where(x < 0, 2.0 - c, c)
    return np.asarray(np.where(np.isnan(x), np.nan, out)).astype(a.dtype)


def _erfinv_np(a: NDArray) -> NDArray:
    """Giles' single-precision approximation, then Newton steps on erf (or erfc near +-1)."""
    y = np.asarray(a, dtype=np.float64)
    inside = np.abs(y) < 1
    yc = np.where(inside, y, 0.0)
    w = -np.log((1 - yc) * (1 + yc))
    wc = w - 2.5
    p1 = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):
        p1 = c + p1 * wc
    ws = np.sqrt(w) - 3
    p2: Any = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        p2 = c + p2 * ws
    x = np.where(w < 5, p1, p2) * yc
    ay, mid = np.abs(yc), np.abs(yc) < 0.5
    for _ in range(3):  # Newton on erf(|x|) - |y|, written with erfc near +-1 to keep digits
        ax = np.abs(x)
        r = np.where(mid, _erf_series(np.where(mid, ax, 0.0)) - ay, (1 - ay) - _erfc_pos(ax))
        ax = ax - r / (_2_SQRTPI * np.exp(-ax * ax))
        x = np.sign(yc) * ax
    out = np.where(inside, x, np.where(np.abs(y) == 1, np.sign(y) * np.inf, np.nan))
    return np.asarray(out).astype(a.dtype)


class Erf(_Unary):
    """erf(x). VJP: g * 2/sqrt(pi) * exp(-x²)."""

    quiet = True

    np_fn = staticmethod(_erf_np)

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * exp(-(x * x)) * _2_SQRTPI


class Erfc(_Unary):
    """erfc(x). VJP: -g * 2/sqrt(pi) * exp(-x²)."""

    quiet = True

    np_fn = staticmethod(_erfc_np)

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * exp(-(x * x)) * -_2_SQRTPI


class Erfinv(_OutUnary):
    """erfinv(x). VJP: g * sqrt(pi)/2 * exp(out²)."""

    quiet = True

    np_fn = staticmethod(_erfinv_np)

    @staticmethod
    def grad(g: Tensor, x: Any, out: Any) -> Tensor:
        return g * exp(out * out) * (1 / _2_SQRTPI)


# ---- masks and fills -----------------------------------------------------------------------------
class NanToNum(Primitive):
    """Replace nan/+inf/-inf. VJP: g where x is finite."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, nan: float, posinf: Any, neginf: Any) -> NDArray:
        ctx.finite = np.isfinite(a)
        big = float(np.finfo(a.dtype).max) if a.dtype.kind == "f" else _bf16_max()
        out = np.where(np.isnan(a), nan, a)  # by hand: np.nan_to_num does not know bfloat16
        out = np.where(np.isposinf(a), big if posinf is None else posinf, out)
        out = np.where(np.isneginf(a), -big if neginf is None else neginf, out)
        return np.asarray(out).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return _cond(ctx.finite, g), None, None, None


def _bf16_max() -> float:
    import ml_dtypes  # only reached for bfloat16 arrays, which exist only when it is installed

    return float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)


class Fill(Primitive):
    """A tensor like `a` filled with `value` (a scalar or 0-dim array). VJP: (0, sum(g))."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, value: Any) -> NDArray:
        return np.full_like(a, value)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return _zeros(g), (g.sum() if ctx.needs_input_grad[1] else None)


class Copy(Primitive):
    """`src` broadcast to `a`'s shape and cast to its dtype. VJP: (0, g) (the engine sums and
    casts g to src's shape and dtype)."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, src: NDArray) -> NDArray:
        out = np.empty_like(a)
        np.copyto(out, np.broadcast_to(src, a.shape), casting="unsafe")
        return out

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return _zeros(g), g


# ---- comparisons and logic (not differentiable) -----------------------------------------------
class _NoGrad(Primitive):
    differentiable = False
    op: Any = None

    @classmethod
    def forward(cls, ctx: Node, *args: NDArray) -> NDArray:  # type: ignore[override]
        return np.asarray(cls.op(*args))


def _nograd(name: str, op: Any) -> type[Primitive]:
    return type(name, (_NoGrad,), {"op": staticmethod(op)})


Eq, Ne, Lt, Le = (_nograd("Eq", np.equal), _nograd("Ne", np.not_equal), _nograd("Lt", np.less),
                  _nograd("Le", np.less_equal))
Gt, Ge = _nograd("Gt", np.greater), _nograd("Ge", np.greater_equal)
_LOGIC = {n: _nograd(n, getattr(np, n)) for n in (
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
    "bitwise_xor", "invert", "isnan", "isinf", "isfinite", "isposinf", "isneginf")}


# ---- public functions: arithmetic ----------------------------------------------------------------
def _scaled(b: Any, alpha: Any, d: _dt.dtype) -> Any:
    """alpha * b kept in the promoted dtype `d` (alpha never changes the result dtype)."""
    if alpha == 1:
        return b
    if not d.is_floating_point and isinstance(alpha, (float, np.floating)):
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating "
                           "point number.")
    if isinstance(b, Tensor):
        out = mul(b, alpha)
        return out if out.dtype is d else out.to(d)
    if isinstance(b, np.ndarray):  # a bfloat16 scalar travels as a 0-d array
        return np.asarray(b * alpha).astype(b.dtype)
    return type(b)(b * alpha)


def add(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """Matches `torch.add`: input + alpha * other, with torch's type promotion."""
    a, b, d = promote(input, other)
    return Add.apply(a, b if alpha == 1 else _scaled(b, alpha, d))


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """Matches `torch.sub`: input - alpha * other."""
    a, b, d = promote(input, other)
    if d is _dt.bool_:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if _is_bool(input) or _is_bool(other):  # torch refuses a bool operand of any kind
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return Sub.apply(a, _scaled(b, alpha, d))


def _is_bool(x: Any) -> bool:
    return isinstance(x, bool) or (isinstance(x, Tensor) and x.dtype is _dt.bool_)


def rsub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """Matches `torch.rsub`: other - alpha * input."""
    return sub(other, input, alpha=alpha)


def mul(input: Any, other: Any) -> Tensor:
    """Matches `torch.mul`."""
    a, b, _ = promote(input, other)
    return Mul.apply(a, b)


def _floats(a: Any, b: Any) -> tuple[Any, Any]:
    """Both operands as the default float dtype (for true division and float-only binary ops)."""
    return (float_input(a) if isinstance(a, Tensor) else float(a),
            float_input(b) if isinstance(b, Tensor) else float(b))


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """Matches `torch.div`: true division (ints give the default float dtype), or rounding_mode
    'trunc'/'floor' (zero gradient, as torch)."""
    a, b, d = promote(input, other)
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise RuntimeError("div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                               f"but found '{rounding_mode}'")
        _no_bool(d, f"div_{rounding_mode}")
        return RoundedDiv.apply(a, b, rounding_mode)
    if not d.is_floating_point:
        a, b = _floats(a, b)
    return Div.apply(a, b)


def floor_divide(input: Any, other: Any) -> Tensor:
    """Matches `torch.floor_divide` (`//`): rounds toward -inf, like Python; no derivative."""
    a, b, d = promote(input, other)
    _no_bool(d, "floor_divide")
    return FloorDivide.apply(a, b, "floor")


def _no_bool(d: _dt.dtype, name: str) -> None:
    if d is _dt.bool_:
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for 'Bool'")


def remainder(input: Any, other: Any) -> Tensor:
    """Matches `torch.remainder` (`%`): the result has the divisor's sign."""
    a, b, d = promote(input, other)
    _no_bool(d, "remainder")
    return Remainder.apply(a, b)


def fmod(input: Any, other: Any) -> Tensor:
    """Matches `torch.fmod`: the result has the dividend's sign."""
    a, b, d = promote(input, other)
    _no_bool(d, "fmod")
    return Fmod.apply(a, b)


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001
    """Matches `torch.pow`: tensor ** scalar, scalar ** tensor or tensor ** tensor."""
    a, b, d = promote(input, exponent)
    if d is _dt.bool_ and not (isinstance(a, Tensor) and is_scalar(b)):
        raise NotImplementedError("\"pow\" not implemented for 'Bool'")
    if not d.is_floating_point and is_scalar(b) and b < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return Pow.apply(a, b)


def true_divide(input: Any, other: Any) -> Tensor:
    """Matches `torch.true_divide`."""
    return div(input, other)


def neg(input: Tensor) -> Tensor:
    """Matches `torch.neg`."""
    if input.dtype is _dt.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you "
                           "are trying to invert a mask, use the `~` or `logical_not()` operator "
                           "instead.")
    return Neg.apply(input)


def abs(input: Tensor) -> Tensor:  # noqa: A001
    """Matches `torch.abs`."""
    if input.dtype is _dt.bool_:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")
    return Abs.apply(input)


def sign(input: Tensor) -> Tensor:
    """Matches `torch.sign`."""
    return Sign.apply(input) if input.dtype is not _dt.bool_ else input.clone()


def square(input: Tensor) -> Tensor:
    """Matches `torch.square` (bool gives int64, as torch)."""
    return pow(input, 2)


def _float_unary(prim: type[Primitive]) -> Callable[[Tensor], Tensor]:
    """The public function of a float-valued unary op: ints and bools become float32 first."""

    def fn(input: Tensor) -> Tensor:
        return prim.apply(float_input(input))

    return fn


sqrt = _float_unary(Sqrt)
rsqrt = _float_unary(Rsqrt)
reciprocal = _float_unary(Reciprocal)
exp = _float_unary(Exp)
exp2 = _float_unary(Exp2)
expm1 = _float_unary(Expm1)
log = _float_unary(Log)
log1p = _float_unary(Log1p)
log2 = _float_unary(Log2)
log10 = _float_unary(Log10)
sin = _float_unary(Sin)
cos = _float_unary(Cos)
tan = _float_unary(Tan)
asin = arcsin = _float_unary(Asin)
acos = arccos = _float_unary(Acos)
atan = arctan = _float_unary(Atan)
sinh = _float_unary(Sinh)
cosh = _float_unary(Cosh)
tanh = _float_unary(Tanh)
sigmoid = _float_unary(Sigmoid)
erf = _float_unary(Erf)
erfc = _float_unary(Erfc)
erfinv = _float_unary(Erfinv)
for _f, _n in ((sqrt, "sqrt"), (rsqrt, "rsqrt"), (reciprocal, "reciprocal"), (exp, "exp"),
               (exp2, "exp2"), (expm1, "expm1"), (log, "log"), (log1p, "log1p"), (log2, "log2"),
               (log10, "log10"), (sin, "sin"), (cos, "cos"), (tan, "tan"), (asin, "asin"),
               (acos, "acos"), (atan, "atan"), (sinh, "sinh"), (cosh, "cosh"), (tanh, "tanh"),
               (sigmoid, "sigmoid"), (erf, "erf"), (erfc, "erfc"), (erfinv, "erfinv")):
    _f.__name__ = _f.__qualname__ = _n
    _f.__doc__ = f"Matches `torch.{_n}`; integer and bool inputs give the default float dtype."


def relu(input: Tensor) -> Tensor:
    """Matches `torch.relu`."""
    if input._data.dtype.kind == "b":
        raise RuntimeError("Boolean inputs not supported for relu")
    return Relu.apply1(input)


def _int_passthrough(prim: type[Primitive], name: str) -> Callable[[Tensor], Tensor]:
    def fn(input: Tensor) -> Tensor:
        _no_bool(input.dtype, name)
        return prim.apply(input) if input.dtype.is_floating_point else input.clone()

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Matches `torch.{name}`; integer tensors come back unchanged (a copy)."
    return fn


floor = _int_passthrough(Floor, "floor")
ceil = _int_passthrough(Ceil, "ceil")
trunc = fix = _int_passthrough(Trunc, "trunc")


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001
    """Matches `torch.round`: half to even, optionally to `decimals` places."""
    _no_bool(input.dtype, "round")
    if not input.dtype.is_floating_point:
        if decimals:
            raise NotImplementedError(f"\"round_cpu\" not implemented for "
                                      f"'{input.dtype._legacy[:-6]}'")
        return input.clone()
    return Round.apply(input, decimals)


def frac(input: Tensor) -> Tensor:
    """Matches `torch.frac`: x - trunc(x), floating inputs only."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"frac_cpu\" not implemented for '{input.dtype._legacy[:-6]}'")
    return Frac.apply(input)


negative = neg
absolute = abs
subtract = sub
multiply = mul
divide = div


def _float_binary(prim: type[Primitive], a: Any, b: Any, name: str, ints: bool = True) -> Tensor:
    a, b, d = promote(a, b)
    if not d.is_floating_point:
        if not ints:
            raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{d._legacy[:-6]}'")
        a, b = _floats(a, b)
    return prim.apply(a, b)


def atan2(input: Tensor, other: Any) -> Tensor:
    """Matches `torch.atan2`: atan(input / other) in the right quadrant."""
    return _float_binary(Atan2, input, other, "atan2")


arctan2 = atan2


def hypot(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.hypot` (floating inputs only)."""
    return _float_binary(Hypot, input, other, "hypot", ints=False)


def logaddexp(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.logaddexp` (floating inputs only)."""
    return _float_binary(LogAddExp, input, other, "logaddexp", ints=False)


def xlogy(input: Any, other: Any) -> Tensor:
    """Matches `torch.xlogy`: input * log(other), 0 where input == 0 (unless other is nan)."""
    return _float_binary(XLogY, input, other, "xlogy")


def _tensor_pair(prim: type[Primitive], input: Any, other: Any) -> Tensor:
    a, b, _ = promote(input, other)
    return prim.apply(a, b)


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.maximum`: nan propagates; ties split the gradient evenly."""
    return _tensor_pair(Maximum, input, other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.minimum`."""
    return _tensor_pair(Minimum, input, other)


def fmax(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.fmax`: nan is ignored when the other side is a number."""
    return _tensor_pair(FMax, input, other)


def fmin(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.fmin`."""
    return _tensor_pair(FMin, input, other)


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Matches `torch.clamp`: bounds are numbers, tensors or None; the result dtype follows
    type promotion over all three."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    d = result_type(*[v for v in (input, min, max) if v is not None])
    x = input if input.dtype is d else input.to(d)
    bounds = [None if v is None else (v.to(d) if isinstance(v, Tensor) and v.dtype is not d
                                      else v) for v in (min, max)]
    if d.is_floating_point:
        bounds = [float(v) if v is not None and is_scalar(v) else v for v in bounds]
    return Clamp.apply(x, bounds[0], bounds[1])


clip = clamp


def clamp_min(input: Tensor, min: Any) -> Tensor:  # noqa: A002
    """Matches `torch.clamp_min`."""
    return clamp(input, min=min)


def clamp_max(input: Tensor, max: Any) -> Tensor:  # noqa: A002
    """Matches `torch.clamp_max`."""
    return clamp(input, max=max)


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:
    """Matches `torch.where`: `where(cond, x, y)` (scalars allowed) or `where(cond)`, the indices
    of nonzero entries as a tuple of int64 tensors."""
    if input is None and other is None:
        return tuple(Tensor._make(i.astype(np.int64)) for i in np.nonzero(condition._data))
    if condition.dtype is not _dt.bool_:
        raise RuntimeError("where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {condition.dtype.name.capitalize()}")
    a, b, _ = promote(input, other)
    return Where.apply(condition, a, b)


def lerp(input: Tensor, end: Tensor, weight: Any) -> Tensor:
    """Matches `torch.lerp`: input + weight * (end - input)."""
    if end.dtype is not input.dtype:
        raise RuntimeError(f"expected dtype {input.dtype._legacy[:-6].lower()} for `end` but got "
                           f"dtype {end.dtype._legacy[:-6].lower()}")
    return input + weight * (end - input)


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
    """Matches `torch.addcmul`: input + value * tensor1 * tensor2."""
    return input + value * tensor1 * tensor2 if value != 1 else input + tensor1 * tensor2


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
    """Matches `torch.addcdiv`: input + value * tensor1 / tensor2 (integer division refused)."""
    if not (tensor1.dtype.is_floating_point or tensor2.dtype.is_floating_point):
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future  "
                           "release addcdiv will perform a true division of tensor1 and tensor2. "
                           "The historic addcdiv behavior can be implemented as (input + value * "
                           "torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs "
                           "and as (input + value * tensor1 / tensor2) for float inputs. The "
                           "future addcdiv behavior is just the latter implementation: (input + "
                           "value * tensor1 / tensor2), for all dtypes.")
    return input + value * (tensor1 / tensor2)


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """Matches `torch.nan_to_num`: ±inf default to the dtype's largest finite values."""
    if not input.dtype.is_floating_point:
        return input.clone()
    return NanToNum.apply(input, nan, posinf, neginf)


# ---- public functions: comparisons and logic ---------------------------------------------------
def _compare(prim: type[Primitive], a: Any, b: Any) -> Tensor:
    a, b, _ = promote(a, b)
    return prim.apply(a, b)


def eq(input: Any, other: Any) -> Tensor:
    """Matches `torch.eq`."""
    return _compare(Eq, input, other)


def ne(input: Any, other: Any) -> Tensor:
    """Matches `torch.ne`."""
    return _compare(Ne, input, other)


def lt(input: Any, other: Any) -> Tensor:
    """Matches `torch.lt`."""
    return _compare(Lt, input, other)


def le(input: Any, other: Any) -> Tensor:
    """Matches `torch.le`."""
    return _compare(Le, input, other)


def gt(input: Any, other: Any) -> Tensor:
    """Matches `torch.gt`."""
    return _compare(Gt, input, other)


def ge(input: Any, other: Any) -> Tensor:
    """Matches `torch.ge`."""
    return _compare(Ge, input, other)


greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne


def _logic(name: str, *args: Any) -> Tensor:
    arrs = [as_tensor_arg(a) if not isinstance(a, Tensor) else a for a in args]
    return _LOGIC[name].apply(*arrs)


def logical_and(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.logical_and` (any dtypes; nonzero is True)."""
    return _logic("logical_and", input, other)


def logical_or(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.logical_or`."""
    return _logic("logical_or", input, other)


def logical_xor(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.logical_xor`."""
    return _logic("logical_xor", input, other)


def logical_not(input: Tensor) -> Tensor:
    """Matches `torch.logical_not`."""
    return _logic("logical_not", input)


def _bitwise(name: str, a: Any, b: Any) -> Tensor:
    a, b, d = promote(a, b)
    if d.is_floating_point:
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{d._legacy[:-6]}'")
    if not isinstance(a, Tensor):
        a = as_tensor_arg(a, like=b)
    return _LOGIC[name].apply(a, b)


def bitwise_and(input: Any, other: Any) -> Tensor:
    """Matches `torch.bitwise_and` (`&`): bool and integer tensors."""
    return _bitwise("bitwise_and", input, other)


def bitwise_or(input: Any, other: Any) -> Tensor:
    """Matches `torch.bitwise_or` (`|`)."""
    return _bitwise("bitwise_or", input, other)


def bitwise_xor(input: Any, other: Any) -> Tensor:
    """Matches `torch.bitwise_xor` (`^`)."""
    return _bitwise("bitwise_xor", input, other)


def bitwise_not(input: Tensor) -> Tensor:
    """Matches `torch.bitwise_not` (`~`); on bool it is logical not."""
    if input.dtype.is_floating_point:
        raise NotImplementedError(f"\"bitwise_not_cpu\" not implemented for "
                                  f"'{input.dtype._legacy[:-6]}'")
    return _LOGIC["invert"].apply(input)


def isnan(input: Tensor) -> Tensor:
    """Matches `torch.isnan`."""
    return _logic("isnan", input)


def isinf(input: Tensor) -> Tensor:
    """Matches `torch.isinf`."""
    return _logic("isinf", input)


def isfinite(input: Tensor) -> Tensor:
    """Matches `torch.isfinite`."""
    return _logic("isfinite", input)


def isposinf(input: Tensor) -> Tensor:
    """Matches `torch.isposinf`."""
    return _logic("isposinf", input)


def isneginf(input: Tensor) -> Tensor:
    """Matches `torch.isneginf`."""
    return _logic("isneginf", input)


def equal(input: Tensor, other: Tensor) -> bool:
    """Matches `torch.equal`: same shape and the same values (a Python bool; nan != nan)."""
    if tuple(input.shape) != tuple(other.shape):
        return False
    return builtins.bool(np.array_equal(input._data, other._data))


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """Matches `torch.isclose`: |input - other| <= atol + rtol * |other| (same dtypes only)."""
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{input.dtype._legacy[:-6]} did not match {other.dtype._legacy[:-6]}")
    a, b = input._data, other._data
    with np.errstate(all="ignore"):
        close = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return Tensor._make(np.asarray(close))


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Matches `torch.allclose`."""
    return builtins.bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


# ---- public functions: masks and the in-place method bodies ------------------------------------
def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:
    """Matches `torch.masked_fill`: value (a number or a 0-dim tensor, differentiable) where mask
    holds; the result keeps input's dtype."""
    if mask.dtype is not _dt.bool_:
        raise RuntimeError("masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype._legacy[:-6].lower().replace('long', 'long int')}")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s).")
        v = value if value.dtype is input.dtype else value.to(input.dtype)
    else:
        v = Tensor._make(np.asarray(value).astype(input._data.dtype))
    return Where.apply(mask, v, input)


def fill(input: Tensor, value: Any) -> Tensor:
    """Matches `torch.fill`: a tensor like input filled with value (a number or 0-dim tensor);
    no gradient flows to input."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError("fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        value = value if value.dtype is input.dtype else value.to(input.dtype)
    return Fill.apply(input, value)


def zero(input: Tensor) -> Tensor:
    """What `Tensor.zero_` writes: zeros like input (no gradient to input)."""
    return fill(input, 0)


def copy(input: Tensor, src: Any) -> Tensor:
    """What `Tensor.copy_` writes: src broadcast to input's shape in input's dtype;
    differentiable w.r.t. src."""
    src = src if isinstance(src, Tensor) else as_tensor_arg(src)
    return Copy.apply(input, src)
