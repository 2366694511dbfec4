"""Normalisation layers as functions: batch_norm, layer_norm, group_norm, rms_norm."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import ember
from ember import _buffers
from ember._parallel import parallel_for
from ember.autograd.function import Primitive
from ember.autograd.grad_mode import is_grad_enabled
from ember.ops.batch_norm import BatchNormTrain, ScaleShift, scale_shift
from ember.ops.elementwise import Rsqrt
from ember.tensor import Tensor

NDArray = np.ndarray

__all__ = ["batch_norm", "layer_norm", "group_norm", "rms_norm", "local_response_norm"]


def _shape(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(s) for s in normalized_shape)


def _normalize(x: Tensor, dims: tuple[int, ...], eps: float) -> Tensor:
    """(x - mean) / sqrt(biased var + eps) over `dims`."""
    mean = x.mean(dims, keepdim=True)
    xc = x - mean
    var = (xc * xc).mean(dims, keepdim=True)
    return xc * ember.rsqrt(var + eps)


class _Normalize(Primitive):
    """Fused (x - mean) * rstd * w + b, stats over `dims`, rstd = 1/sqrt(biased var + eps);
    w and b arrive broadcastable to x. `stats`, when a list, receives (mean, biased var).
    VJP: dxhat = g w; dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)); dw = g xhat;
    db = g (the engine sums dw, db to their shapes)."""

    @staticmethod
    def forward(ctx: Any, x: NDArray, w: NDArray | None, b: NDArray | None,
                dims: tuple[int, ...], eps: float, stats: list[NDArray] | None) -> NDArray:
        mean = x.mean(axis=dims, keepdims=True)
        xhat = x - mean  # (x - mean), normalised in place below
        sq = xhat * xhat
        var = sq.mean(axis=dims, keepdims=True)
        rstd = 1.0 / np.sqrt(var + eps)
        xhat *= rstd
        if stats is not None:
            stats.extend((mean, var))
        ctx.save_for_backward(ctx.inputs[0], ctx.inputs[1])
        ctx.dims, ctx.eps, ctx.xhat, ctx.rstd = dims, eps, xhat, rstd
        if w is None:
            out = xhat if b is None else xhat + b
        elif sq.shape == np.broadcast_shapes(sq.shape, w.shape):
            out = np.multiply(xhat, w, out=sq)  # reuse the squares' buffer
            if b is not None:
                out += b
        else:
            out = xhat * w if b is None else xhat * w + b
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        x, w = ctx.saved_tensors
        dims = ctx.dims
        need = ctx.needs_input_grad
        if is_grad_enabled():  # create_graph: rebuild xhat from x so second order is exact
            xc = x - x.mean(dims, keepdim=True)
            rstd = ember.rsqrt((xc * xc).mean(dims, keepdim=True) + ctx.eps)
            xhat = xc * rstd
        else:
            return _normalize_vjp(ctx, g._data, w), (
                Tensor._make(g._data * ctx.xhat) if need[1] else None), (
                g if need[2] else None), None, None, None
        dxhat = g if w is None else g * w
        dx = None
        if need[0]:
            dx = (dxhat - dxhat.mean(dims, keepdim=True)
                  - xhat * (dxhat * xhat).mean(dims, keepdim=True)) * rstd
        dw = g * xhat if need[1] else None
        db = g if need[2] else None
        return dx, dw, db, None, None, None


def _normalize_vjp(ctx: Any, g: NDArray, w: Tensor | None) -> Tensor | None:
    """dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = g w, in NumPy with
    two work arrays (the same formula as the Tensor-op backward, which create_graph uses)."""
    if not ctx.needs_input_grad[0]:
        return None
    xhat, dims = ctx.xhat, ctx.dims
    dxhat = g * w._data if w is not None else g.copy()
    prod = dxhat * xhat
    m2 = prod.mean(axis=dims, keepdims=True)
    dxhat -= dxhat.mean(axis=dims, keepdims=True)
    np.multiply(xhat, m2, out=prod)
    dxhat -= prod
    dxhat *= ctx.rstd
    return Tensor._make(dxhat)


def _fusable(input: Tensor, *params: Tensor | None) -> bool:
    return input.dtype in (ember.float32, ember.float64) and all(
        p is None or p.dtype == input.dtype for p in params)


_LN_BLOCK = 1 << 16  # elements per block of rows: a block's three arrays (768 KiB) stay in L2
# elements per thread at least: the GPT's (1024, 128) split in two ran slower (1.45 -> 1.6-2.0
# ms fwd+bwd: the hand-off and GIL waits cost more than half of ~0.5 ms of work)
_LN_GRAIN = 1 << 18


class _LayerNorm(Primitive):
    """Fused layer_norm over the last k dims, as rows x (n, d), d their size: (x - mean) *
    rstd * w + b, rstd = 1/sqrt(biased var + eps); w and b of the normalized shape or None.
    Rows go in blocks (~64K elements, in L2), ranges of blocks on ember's threads; dw and
    db are summed per block and the block sums added in order, so any split gives the same
    bits. VJP: dxhat = g w; dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) per row;
    dw = sum over rows of g xhat; db = sum over rows of g."""

    @staticmethod
    def forward(ctx: Any, x: NDArray, w: NDArray | None, b: NDArray | None, k: int,
                eps: float) -> NDArray:
        d = int(np.prod(x.shape[x.ndim - k:]))
        x2 = x.reshape(-1, d)  # (n, d)
        n, rows = x2.shape[0], max(1, _LN_BLOCK // d)
        xhat, out = _buffers.empty_like(x2), _buffers.empty_like(x2)
        rstd = np.empty((n, 1), x2.dtype)
        w1 = None if w is None else w.reshape(d)
        b1 = None if b is None else b.reshape(d)

        def run(i: int, j: int) -> None:
            for r0 in range(i * rows, min(j * rows, n), rows):
                sl = slice(r0, min(r0 + rows, n))
                xs, xh, o = x2[sl], xhat[sl], out[sl]
                np.subtract(xs, _row_mean(xs), out=xh)
                np.multiply(xh, xh, out=o)  # the squares, in out's rows as scratch
                var = _row_mean(o)
                var += eps
                np.divide(1.0, np.sqrt(var, out=var), out=rstd[sl])
                xh *= rstd[sl]
                if w1 is not None:
                    np.multiply(xh, w1, out=o)
                else:
                    o[...] = xh
                if b1 is not None:
                    o += b1

        parallel_for(run, -(-n // rows), _LN_GRAIN, rows * d)
        ctx.save_for_backward(ctx.inputs[0], ctx.inputs[1])
        ctx.k, ctx.eps, ctx.xhat, ctx.rstd, ctx.shape = k, eps, xhat, rstd, x.shape
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        x, w = ctx.saved_tensors
        need, k = ctx.needs_input_grad, ctx.k
        if not is_grad_enabled():
            return _layer_norm_vjp(ctx, g._data, None if w is None else w._data)
        # create_graph: the composed derivative from x, so that second order is exact
        dims = tuple(range(x.ndim - k, x.ndim))
        xc = x - x.mean(dims, keepdim=True)
        rstd = ember.rsqrt((xc * xc).mean(dims, keepdim=True) + ctx.eps)
        xhat = xc * rstd
        dxhat = g if w is None else g * w
        dx = ((dxhat - dxhat.mean(dims, keepdim=True)
               - xhat * (dxhat * xhat).mean(dims, keepdim=True)) * rstd) if need[0] else None
        lead = tuple(range(x.ndim - k))  # summed for dw, db (none when x is one row)
        gx = g * xhat
        dw = (gx.sum(lead) if lead else gx) if need[1] else None
        db = (g.sum(lead) if lead else g) if need[2] else None
        return dx, dw, db, None, None


def _row_mean(a: NDArray) -> NDArray:
    """a.mean(axis=1, keepdims=True) of a C-contiguous (rows, d) block as one GEMV with a
    vector of ones: 11 us for (512, 128) float32 against 41 us for np.add.reduce along rows
    (whose inner loop runs once per row). The sum is BLAS's, so its rounding differs from
    NumPy's pairwise sum in the last bits; a block's rows always go in one call, so the
    result does not depend on the thread split."""
    m = _buffers.row_sum(a)
    m /= a.shape[1]
    return m


def _layer_norm_vjp(ctx: Any, g: NDArray, w: NDArray | None) -> tuple[Tensor | None, ...]:
    """`_LayerNorm`'s VJP in NumPy, block by block as the forward; dw, db from per-block sums."""
    need = ctx.needs_input_grad
    xhat, rstd = ctx.xhat, ctx.rstd  # (n, d), (n, 1)
    (n, d), rows = xhat.shape, max(1, _LN_BLOCK // xhat.shape[1])
    nblk = -(-n // rows)
    shape = ctx.shape  # x's
    g2 = np.ascontiguousarray(np.broadcast_to(g, shape)).reshape(n, d)
    w1 = None if w is None else w.reshape(d)
    dx = _buffers.empty_like(xhat) if need[0] else None
    dw = np.empty((nblk, d), xhat.dtype) if need[1] else None  # per-block sums
    db = np.empty((nblk, d), xhat.dtype) if need[2] else None

    def run(i: int, j: int) -> None:
        t_buf = np.empty(rows * d, xhat.dtype)  # per thread
        for blk in range(i, j):
            sl = slice(blk * rows, min(blk * rows + rows, n))
            gs, xh = g2[sl], xhat[sl]
            t = t_buf[:gs.size].reshape(gs.shape)
            np.multiply(gs, xh, out=t)  # g xhat: dw's rows, and mean(dxhat xhat) = (g xhat) @ w / d
            if dw is not None:
                np.matmul(_buffers.ones(len(t), t.dtype), t, out=dw[blk])  # GEMV: 3x reduce
            if db is not None:
                np.matmul(_buffers.ones(len(gs), gs.dtype), gs, out=db[blk])
            if dx is None:
                continue
            dxs = dx[sl]
            if w1 is not None:  # the row means of dxhat = g w and dxhat xhat as GEMVs with w
                m1, m2 = np.matmul(gs, w1), np.matmul(t, w1)  # (rows,)
                m1 /= d
                m2 /= d
                m1, m2 = m1[:, None], m2[:, None]
                np.multiply(gs, w1, out=dxs)  # dxhat
            else:
                m1, m2 = _row_mean(gs), _row_mean(t)
                dxs[...] = gs
            dxs -= m1
            np.multiply(xh, m2, out=t)
            dxs -= t
            dxs *= rstd[sl]

    parallel_for(run, nblk, _LN_GRAIN, rows * d)
    wshape = shape[len(shape) - ctx.k:]  # w's and b's: the normalized shape
    return (None if dx is None else Tensor._make(dx.reshape(shape)),
            None if dw is None else Tensor._make(dw.sum(0).reshape(wshape)),
            None if db is None else Tensor._make(db.sum(0).reshape(wshape)), None, None)


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Matches `torch.nn.functional.layer_norm` (biased variance over the last dims)."""
    shape = _shape(normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size"
                           f"{list(input.shape)}")
    if _fusable(input, weight, bias) and input.numel() > 0 and math.prod(shape) > 0:
        return _LayerNorm.apply(input, weight, bias, k, eps)
    return _layer_norm_composed(input, k, weight, bias, eps)


def _layer_norm_composed(input: Tensor, k: int, weight: Tensor | None, bias: Tensor | None,
                         eps: float) -> Tensor:
    """The reference composition (other dtypes, and the tests' reference for the fused path)."""
    out = _normalize(input, tuple(range(input.ndim - k, input.ndim)), eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def rms_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """Matches `torch.nn.functional.rms_norm` (eps=None means the dtype's machine epsilon)."""
    shape = _shape(normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size"
                           f"{list(input.shape)}")
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps)
    dims = tuple(range(input.ndim - k, input.ndim))
    out = input * ember.rsqrt((input * input).mean(dims, keepdim=True) + eps)
    return out if weight is None else out * weight


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Matches `torch.nn.functional.group_norm`: normalise (N, G, -1), affine per channel."""
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, "
                           f"but got input of shape {list(input.shape)} and num_groups="
                           f"{num_groups}")
    grouped = input.reshape(n, num_groups, -1)  # (N, G, C/G * spatial)
    if _fusable(input):
        out = _Normalize.apply(grouped, None, None, (2,), eps, None).reshape(input.shape)
    else:
        out = _normalize(grouped, (2,), eps).reshape(input.shape)
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(bshape)
    return out if bias is None else out + bias.reshape(bshape)


def _update_running(running_mean: Tensor | None, running_var: Tensor | None, mean: Tensor,
                    var_biased: Tensor, count: int, momentum: float) -> None:
    """running = (1-m)*running + m*batch, storing the UNBIASED variance (n/(n-1))."""
    if running_mean is not None:
        rm = running_mean._data
        rm *= 1.0 - momentum
        rm += momentum * mean._data.astype(rm.dtype)
        running_mean._version_ref[0] += 1
    if running_var is not None:
        rv = running_var._data
        unbiased = var_biased._data * (count / max(count - 1, 1))
        rv *= 1.0 - momentum
        rv += momentum * unbiased.astype(rv.dtype)
        running_var._version_ref[0] += 1


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Matches `torch.nn.functional.batch_norm` over (N, C, *): stats per channel (dim 1)."""
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    dims = (0,) + tuple(range(2, input.ndim))
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if training:
        count = input.numel() // c
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {input.shape}")
        if _fusable(input, weight, bias) and input.ndim > 1:
            stats: list[NDArray] = []
            out = BatchNormTrain.apply(input, weight, bias, eps, stats)
            _update_running(running_mean, running_var, Tensor._make(stats[0]),
                            Tensor._make(stats[1]), count, momentum)
            return out
        mean = input.mean(dims, keepdim=True)
        xc = input - mean
        var = (xc * xc).mean(dims, keepdim=True)
        out = xc * ember.rsqrt(var + eps)
        _update_running(running_mean, running_var, mean.detach().reshape(c),
                        var.detach().reshape(c), count, momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
        # as torch's CPU inference kernel: per-channel scale and shift first, then
        # input * scale + shift: 2 passes over the activations instead of 4
        params = (running_mean, running_var, weight, bias)
        if (input.ndim > 1 and not (is_grad_enabled() and (input.requires_grad or any(
                p is not None and p.requires_grad for p in params)))
                and _fusable(input, *params)):
            # nothing to record: the same arithmetic on the (C,) arrays, without ~5 ops' Tensors
            # and nodes (BatchNorm2d(64) eval on (2,64,2,2): 87 -> 52 us a call)
            sc = Rsqrt.np_fn(running_var._data + eps)
            if weight is not None:
                sc = sc * weight._data
            sh = -running_mean._data * sc
            if bias is not None:
                sh = sh + bias._data
            return Tensor._make(scale_shift(input._data, sc, sh))
        scale = ember.rsqrt(running_var + eps)
        if weight is not None:
            scale = scale * weight
        shift = -running_mean * scale
        if bias is not None:
            shift = shift + bias
        if input.ndim > 1 and _fusable(input, scale, shift):
            return ScaleShift.apply(input, scale, shift)
        return input * scale.reshape(bshape) + shift.reshape(bshape)
    if weight is not None:
        out = out * weight.reshape(bshape)
    return out if bias is None else out + bias.reshape(bshape)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """Matches `torch.nn.functional.local_response_norm` (over channels, zero-padded)."""
    sq = (input * input).unsqueeze(1)  # (N, 1, C, *)
    pad = [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2]
    sq = ember.nn.functional.pad(sq, pad)
    c = input.shape[1]
    acc = sq[:, :, 0:c]
    for i in range(1, size):
        acc = acc + sq[:, :, i:i + c]
    div = (acc.squeeze(1) * (alpha / size) + k) ** beta
    return input / div
