"""Linear-algebra primitives (matmul, einsum, cross) and composites (mm, bmm, dot, tensordot)."""

from __future__ import annotations

import string
import warnings
from typing import Any

import numpy as np

from ember import _buffers
from ember.autograd.function import Node, Primitive
from ember.autograd.grad_mode import is_grad_enabled
from ember.ops.common import promote
from ember.tensor import Tensor, _wrap_dim

NDArray = np.ndarray

# public functions; ember.ops and the ember namespace re-export these
__all__ = [
    "matmul", "mm", "bmm", "dot", "vdot", "inner", "outer", "ger", "mv", "addmm", "baddbmm",
    "tensordot", "kron", "cross", "einsum",
]


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


class Linear(Primitive):
    """x @ w.T + b for F.linear: one GEMM over the flattened leading dims, the bias added in
    place. (*, in), (out, in), (out,) -> (*, out). VJP, with g2 = g as (N, out), x2 = x as
    (N, in): (g2 @ w, g2.T @ x2, g2 summed over N) — dW comes out in w's own (C) layout, where
    the composed matmul(x, w.t()) gives its transpose, which every optimizer pass then strides."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, w: NDArray, b: NDArray | None) -> NDArray:
        xt, wt = ctx.inputs[0], ctx.inputs[1]  # type: ignore[index]
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(xt if need_w else None, wt if need_x else None)
        out = np.matmul(x.reshape(-1, x.shape[-1]) if x.ndim > 2 else x, w.T)
        if b is not None:
            out += b
        return out.reshape(x.shape[:-1] + (w.shape[0],)) if x.ndim > 2 else out

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        if not is_grad_enabled():  # no create_graph: the GEMMs straight on the arrays
            return _linear_vjp(g._data, x, w, ctx.needs_input_grad,
                               ctx.in_meta[0][0] if need_x else None)
        g2 = g.reshape(-1, g.shape[-1])  # (N, out)
        gx = (g2 @ w).reshape(ctx.in_meta[0][0]) if need_x else None
        gw = g2.mT @ x.reshape(-1, x.shape[-1]) if need_w else None
        gb = g2.sum(0) if need_b else None
        return gx, gw, gb


def _linear_vjp(g: NDArray, x: Tensor | None, w: Tensor | None, need: tuple[bool, ...],
                x_shape: tuple[int, ...] | None) -> tuple[Tensor | None, ...]:
    """`Linear`'s VJP in NumPy: dx = g2 @ w, dW = g2.T @ x2, db = ones(N) @ g2 (a GEMV:
    ~2x np.add.reduce over the rows of (1024, 512))."""
    g2 = g.reshape(-1, g.shape[-1])  # (N, out)
    gx = gw = gb = None
    if need[0] and w is not None and x_shape is not None:
        gx = Tensor._make(np.matmul(g2, w._data).reshape(x_shape))
    if need[1] and x is not None:
        gw = Tensor._make(np.matmul(g2.T, x._data.reshape(-1, x._data.shape[-1])))
    if need[2]:
        gb = Tensor._make(np.matmul(_buffers.ones(g2.shape[0], g2.dtype), g2))
    return gx, gw, gb


def fused_linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor | None:
    """The fused `Linear` for the common case (2-D weight, 1-D bias of out_features, one
    floating dtype), else None: the caller composes matmul and add."""
    d = input._data.dtype
    if (weight.ndim != 2 or input.ndim == 0 or d.kind != "f" or weight._data.dtype != d
            or (bias is not None and (bias._data.shape != weight._data.shape[:1]
                                      or bias._data.dtype != d))):
        return None
    return Linear.apply(input, weight, bias)


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


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Matches `torch.bmm`: (b, n, m) @ (b, m, p), no broadcasting."""
    if input.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if mat2.shape[:2] != (input.shape[0], input.shape[2]):
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{input.shape[0]}, {input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}].")
    return matmul(input, mat2)


def _check_vectors(input: Tensor, other: Tensor, fn: str) -> None:
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.dtype != other.dtype:
        raise RuntimeError(f"{fn} : expected both vectors to have same dtype, but found "
                           f"{input.dtype._legacy[:-6]} and {other.dtype._legacy[:-6]}")
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
            f"[{other.shape[0]}] to have the same number of elements, but got {input.shape[0]} "
            f"and {other.shape[0]} elements respectively")


def dot(input: Tensor, tensor: Tensor) -> Tensor:
    """Matches `torch.dot`: two 1-D tensors of one dtype and size (torch's keyword: `tensor`)."""
    _check_vectors(input, tensor, "dot")
    return matmul(input, tensor)


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.vdot` (real tensors: the same as `dot`)."""
    _check_vectors(input, other, "vdot")
    return matmul(input, other)


def inner(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.inner`: contraction of the last dims (0-dim operands multiply)."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got "
                           f"shapes {list(input.shape)} and {list(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Matches `torch.outer`: (n,) x (m,) -> (n, m), with type promotion."""
    for name, t in (("self", input), ("vec2", vec2)):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return input.reshape(-1, 1) * vec2


