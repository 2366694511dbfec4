"""Window primitives for convolution and pooling: Unfold/Fold (im2col/col2im), flat gather/scatter,
constant padding and index-take along one dim; each pair is the other's VJP."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ember._parallel import parallel_for
from ember.autograd.function import Node, Primitive
from ember.autograd.grad_mode import STATE
from ember.ops.conv_kernels import (
    _Recycled,
    conv_cl,
    conv_nchw,
    conv_path,
    conv_rows,
    fresh,
    grad_channels_last,
    grad_input_taps,
    grad_weight_cl,
    grad_weight_nchw,
    grad_rows_first,
    grad_weight_rows,
    interior,
    padded_size,
    scratch,
    unfold_cl,
    use_rows,
    windows,
)
from ember.tensor import Tensor

NDArray = np.ndarray
Ints = tuple[int, ...]

# internal primitives; the public functions live in ember.nn.functional
__all__: list[str] = []


def pad_to(x: NDArray, lo: Ints, sp: Ints, fill: Any = 0) -> NDArray:
    """Place x (N, C, *S) at offset lo inside a (N, C, *sp) array filled with `fill`."""
    if all(p == 0 for p in lo) and tuple(x.shape[2:]) == sp:
        return x
    out = np.full(x.shape[:2] + tuple(sp), fill, dtype=x.dtype)
    out[(slice(None), slice(None)) + interior(lo, x.shape[2:])] = x
    return out


class Unfold(Primitive):
    """im2col: x (N, C, *S) -> (N, C*prod(kernel), prod(out)), or with `batch_inner` the GEMM
    layout (C*prod(kernel), N*prod(out)); zero padding `lo` on the left (the right padding is
    whatever the `out` windows need). VJP: Fold of g with the same arguments."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, kernel: Ints, dilation: Ints, stride: Ints, lo: Ints,
                out: Ints, batch_inner: bool = False) -> NDArray:
        ctx.size, ctx.fold_args = x.shape[2:], (kernel, dilation, stride, lo, out, batch_inner)
        ctx.batch = x.shape[0]
        sp = padded_size(x.shape[2:], kernel, dilation, stride, lo, out)
        w = windows(pad_to(x, lo, sp), kernel, dilation, stride, out)  # (N, C, *out, *k)
        nd = len(kernel)
        k_axes, o_axes = tuple(range(2 + nd, 2 + 2 * nd)), tuple(range(2, 2 + nd))
        if batch_inner:
            cols = np.ascontiguousarray(w.transpose((1, *k_axes, 0, *o_axes)))  # (C, *k, N, *o)
            return cols.reshape(x.shape[1] * math.prod(kernel), -1)
        cols = np.ascontiguousarray(w.transpose((0, 1, *k_axes, *o_axes)))  # (N, C, *k, *out)
        return cols.reshape(x.shape[0], -1, math.prod(out))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (Fold.apply(g, ctx.size, *ctx.fold_args, ctx.batch),) + (None,) * 6


class Fold(Primitive):
    """col2im: cols (N, C*prod(kernel), prod(out)) (or the `batch_inner` layout
    (C*prod(kernel), N*prod(out)), which needs `batch` = N) summed into (N, C, *size); the
    adjoint of Unfold with the same arguments. VJP: Unfold of g."""

    @staticmethod
    def forward(ctx: Node, cols: NDArray, size: Ints, kernel: Ints, dilation: Ints,
                stride: Ints, lo: Ints, out: Ints, batch_inner: bool = False,
                batch: int = 0) -> NDArray:
        ctx.unfold_args = (kernel, dilation, stride, lo, out, batch_inner)
        nd = len(kernel)
        if batch_inner:
            c = cols.shape[0] // math.prod(kernel)
            blocks = cols.reshape((c, *kernel, batch, *out)).transpose(
                (nd + 1, 0, *range(1, nd + 1), *range(nd + 2, 2 * nd + 2)))  # (N, C, *k, *o)
            n = batch
        else:
            n = cols.shape[0]
            c = cols.shape[1] // math.prod(kernel)
            blocks = cols.reshape((n, c) + tuple(kernel) + tuple(out))  # (N, C, *k, *out)
        sp = padded_size(size, kernel, dilation, stride, lo, out)
        acc = np.zeros((n, c) + sp, dtype=cols.dtype)
        for offs in np.ndindex(*kernel):  # one strided slice per kernel offset, no scatter
            dst = tuple(slice(i * d, i * d + (o - 1) * s + 1, s) for i, d, o, s in
                        zip(offs, dilation, out, stride, strict=True))
            acc[(slice(None), slice(None)) + dst] += blocks[(slice(None), slice(None)) + offs]
        return acc[(slice(None), slice(None)) + interior(lo, size)]

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (Unfold.apply(g, *ctx.unfold_args),) + (None,) * 8


