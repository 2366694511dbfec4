"""Batch-norm primitives on contiguous (N, C, *) arrays: the training-mode normalisation with
its statistics, and the per-channel scale-and-shift of eval mode.

Both work on the (N, C, L) view (L = prod of the spatial dims), in blocks of whole samples of
~256 KiB so that the passes of one block run from cache, and split the batch between threads
with `parallel_for`. Per-channel sums are taken per sample ((N, C) partials, each a contiguous
reduction over L) and then summed over N in one place, so the result does not depend on how the
batch was split between threads.
"""

from __future__ import annotations

from collections.abc import Callable
import numpy as np

from ember import _buffers
from ember._parallel import parallel_for
from ember.autograd.function import Node, Primitive
from ember.autograd.grad_mode import STATE
from ember.tensor import Tensor

NDArray = np.ndarray

# internal primitives; the public function is ember.nn.functional.batch_norm
__all__: list[str] = []

_BLOCK_BYTES = 1 << 18  # samples per block: ~256 KiB, so a block's passes stay in L2
_GRAIN_ITEMS = 1 << 16  # no thread hand-off below ~64K elements (it costs ~20-50 us)


def _over_blocks(n: int, per_sample: int, itemsize: int,
                 fn: Callable[[int, int], None]) -> None:
    """fn(i, j) over blocks of samples [i, j) covering [0, n), the ranges shared by threads."""
    blk = max(1, _BLOCK_BYTES // max(1, per_sample * itemsize))

    def run(lo: int, hi: int) -> None:
        for i in range(lo, hi, blk):
            fn(i, min(i + blk, hi))

    parallel_for(run, n, _GRAIN_ITEMS, per_sample)


def _plane(v: NDArray, length: int) -> NDArray:
    """A per-channel vector (C,) repeated along L as a contiguous (C, L) array: NumPy's loops
    run ~1.8x faster on two contiguous operands than with a stride-0 (C, 1) one, and a plane
    (C*L values, one sample) is small next to the (N, C, L) activations."""
    return np.repeat(v, length).reshape(v.shape[0], length)


def _channel_sums(x3: NDArray) -> NDArray:
    """Per-channel sums of x3 (N, C, L) as (C,): per-sample partials, then over N."""
    part = np.empty(x3.shape[:2], dtype=x3.dtype)  # (N, C)

    def block(i: int, j: int) -> None:
        np.sum(x3[i:j], axis=2, out=part[i:j])

    _over_blocks(x3.shape[0], x3.shape[1] * x3.shape[2], x3.itemsize, block)
    return part.sum(0)


class BatchNormTrain(Primitive):
    """Training-mode batch norm of x (N, C, *) with batch statistics: out = (x - mean) * rstd
    * w + b per channel (w, b of shape (C,) or None), computed as torch's CPU kernel does, as
    x * scale + shift with scale = rstd * w, shift = b - mean * scale; rstd = 1/sqrt(biased var
    + eps), the variance from the centred values (two passes). `stats`, a list, receives
    (mean, biased var), each (C,). Saves only x and the (C,) statistics; the centred values are
    rebuilt per block in backward.
    VJP: with xhat = (x - mean) rstd and sums over (N, *): db = sum(g), dw = sum(g xhat),
    dx = w rstd (g - sum(g)/M - xhat sum(g xhat)/M), M = N * prod(*)."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, w: NDArray | None, b: NDArray | None, eps: float,
                stats: list[NDArray]) -> NDArray:
        n, c = x.shape[0], x.shape[1]
        x3 = np.ascontiguousarray(x).reshape(n, c, -1)  # (N, C, L)
        m = n * x3.shape[2]
        mean = _channel_sums(x3) / x3.dtype.type(m)  # (C,)
        mc = _plane(mean, x3.shape[2])
        part = np.empty((n, c), dtype=x3.dtype)  # per-sample sums of squares of x - mean

        def squares(i: int, j: int) -> None:
            xc = np.subtract(x3[i:j], mc)
            np.vecdot(xc, xc, out=part[i:j])

        _over_blocks(n, c * x3.shape[2], x3.itemsize, squares)
        var = part.sum(0) / x3.dtype.type(m)
        rstd = 1.0 / np.sqrt(var + x3.dtype.type(eps))
        scale = rstd if w is None else rstd * w
        shift = -mean * scale if b is None else b - mean * scale
        out = _buffers.empty_like(x3)  # pooled: a fresh array's pages fault on first touch
        sc, sh = _plane(scale, x3.shape[2]), _plane(shift, x3.shape[2])

        def apply(i: int, j: int) -> None:
            o = np.multiply(x3[i:j], sc, out=out[i:j])
            o += sh

        _over_blocks(n, c * x3.shape[2], x3.itemsize, apply)
        stats.extend((mean, var))
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(*ctx.inputs[:2])  # type: ignore[index]
            ctx.eps, ctx.mean, ctx.rstd = eps, mean, rstd
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        x, w = ctx.saved_tensors
        if STATE.enabled:  # create_graph: the same formula in Tensor ops, so it differentiates
            return _batch_norm_vjp_composed(ctx, g, x, w)
        need = ctx.needs_input_grad
        n, c = x.shape[0], x.shape[1]
        x3 = x._data.reshape(n, c, -1)  # saved contiguous (forward's input is made contiguous)
        if not x3.flags.c_contiguous:
            x3 = np.ascontiguousarray(x3)
        g3 = np.ascontiguousarray(g._data).reshape(n, c, -1)
        m, per = n * x3.shape[2], c * x3.shape[2]
        mc = _plane(ctx.mean, x3.shape[2])
        sg, sgx = np.empty((n, c), dtype=x3.dtype), np.empty((n, c), dtype=x3.dtype)

        def sums(i: int, j: int) -> None:
            np.sum(g3[i:j], axis=2, out=sg[i:j])
            np.vecdot(g3[i:j], np.subtract(x3[i:j], mc), out=sgx[i:j])

        _over_blocks(n, per, x3.itemsize, sums)
        sum_g, sum_gxc = sg.sum(0), sgx.sum(0)  # (C,): sum(g), sum(g (x - mean))
        rstd = ctx.rstd
        dx = dw = db = None
        if need[0]:
            a = rstd if w is None else rstd * w._data  # w rstd
            k = _plane(a * rstd * rstd * sum_gxc / x3.dtype.type(m), x3.shape[2])
            off = _plane(a * sum_g / x3.dtype.type(m), x3.shape[2])
            ac = _plane(a, x3.shape[2])
            out = _buffers.empty_like(x3)

            def grad_x(i: int, j: int) -> None:
                t = np.subtract(x3[i:j], mc)
                t *= k  # w rstd^3 (x - mean) sum(g (x - mean))/M = w rstd xhat sum(g xhat)/M
                d = np.multiply(g3[i:j], ac, out=out[i:j])
                d -= t
                d -= off

            _over_blocks(n, per, x3.itemsize, grad_x)
            dx = Tensor._make(out.reshape(x.shape))
        if need[1]:
            dw = Tensor._make(sum_gxc * rstd)
        if need[2]:
            db = Tensor._make(sum_g)
        return dx, dw, db, None, None


def _batch_norm_vjp_composed(ctx: Node, g: Tensor, x: Tensor,
                             w: Tensor | None) -> tuple[Tensor | None, ...]:
    """BatchNormTrain's VJP in Tensor ops from x (so a second backward reaches x and w)."""
    need = ctx.needs_input_grad
    dims = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    xc = x - x.mean(dims, keepdim=True)
    rstd = ((xc * xc).mean(dims, keepdim=True) + ctx.eps).rsqrt()
    xhat = xc * rstd
    dx = None
    if need[0]:
        dxhat = g if w is None else g * w.reshape(shape)
        dx = (dxhat - dxhat.mean(dims, keepdim=True)
              - xhat * (dxhat * xhat).mean(dims, keepdim=True)) * rstd
    dw = (g * xhat).sum(dims) if need[1] else None
    db = g.sum(dims) if need[2] else None
    return dx, dw, db, None, None


class ScaleShift(Primitive):
    """Eval-mode batch norm's apply step: x (N, C, *) * scale + shift per channel, scale and
    shift of shape (C,) (torch's CPU inference kernel: one pass). VJP: dx = g scale,
    dscale = sum(g x), dshift = sum(g), sums over (N, *)."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, scale: NDArray, shift: NDArray) -> NDArray:
        out = scale_shift(x, scale, shift)
        if ctx.needs_input_grad[1]:
            ctx.save_for_backward(ctx.inputs[0], ctx.inputs[1])  # type: ignore[index]
        elif ctx.needs_input_grad[0]:
            ctx.save_for_backward(None, ctx.inputs[1])  # type: ignore[index]
        return out

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        x, scale = ctx.saved_tensors
        need = ctx.needs_input_grad
        shape = (1, g.shape[1]) + (1,) * (g.ndim - 2)
        dims = (0, *range(2, g.ndim))
        return (g * scale.reshape(shape) if need[0] else None,
                (g * x).sum(dims) if need[1] else None,
                g.sum(dims) if need[2] else None)


def scale_shift(x: NDArray, scale: NDArray, shift: NDArray) -> NDArray:
    """x (N, C, *) * scale + shift per channel, scale and shift (C,), in a pooled array."""
    n, c = x.shape[0], x.shape[1]
    x3 = x.reshape(n, c, -1)  # a view when x is contiguous, a copy otherwise
    out = _buffers.empty(x3.shape, np.result_type(x3, scale, shift))
    sc, sh = _plane(scale, x3.shape[2]), _plane(shift, x3.shape[2])

    def apply(i: int, j: int) -> None:
        o = np.multiply(x3[i:j], sc, out=out[i:j])
        o += sh

    _over_blocks(n, c * x3.shape[2], out.itemsize, apply)
    return out.reshape(x.shape)