def ger(input: Tensor, vec2: Tensor) -> Tensor:
    """Matches `torch.ger` (an alias of `outer`)."""
    return outer(input, vec2)


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matches `torch.mv`: (n, m) @ (m,) -> (n,)."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({input.shape[0]}), mat "
                           f"({input.shape[0]}x{input.shape[1]}), vec ({vec.shape[0]})")
    return matmul(input, vec)


class _Zero(Primitive):
    """Zeros shaped like a (input scaled by beta=0, nan included). VJP: zeros."""

    @staticmethod
    def forward(ctx: Node, a: NDArray) -> NDArray:
        return np.zeros_like(a)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (_Zero.apply(g),)


def _scaled_add(input: Tensor, prod: Tensor, beta: Any, alpha: Any) -> Tensor:
    if alpha != 1:
        prod = prod * alpha
    if beta == 0:  # torch ignores input (even nan/inf) when beta is 0; its gradient is 0
        return prod + _Zero.apply(input)
    return prod + (input if beta == 1 else input * beta)


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """Matches `torch.addmm`: beta * input + alpha * (mat1 @ mat2)."""
    return _scaled_add(input, mm(mat1, mat2), beta, alpha)


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1,
            alpha: Any = 1) -> Tensor:
    """Matches `torch.baddbmm`: beta * input + alpha * bmm(batch1, batch2)."""
    return _scaled_add(input, bmm(batch1, batch2), beta, alpha)


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    """Matches `torch.tensordot`: dims an int (last of a with first of b) or two lists."""
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(da) != len(db):
        raise RuntimeError("both dimension lists should have same length")
    da = [_wrap_dim(d, a.ndim) for d in da]
    db = [_wrap_dim(d, b.ndim) for d in db]
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(da, db, strict=True):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{a.shape[i]} in dim {i} and second has size {b.shape[j]} in "
                               f"dim {j}")
        sb[j] = sa[i]
    out = [c for k, c in enumerate(sa) if k not in da] + [c for k, c in enumerate(sb)
                                                          if k not in db]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.kron`: the Kronecker product (shapes padded with leading 1s)."""
    n = max(input.ndim, other.ndim)
    sa = (1,) * (n - input.ndim) + tuple(input.shape)
    sb = (1,) * (n - other.ndim) + tuple(other.shape)
    # a: (a0, 1, a1, 1, ...), b: (1, b0, 1, b1, ...) -> product (a0, b0, a1, b1, ...)
    a = input.reshape(tuple(x for s in sa for x in (s, 1)))
    b = other.reshape(tuple(x for s in sb for x in (1, s)))
    return (a * b).reshape(tuple(x * y for x, y in zip(sa, sb, strict=True)))


class Cross(Primitive):
    """Cross product of 3-vectors along axis. VJP: (cross(b, g), cross(g, a))."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, b: NDArray, axis: int) -> NDArray:
        ctx.axis = axis
        x, y, _ = ctx.inputs  # type: ignore[misc]
        ctx.save_for_backward(x, y)
        return np.cross(a, b, axis=axis)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        a, b = ctx.saved_tensors
        return (Cross.apply(b, g, ctx.axis) if ctx.needs_input_grad[0] else None,
                Cross.apply(g, a, ctx.axis) if ctx.needs_input_grad[1] else None, None)


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """Matches `torch.cross`: dim=None picks the first size-3 dim (with torch's warning)."""
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    a, b, _ = promote(input, other)
    shape = np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    if dim is None:
        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.",
                      UserWarning, stacklevel=2)
        dim = next((i for i, s in enumerate(shape) if s == 3), -1)
    d = _wrap_dim(dim, len(shape))
    if a.shape[d - len(shape) + a.ndim] != 3 or b.shape[d - len(shape) + b.ndim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got "
                           f"{a.shape[d - len(shape) + a.ndim]} and "
                           f"{b.shape[d - len(shape) + b.ndim]}")
    return Cross.apply(a, b, d - len(shape))


# ---- einsum ----------------------------------------------------------------------------------
class Einsum(Primitive):
    """np.einsum on an explicit equation (no '...', one size per letter).

    VJP for operand i: an einsum of g and the other operands to operand i's subscripts; a letter
    repeated in operand i (a diagonal) gets a fresh letter tied by an identity matrix, and a
    letter summed only inside operand i gets a ones vector, so the gradient broadcasts."""

    @staticmethod
    def forward(ctx: Node, eq: str, *arrays: NDArray) -> NDArray:
        ctx.eq = eq
        ctx.save_for_backward(*ctx.inputs[1:])  # type: ignore[index]
        return np.asarray(np.einsum(eq, *arrays, optimize=len(arrays) > 2))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        ops = ctx.saved_tensors
        lhs, out = ctx.eq.split("->")
        ins = lhs.split(",")
        grads: list[Tensor | None] = [None]
        for i in range(len(ins)):
            grads.append(_einsum_grad(i, ins, out, ops, g) if ctx.needs_input_grad[i + 1]
                         else None)
        return tuple(grads)


def _einsum_grad(i: int, ins: list[str], out: str, ops: tuple[Tensor, ...], g: Tensor) -> Tensor:
    terms = [out] + [s for j, s in enumerate(ins) if j != i]
    tensors = [g] + [t for j, t in enumerate(ops) if j != i]
    used = set("".join(ins) + out)
    fresh = (c for c in string.ascii_letters if c not in used)
    sizes = dict(zip(ins[i], ops[i].shape, strict=True))
    target = ""
    for c in ins[i]:
        if c in target:  # a diagonal: tie a fresh letter to c with an identity matrix
            f = next(fresh)
            terms.append(c + f)
            tensors.append(Tensor._make(np.eye(sizes[c], dtype=g._data.dtype)))
            c = f
        target += c
    present = set("".join(terms))
    for c in dict.fromkeys(ins[i]):
        if c not in present:  # summed only inside operand i: the gradient broadcasts over it
            terms.append(c)
            tensors.append(Tensor._make(np.ones(sizes[c], dtype=g._data.dtype)))
    return Einsum.apply(",".join(terms) + "->" + target, *tensors)


def _parse_term(term: str, ndim: int, k: int) -> tuple[list[str], bool]:
    has_ell = "..." in term
    letters = list(term.replace("...", "."))
    for c in letters:
        if c != "." and c not in string.ascii_letters:
            raise RuntimeError(f"einsum(): invalid subscript given at index "
                               f"{letters.index(c)} in the equation string, subscripts must be "
                               f"in [a-zA-Z]")
    n = len(letters) - has_ell
    if not has_ell and n != ndim:
        raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n}) does not "
                           f"match the number of dimensions ({ndim}) for operand {k} and no "
                           f"ellipsis was given")
    if has_ell and n > ndim:
        raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n}) is more "
                           f"than the number of dimensions ({ndim}) for operand {k}")
    return letters, has_ell


def einsum(equation: str, *operands: Any) -> Tensor:
    """Matches `torch.einsum`: '...', implicit output, diagonals, size-1 broadcasting."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = "".join(equation.split())
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    parsed = [_parse_term(t, op.ndim, k) for k, (t, op) in enumerate(zip(terms, operands))]
    n_ell = max([op.ndim - (len(p) - 1) for (p, e), op in zip(parsed, operands) if e] or [0])
    used = set(eq)
    ell = [c for c in string.ascii_letters if c not in used][:n_ell]
    subs = []
    for (p, e), op in zip(parsed, operands):
        k = op.ndim - (len(p) - 1) if e else 0
        subs.append([x for c in p for x in ((ell[n_ell - k:] if k else []) if c == "." else [c])])
    if arrow:
        out = [x for c in rhs.replace("...", ".") for x in (ell if c == "." else [c])]
        for c in out:
            if not any(c in s for s in subs):
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   f"equation for any input operand")
    else:
        counts: dict[str, int] = {}
        for s in subs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + sorted(c for c, n in counts.items() if n == 1 and c not in ell)
    ops = _broadcast_einsum(subs, list(operands))
    dt = ops[0].dtype
    for op in ops[1:]:
        if op.dtype != dt:
            raise RuntimeError(f"expected scalar type {dt._legacy[:-6]} but found "
                               f"{op.dtype._legacy[:-6]}")
    expl = ",".join("".join(s) for s in subs) + "->" + "".join(out)
    return Einsum.apply(expl, *ops)


def _broadcast_einsum(subs: list[list[str]], ops: list[Tensor]) -> list[Tensor]:
    """Check sizes per letter; squeeze size-1 dims that broadcast against a larger size.
    Edits `subs` in place to match the returned operands."""
    size: dict[str, int] = {}
    for k, (s, op) in enumerate(zip(subs, ops)):
        seen: dict[str, int] = {}
        for c, n in zip(s, op.shape):
            if c in seen and seen[c] != n:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {k} but the "
                                   f"sizes don't match, {n} != {seen[c]}")
            seen[c] = n
            if c in size and n != size[c] and n != 1 and size[c] != 1:
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {k} which "
                                   f"does not broadcast with previously seen size {size[c]}")
            size[c] = n if c not in size or size[c] == 1 else size[c]
    result = []
    for k, (s, op) in enumerate(zip(subs, ops)):
        drop = [j for j, (c, n) in enumerate(zip(s, op.shape)) if n == 1 and size[c] != 1]
        if drop:
            subs[k] = [c for j, c in enumerate(s) if j not in drop]
            op = op.reshape(tuple(n for j, n in enumerate(op.shape) if j not in drop))
        result.append(op)
    return result
