"""Elementwise primitives (arithmetic, unary math, comparisons) and their composites."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.autograd.function import Node, Primitive
from ember.ops.common import float_input, promote
from ember.tensor import Tensor

NDArray = np.ndarray

# public functions (grows as ops land); ember.ops and the ember namespace re-export these
__all__ = [
    "add", "sub", "rsub", "mul", "div", "neg", "exp", "log", "relu", "eq", "ne", "lt", "le",
    "gt", "ge",
]


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
        x, y = ctx.inputs  # type: ignore[misc]
        ctx.save_for_backward(y if need_a else None, x if need_b else None)
        return a * b

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        b, a = ctx.saved_tensors
        return (g * b if ctx.needs_input_grad[0] else None,
                g * a if ctx.needs_input_grad[1] else None)


class Div(Primitive):
    """a / b (floating). VJP: (g / b, -g * a / b**2)."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        x, y = ctx.inputs  # type: ignore[misc]
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, y)
        return a / b

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        return (g / b if ctx.needs_input_grad[0] else None,
                -g * a / (b * b) if ctx.needs_input_grad[1] else None)


class Neg(Primitive):
    """-a. VJP: -g."""

    @staticmethod
    def forward(ctx: Node, a: NDArray) -> NDArray:
        return -a

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (-g,)


# ---- unary math --------------------------------------------------------------------------------
class Exp(Primitive):
    """exp(a). VJP: g * exp(a), from the saved output."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray) -> NDArray:
        return np.exp(a)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (g * ctx.output(),)


class Log(Primitive):
    """log(a). VJP: g / a."""

    @staticmethod
    def forward(ctx: Node, a: NDArray) -> NDArray:
        ctx.save_for_backward(ctx.inputs[0])  # type: ignore[index]
        return np.log(a)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        (a,) = ctx.saved_tensors
        return (g / a,)


class Relu(Primitive):
    """max(a, 0). VJP: g where out > 0 (relu'(0) = 0, as torch)."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray) -> NDArray:
        return np.maximum(a, 0, dtype=a.dtype) if a.dtype.kind != "b" else a.copy()

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (g * (ctx.output() > 0),)


# ---- comparisons (not differentiable) ------------------------------------------------------
class _Compare(Primitive):
    differentiable = False
    op: Any = None

    @classmethod
    def forward(cls, ctx: Node, a: NDArray, b: NDArray) -> NDArray:  # type: ignore[override]
        return cls.op(a, b)


class Eq(_Compare):
    op = np.equal


class Ne(_Compare):
    op = np.not_equal


class Lt(_Compare):
    op = np.less


class Le(_Compare):
    op = np.less_equal


class Gt(_Compare):
    op = np.greater


class Ge(_Compare):
    op = np.greater_equal


# ---- public functions ----------------------------------------------------------------------
def add(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """Matches `torch.add`: input + alpha * other, with torch's type promotion."""
    if alpha != 1:
        other = mul(other, alpha)
    a, b, _ = promote(input, other)
    return Add.apply(a, b)


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """Matches `torch.sub`: input - alpha * other."""
    if alpha != 1:
        other = mul(other, alpha)
    a, b, d = promote(input, other)
    if d is _dt.bool_:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    return Sub.apply(a, b)


def rsub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """Matches `torch.rsub`: other - alpha * input."""
    return sub(other, input, alpha=alpha)


def mul(input: Any, other: Any) -> Tensor:
    """Matches `torch.mul`."""
    a, b, _ = promote(input, other)
    return Mul.apply(a, b)


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """Matches `torch.div`: true division (ints give the default float dtype), or rounding_mode
    'trunc'/'floor'."""
    if rounding_mode is not None:
        raise NotImplementedError("div(rounding_mode=...) lands with the rest of the arithmetic")
    a, b, d = promote(input, other)
    if not d.is_floating_point:
        a, b = float_input(a) if isinstance(a, Tensor) else float(a), (
            float_input(b) if isinstance(b, Tensor) else float(b))
    return Div.apply(a, b)


def neg(input: Tensor) -> Tensor:
    """Matches `torch.neg`."""
    if input.dtype is _dt.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you "
                           "are trying to invert a mask, use the `~` or `logical_not()` operator "
                           "instead.")
    return Neg.apply(input)


def exp(input: Tensor) -> Tensor:
    """Matches `torch.exp`."""
    return Exp.apply(float_input(input))


def log(input: Tensor) -> Tensor:
    """Matches `torch.log`."""
    return Log.apply(float_input(input))


def relu(input: Tensor) -> Tensor:
    """Matches `torch.relu`."""
    return Relu.apply(input)


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