class UnfoldCL(Primitive):
    """im2col in the channels-last GEMM layout (see `unfold_cl`): x (N, C, *S) -> cols
    (N*prod(out), prod(kernel)*C), so that `cols @ W.mT` (W reordered to (O, *kernel, C)) is
    one GEMM whose row count is the large N*L: OpenBLAS runs that shape 1.2-8x faster than
    (O, C*K) @ (C*K, N*L). Zero padding `lo` on the left. VJP: FoldCL of g."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, kernel: Ints, dilation: Ints, stride: Ints, lo: Ints,
                out: Ints) -> NDArray:
        ctx.size, ctx.fold_args = x.shape[2:], (kernel, dilation, stride, lo, out)
        return unfold_cl(x, kernel, dilation, stride, lo, out)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (FoldCL.apply(g, ctx.size, *ctx.fold_args),) + (None,) * 5


class FoldCL(Primitive):
    """col2im from the channels-last layout: cols (N*prod(out), prod(kernel)*C) summed into a
    contiguous (N, C, *size); the adjoint of UnfoldCL with the same arguments: prod(kernel)
    strided adds of whole C-runs into a (N, *Sp, C) buffer, then one transposing copy.
    VJP: UnfoldCL of g."""

    @staticmethod
    def forward(ctx: Node, cols: NDArray, size: Ints, kernel: Ints, dilation: Ints,
                stride: Ints, lo: Ints, out: Ints) -> NDArray:
        ctx.unfold_args = (kernel, dilation, stride, lo, out)
        nd, lpos = len(kernel), math.prod(out)
        n, c = cols.shape[0] // lpos, cols.shape[1] // math.prod(kernel)
        blocks = cols.reshape(n, *out, *kernel, c)
        sp = padded_size(size, kernel, dilation, stride, lo, out)
        acc = scratch("fold_cl", (n, *sp, c), cols.dtype)  # (N, *Sp, C), zeroed per block
        lead = (slice(None),) * (1 + nd)
        dst = [tuple(slice(i * d, i * d + (o - 1) * s + 1, s) for i, d, o, s in
                     zip(offs, dilation, out, stride, strict=True))
               for offs in np.ndindex(*kernel)]
        # samples in chunks of ~256 KiB of cols, so the prod(kernel) strided reads of a chunk
        # hit cache instead of pulling every cache line of cols from memory prod(kernel) times
        nb = max(1, (1 << 18) // max(1, lpos * cols.shape[1] * cols.itemsize))
        offsets = list(np.ndindex(*kernel))

        def chunk(lo_n: int, hi_n: int) -> None:  # samples [lo_n, hi_n), in blocks of nb
            for s0 in range(lo_n, hi_n, nb):
                s1 = min(s0 + nb, hi_n)
                a, b = acc[s0:s1], blocks[s0:s1]
                a.fill(0)
                for offs, dsl in zip(offsets, dst, strict=True):
                    a[(slice(None),) + dsl] += b[lead + offs]

        parallel_for(chunk, n, 1 << 16, lpos * cols.shape[1])
        crop = acc[(slice(None),) + interior(lo, size)]
        return fresh(np.moveaxis(crop, -1, 1))  # (N, C, *size)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (UnfoldCL.apply(g, *ctx.unfold_args),) + (None,) * 6


class Convolution(Primitive):
    """N-d cross-correlation with groups=1, as torch's convolution: x (N, C, *S), w (O, C, *k),
    bias (O,) or None -> contiguous (N, O, *out), by im2col + GEMMs in one of three layouts
    (`conv_path`): channels-last `conv_cl`, W-only `conv_rows` (2-d, stride 1 along H) or
    per-sample `conv_nchw` (few input channels); the im2col is kept for dw. The samples are
    split between ember's threads (`over_threads`).
    VJP: dx is the transposed convolution of g: for stride 1 (and padding <= d*(k-1)) a
    Convolution of g with w flipped and its channels swapped, one more GEMM and no col2im;
    otherwise FoldCL of g @ W. dw = cols.mT @ g (cols recomputed by UnfoldCL when building a
    graph, so double backward reaches x), db = g summed over batch and space."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, w: NDArray, b: NDArray | None, kernel: Ints,
                dilation: Ints, stride: Ints, lo: Ints, out: Ints) -> NDArray:
        path = conv_path(x.shape[1], kernel, stride)
        keep = bool(ctx.needs_input_grad) and ctx.needs_input_grad[1]  # cols saved for dw
        alloc = _Recycled(ctx) if keep else None
        kernel_fn = conv_rows if path == "rows" else conv_nchw if path == "nchw" else conv_cl
        y, cols = kernel_fn(x, w, b, kernel, dilation, stride, lo, out, alloc)  # (N, O, *out)
        if any(ctx.needs_input_grad):
            ctx.args = (kernel, dilation, stride, lo, out)
            ctx.cols = cols
            ctx.path = path
            ctx.save_for_backward(*ctx.inputs[:2])  # type: ignore[index]
        return y

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        x, w = ctx.saved_tensors
        kernel, dil, stride, lo, out = ctx.args
        nd, o = len(kernel), w.shape[0]
        dx = dw = db = None
        as_conv = transposed_is_conv(kernel, dil, stride, lo)
        gm = None
        # dw from the saved im2col in NumPy (with create_graph: UnfoldCL, so it differentiates)
        dw_np = ctx.needs_input_grad[1] and not STATE.enabled
        gm_dx = ctx.needs_input_grad[0] and not as_conv and STATE.enabled
        if (ctx.needs_input_grad[1] and not dw_np) or gm_dx:
            gm = g.permute(0, *range(2, 2 + nd), 1).reshape(-1, o)  # (N*L, O)
        # rows path: g once in (OH, N, OW, O) order, for dw and, as a plain copy, for dx's
        # padded input (a second transposing copy of g otherwise)
        g4 = grad_rows_first(g._data) if dw_np and ctx.path == "rows" else None
        # channels-last path: g once as (N*L, O), for dw and for a strided conv's dx
        gm_np = (grad_channels_last(g._data) if ctx.path == "cl" and not STATE.enabled
                 and (ctx.needs_input_grad[1] or not as_conv) else None)
        if ctx.needs_input_grad[0]:
            size = tuple(x.shape[2:])
            if as_conv and g4 is not None and use_rows(o, kernel, stride) and not STATE.enabled:
                back = tuple(d * (k - 1) - p for k, d, p in zip(kernel, dil, lo, strict=True))
                wt = np.flip(w._data, (2, 3)).transpose(1, 0, 2, 3)  # (C, O, KH, KW)
                dx = Tensor._make(conv_rows(g4, wt, None, kernel, dil, stride, back, size,
                                            rows_first=True)[0])  # (N, C, H, W)
            elif as_conv:
                back = tuple(d * (k - 1) - p for k, d, p in zip(kernel, dil, lo, strict=True))
                wt = w.flip(tuple(range(2, 2 + nd))).transpose(0, 1)  # (C, O, *k)
                dx = Convolution.apply(g, wt, None, kernel, dil, stride, back, size)
            elif not STATE.enabled:
                dx = Tensor._make(grad_input_taps(g._data, w._data, size, kernel, dil, stride,
                                                  lo, out, gm_np))
            else:
                assert gm is not None
                wm = w.permute(0, *range(2, 2 + nd), 1).reshape(o, -1)  # (O, K*C)
                dx = FoldCL.apply(gm @ wm, size, kernel, dil, stride, lo, out)
        if g4 is not None:
            dw = Tensor._make(grad_weight_rows(ctx.cols, g4, w.shape, dil[0]))
        elif gm_np is not None and ctx.needs_input_grad[1]:  # cl: (K*C, N*L) @ (N*L, O)
            dwm = grad_weight_cl(ctx.cols, gm_np)  # (K*C, O), columns (*k, c) as cols'
            dw = Tensor._make(np.ascontiguousarray(np.moveaxis(
                dwm.T.reshape(o, *kernel, w.shape[1]), -1, 1)))  # (O, C, *k)
        elif dw_np:  # nchw: sum over samples of g_n (O, L) @ cols_n.T (L, C*K [+ 1])
            g3 = g._data.reshape(g.shape[0], o, -1)
            dwb = grad_weight_nchw(g3, ctx.cols)  # (O, C*K [+ 1])
            ck = math.prod(w.shape[1:])
            dw = Tensor._make(np.ascontiguousarray(dwb[:, :ck]).reshape(w.shape))
            if dwb.shape[1] > ck and ctx.needs_input_grad[2]:  # the ones row: db
                db = Tensor._make(dwb[:, -1].copy())
        elif ctx.needs_input_grad[1]:  # create_graph: in Tensor ops, so it differentiates
            assert gm is not None
            cols = UnfoldCL.apply(x, kernel, dil, stride, lo, out)
            dwm = cols.mT @ gm  # (K*C, O)
            dw = dwm.mT.reshape(o, *kernel, w.shape[1]).permute(
                0, nd + 1, *range(1, nd + 1)).contiguous()  # (O, C, *k)
        if ctx.needs_input_grad[2] and db is None:
            db = (g.sum((0, *range(2, 2 + nd))) if STATE.enabled else  # per sample, then N
                  Tensor._make(g._data.reshape(g.shape[0], o, -1).sum(2).sum(0)))
        return (dx, dw, db) + (None,) * 5


