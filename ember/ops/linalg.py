"""Linear-algebra primitives (matmul) and composites (mm, bmm, dot, outer, einsum, ...)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.autograd.function import Node, Primitive
from ember.tensor import Tensor

NDArray = np.ndarray

# public functions (grows as ops land); ember.ops and the ember namespace re-export these
__all__ = ['matmul', 'mm']


class MatMul(Primitive):
    """a @ b for >= 2-D operands with batch broadcasting. VJP: (g @ b.mT, a.mT @ g)."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray) -> NDArray:
        x, y = ctx.inputs  # type: ignore[misc]
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None,
                              y if ctx.needs_input_grad[0] else None)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        return (g @ b.mT if ctx.needs_input_grad[0] else None,
                a.mT @ g if ctx.needs_input_grad[1] else None)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.matmul`: 1-D operands get a dim added and removed again; no promotion."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(f"matmul(): argument 'other' (position 2) must be Tensor, not "
                        f"{type(other if isinstance(input, Tensor) else input).__name__}")
    if input.ndim == 0 or other.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{input.ndim}D and {other.ndim}D")
    if input.dtype != other.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                           f"{_c_name(input)} != {_c_name(other)}")
    a = input.unsqueeze(0) if input.ndim == 1 else input
    b = other.unsqueeze(-1) if other.ndim == 1 else other
    if a.shape[-1] != b.shape[-2]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({a.shape[-2]}x{a.shape[-1]} and "
            f"{b.shape[-2]}x{b.shape[-1]})" if a.ndim == 2 and b.ndim == 2 else
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{b.shape[0] if b.ndim > 2 else 1}, {a.shape[-1]}] but got: "
            f"[{b.shape[0] if b.ndim > 2 else 1}, {b.shape[-2]}].")
    out = MatMul.apply(a, b)
    if other.ndim == 1:
        out = out.squeeze(-1)
    if input.ndim == 1:
        out = out.squeeze(-2 if other.ndim > 1 else -1)
    return out


def _c_name(t: Tensor) -> str:
    return {"float32": "float", "float64": "double", "int64": "long int", "int32": "int",
            "float16": "c10::Half", "bfloat16": "c10::BFloat16", "bool": "bool",
            "int16": "short int", "int8": "signed char", "uint8": "unsigned char"}[t.dtype.name]


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Matches `torch.mm`: 2-D operands only."""
    if input.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    return matmul(input, mat2)


def _unused(*args: Any) -> None:  # keeps the import of Any used until the composites land
    return None