def transposed_is_conv(kernel: Ints, dilation: Ints, stride: Ints, lo: Ints) -> bool:
    """Whether conv's input gradient is a stride-1 Convolution of g (no col2im needed)."""
    return all(s == 1 for s in stride) and all(
        p <= d * (k - 1) for k, d, p in zip(kernel, dilation, lo, strict=True))


class GatherFlat(Primitive):
    """x (N, C, *S) read at flat per-plane indices idx (N, C, *out). VJP: ScatterFlat of g."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, idx: NDArray) -> NDArray:
        ctx.in_shape, ctx.idx = x.shape, idx
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        return np.take_along_axis(flat, idx.reshape(idx.shape[0], idx.shape[1], -1),
                                  axis=2).reshape(idx.shape)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (ScatterFlat.apply(g, ctx.idx, ctx.in_shape), None)


class ScatterFlat(Primitive):
    """g (N, C, *out) summed (or with `assign`, written: max_unpool) into zeros of `shape`
    (N, C, *S) at flat per-plane indices idx. VJP: GatherFlat of g."""

    @staticmethod
    def forward(ctx: Node, g: NDArray, idx: NDArray, shape: Ints,
                assign: bool = False) -> NDArray:
        ctx.idx = idx
        nc, m = shape[0] * shape[1], math.prod(shape[2:])
        flat = (idx.reshape(nc, -1) + (np.arange(nc) * m)[:, None]).ravel()
        if assign:
            out = np.zeros(nc * m, dtype=g.dtype)
            out[flat] = g.reshape(-1)
            return out.reshape(shape)
        out = np.bincount(flat, weights=g.reshape(-1), minlength=nc * m)
        return out.astype(g.dtype, copy=False).reshape(shape)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (GatherFlat.apply(g, ctx.idx), None, None, None)


class ConstantPad(Primitive):
    """Pad (or crop, for negative amounts) each dim by pads[d] = (lo, hi) with `value`.
    VJP: ConstantPad of g by the negated amounts, with 0."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, pads: tuple[tuple[int, int], ...], value: Any) -> NDArray:
        ctx.pads = pads
        crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in
                     zip(pads, x.shape, strict=True))
        x = x[crop]
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
        if not any(lo or hi for lo, hi in grow):
            return x.copy()
        return np.pad(x, grow, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        back = tuple((-lo, -hi) for lo, hi in ctx.pads)
        return (ConstantPad.apply(g, back, 0), None, None)


class Take(Primitive):
    """x indexed along `dim` by an int array idx (repeats allowed). VJP: TakeAdd of g."""

    @staticmethod
    def forward(ctx: Node, x: NDArray, dim: int, idx: NDArray) -> NDArray:
        ctx.size, ctx.dim, ctx.idx = x.shape[dim], dim, idx
        return np.take(x, idx, axis=dim)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (TakeAdd.apply(g, ctx.dim, ctx.idx, ctx.size), None, None)


class TakeAdd(Primitive):
    """g summed into zeros with `size` entries along `dim` at positions idx. VJP: Take of g."""

    @staticmethod
    def forward(ctx: Node, g: NDArray, dim: int, idx: NDArray, size: int) -> NDArray:
        ctx.dim, ctx.idx = dim, idx
        shape = list(g.shape)
        shape[dim] = size
        out = np.zeros(shape, dtype=g.dtype)
        np.add.at(np.moveaxis(out, dim, 0), idx, np.moveaxis(g, dim, 0))  # repeats accumulate
        return out

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (Take.apply(g, ctx.dim, ctx.idx), None, None, None)

