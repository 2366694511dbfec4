"""Array kernels behind the Convolution primitive (ember.ops.conv): convolution by im2col and
GEMMs in three layouts (channels-last `conv_cl`, W-only `conv_rows`, per-sample `conv_nchw`),
their dW and the strided conv's col2im dx (`grad_input_taps`), run per range of samples (or
of GEMM rows) on ember's threads with NumPy's BLAS at one thread (`over_threads`), and the
memory they work in: per-thread scratch arrays and the pool of saved im2col buffers."""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from ember import _blas, _buffers
from ember._parallel import get_num_threads, parallel_for
from ember.autograd.function import Node

NDArray = np.ndarray
Ints = tuple[int, ...]

def copy_split(dst: NDArray, src: Any) -> NDArray:
    """dst[...] = src (broadcast), the copy split along axis 0 between ember's threads: the
    layout changes around the GEMMs (im2col, NCHW <-> channels-last) are single NumPy copies
    that otherwise leave the second core idle. Returns dst."""
    per = max(1, dst[0].size if dst.ndim and dst.shape[0] else 1)

    def part(i: int, j: int) -> None:
        np.copyto(dst[i:j], src[i:j])

    parallel_for(part, dst.shape[0] if dst.ndim else 1, 1 << 16, per)
    return dst


def fresh(src: NDArray) -> NDArray:
    """A new C-contiguous copy of src (never src itself, which may be a scratch array), in a
    pooled buffer that nothing references any more (`ember._buffers`: no page faults)."""
    return copy_split(_buffers.empty(src.shape, src.dtype), src)


_SCRATCH_BYTES = 1 << 26  # scratch kept per thread: 64 MiB at most, least recently used out
_local = threading.local()


def scratch(role: str, shape: Ints, dtype: Any, zero: bool = False, tag: Any = None) -> NDArray:
    """A work array that never leaves the op asking for it (padded inputs, im2col that is not
    saved for backward, GEMM outputs before their copy to NCHW), kept between calls per thread
    under (role, shape, dtype, tag). Fresh arrays of this size come from pages the allocator
    has just returned to the OS: a CNN train step faulted in ~36 MB of pages (~8.8K faults,
    ~25 ms of kernel time of a 180 ms step at 1 thread). `zero`: zero-filled when first made;
    callers then only write the interior, so the zero border stays (the tag holds what fixes
    the interior: padding and input size)."""
    cache: dict[Any, NDArray] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    key = (role, tuple(shape), np.dtype(dtype), tag)
    arr = cache.pop(key, None)
    if arr is None:
        arr = np.zeros(shape, dtype=dtype) if zero else np.empty(shape, dtype=dtype)
        total = arr.nbytes + sum(a.nbytes for a in cache.values())
        for k in list(cache):  # oldest first
            if total <= _SCRATCH_BYTES:
                break
            total -= cache.pop(k).nbytes
    if arr.nbytes <= _SCRATCH_BYTES:
        cache[key] = arr  # most recently used last
    return arr


Alloc = Callable[[Any, Any], NDArray]  # (shape, dtype) -> a new array, as np.empty


_POOL_BYTES = 1 << 27  # im2col buffers kept for the next step: 128 MiB at most
_pool: dict[tuple[Any, ...], list[NDArray]] = {}
_pool_lock = threading.Lock()


def _reset_pool() -> None:
    # a forked child (DataLoader worker) must not inherit a lock held by another thread
    global _pool_lock
    _pool_lock = threading.Lock()
    _pool.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pool)


def _recycle(arr: NDArray) -> None:
    """Keep a saved im2col whose graph node has died, for the next forward of that shape."""
    with _pool_lock:
        if sum(a.nbytes for v in _pool.values() for a in v) + arr.nbytes <= _POOL_BYTES:
            _pool.setdefault((arr.shape, arr.dtype), []).append(arr)


class _Recycled:
    """Allocator of the im2col a Convolution saves for dw: taken from the arrays of earlier
    steps whose graph node has been freed, and handed back when this node dies (a finalizer
    on the node; the array is reachable only through ctx.cols). Fresh arrays of this size
    come from pages the allocator returned to the OS when the last step's graph was freed:
    ~27 MB of page faults per CNN train step."""

    def __init__(self, ctx: Node) -> None:
        self.ctx = ctx

    def __call__(self, shape: Any, dtype: Any) -> NDArray:
        key = (tuple(shape), np.dtype(dtype))
        with _pool_lock:
            free = _pool.get(key)
            arr = free.pop() if free else None
        if arr is None:
            arr = np.empty(shape, dtype=dtype)
        weakref.finalize(self.ctx, _recycle, arr)
        return arr


def windows(xp: NDArray, kernel: Ints, dilation: Ints, stride: Ints, out: Ints) -> NDArray:
    """A strided view (N, C, *out, *kernel) of the windows of a padded array xp (N, C, *Sp)."""
    nd = len(kernel)
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    v = sliding_window_view(xp, span, axis=tuple(range(2, 2 + nd)))
    idx = ((slice(None), slice(None)) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in
                                               zip(out, stride, strict=True))
           + tuple(slice(None, None, d) for d in dilation))
    return v[idx]


def padded_size(size: Ints, kernel: Ints, dilation: Ints, stride: Ints, lo: Ints,
                out: Ints) -> Ints:
    """The padded extent Sp that holds the left padding, the input and every window."""
    return tuple(max(s + p, (o - 1) * st + d * (k - 1) + 1) for s, k, d, st, p, o in
                 zip(size, kernel, dilation, stride, lo, out, strict=True))


def padded_cl(x: NDArray, kernel: Ints, dilation: Ints, stride: Ints, lo: Ints,
              out: Ints) -> tuple[NDArray, bool]:
    """x (N, C, *S)'s zero-bordered channels-last buffer (N, *Sp, C), per-thread scratch whose
    interior (`interior(lo, S)`) the caller fills, and True; or for a 1x1 conv without padding
    x itself seen channels-last and False (the window copy is then the only one)."""
    n, c, size = x.shape[0], x.shape[1], x.shape[2:]
    sp = padded_size(size, kernel, dilation, stride, lo, out)
    if math.prod(kernel) == 1 and tuple(sp) == tuple(size):
        return np.moveaxis(x, 1, -1), False
    return scratch("pad_cl", (n, *sp, c), x.dtype, True, (lo, size)), True


def interior(lo: Ints, size: Ints) -> tuple[slice, ...]:
    """The slices of a padded buffer's spatial dims that hold the input."""
    return tuple(slice(p, p + s) for p, s in zip(lo, size, strict=True))


def windows_cl(xp: NDArray, kernel: Ints, dilation: Ints, stride: Ints, out: Ints) -> NDArray:
    """A read-only strided view (N, *out, *kernel, C) of the windows of a padded channels-last
    array xp (N, *Sp, C): rows (n, *out) and columns (*kernel, c) of the channels-last im2col."""
    st = xp.strides
    sd = st[1:-1]
    return as_strided(xp, (xp.shape[0], *out, *kernel, xp.shape[-1]),
                      (st[0], *(a * s for a, s in zip(sd, stride, strict=True)),
                       *(a * d for a, d in zip(sd, dilation, strict=True)), st[-1]),
                      writeable=False)


def unfold_cl(x: NDArray, kernel: Ints, dilation: Ints, stride: Ints, lo: Ints,
              out: Ints, alloc: Alloc = np.empty) -> NDArray:
    """im2col in the channels-last GEMM layout: x (N, C, *S) -> cols (N*prod(out),
    prod(kernel)*C), rows ordered (n, *out) and columns (*kernel, c). One transposing copy into
    a zero-padded (N, *Sp, C) buffer, then one sequential copy of a strided window view: 5-6x
    faster than a copy per kernel offset, whose strided writes touch every cache line 9 times."""
    xp, padded = padded_cl(x, kernel, dilation, stride, lo, out)
    if padded:
        copy_split(xp[(slice(None),) + interior(lo, x.shape[2:])], np.moveaxis(x, 1, -1))
    view = windows_cl(xp, kernel, dilation, stride, out)  # (N, *out, *kernel, C)
    return copy_split(alloc(view.shape, x.dtype), view).reshape(x.shape[0] * math.prod(out), -1)


def grad_channels_last(g: NDArray) -> NDArray:
    """g (N, O, *out) as gm (N*L, O), the row order of `unfold_cl` (a scratch array): made once
    per backward and read by both dx (`grad_input_taps`) and dw (cols.T @ gm)."""
    return copy_split(scratch("grad_taps", (g.shape[0], *g.shape[2:], g.shape[1]), g.dtype),
                      np.moveaxis(g, 1, -1)).reshape(-1, g.shape[1])


def grad_input_taps(g: NDArray, w: NDArray, size: Ints, kernel: Ints, dilation: Ints,
                    stride: Ints, lo: Ints, out: Ints, gm: NDArray | None = None) -> NDArray:
    """Convolution's dx by col2im (strided convs): the same sums as FoldCL of g @ W, in blocks
    of ~512 GEMM rows (2 samples of 16x16) that stay in cache: d = gm_blk @ W (rows, K*C), one
    GEMM for all kernel offsets (N = K*C: 4.6 ms where 9 GEMMs with N = C took 5.5 ms), then
    per offset a strided add of its C columns into the block's zeroed (m, *Sp, C) sums, and
    the block's NCHW store (conv 32->64 stride 2 on 32x32 at 1 thread: 11.9 -> 10.7 ms; the
    earlier 9 adds over the whole (N*L, 9*C) array from memory ran ~2.5x slower). g (N, O,
    *out), w (O, C, *k) -> dx (N, C, *size); gm: `grad_channels_last(g)` when the caller has
    it already."""
    n, o, c = g.shape[0], w.shape[0], w.shape[1]
    kk, lpos, nd = math.prod(kernel), math.prod(out), len(kernel)
    if gm is None:
        gm = grad_channels_last(g)  # (N*L, O)
    wcat = np.ascontiguousarray(w.reshape(o, c, kk).transpose(0, 2, 1)).reshape(o, kk * c)
    sp = padded_size(size, kernel, dilation, stride, lo, out)
    dst = [tuple(slice(i * dl, i * dl + (t - 1) * st + 1, st) for i, dl, t, st in
                 zip(offs, dilation, out, stride, strict=True))
           for offs in np.ndindex(*kernel)]
    crop = (slice(None),) + interior(lo, size)
    dx = _buffers.empty((n, c, *size), np.result_type(g, w))
    sb = max(1, _GEMM_ROWS // 2 // lpos)  # samples per block

    def part(i: int, j: int) -> None:  # samples [i, j)
        d_all = scratch("taps", (sb * lpos, kk * c), dx.dtype)
        acc = scratch("fold_taps", (sb, *sp, c), dx.dtype)  # (m, *Sp, C), zeroed per block
        for s0 in range(i, j, sb):
            s1 = min(s0 + sb, j)
            d = np.matmul(gm[s0 * lpos:s1 * lpos], wcat, out=d_all[:(s1 - s0) * lpos])
            d = d.reshape(s1 - s0, *out, kk, c)
            a = acc[:s1 - s0]
            a.fill(0)
            for k, dsl in enumerate(dst):
                a[(slice(None),) + dsl] += d[(slice(None),) * (1 + nd) + (k,)]
            np.copyto(dx[s0:s1], np.moveaxis(a[crop], -1, 1))  # (m, C, *size)

    over_threads(part, n, n * math.prod(sp) * c)
    return dx


def _sum_row_blocks(m: int, shape: Ints, dtype: Any,
                    block: Callable[[int, int, NDArray, bool], None]) -> NDArray:
    """A dW summed over m GEMM rows in blocks of _GEMM_ROWS: block(r0, r1, acc, first) adds
    (first: writes) rows [r0, r1)'s products into acc of `shape`. The blocks are split between
    ember's threads, each summing its own in turn into its own acc (every GEMM keeps all the
    dW rows: the column split of dW ran ~14% more CPU), then the partial sums are added in
    range order (the same bits at one thread as before the split)."""
    nb = -(-m // _GEMM_ROWS)
    partials: dict[int, NDArray] = {}

    def part(b0: int, b1: int) -> None:
        acc = np.empty(shape, dtype=dtype)
        for b in range(b0, b1):
            block(b * _GEMM_ROWS, min((b + 1) * _GEMM_ROWS, m), acc, b == b0)
        partials[b0] = acc

    over_threads(part, nb, m * math.prod(shape) // 64)
    first, *rest = (partials[k] for k in sorted(partials))
    for p in rest:
        first += p
    return first


def grad_weight_cl(cols: NDArray, gm: NDArray) -> NDArray:
    """dW of `conv_cl` as (K*C, O) = cols.T @ gm, cols (N*L, K*C), gm (N*L, O), summed over
    blocks of rows (`_sum_row_blocks`)."""
    dtype = np.result_type(cols, gm)

    def block(r0: int, r1: int, acc: NDArray, first: bool) -> None:
        if first:
            np.matmul(cols[r0:r1].T, gm[r0:r1], out=acc)
        else:
            acc += np.matmul(cols[r0:r1].T, gm[r0:r1],
                             out=scratch("dw_cl", acc.shape, dtype))

    return _sum_row_blocks(cols.shape[0], (cols.shape[1], gm.shape[1]), dtype, block)


def grad_weight_nchw(g3: NDArray, cols: NDArray) -> NDArray:
    """dW of `conv_nchw` as (O, C*K [+ 1]): the per-sample products g_n (O, L) @ cols_n.T
    (L, C*K [+ 1]) on ember's threads by samples, then their sum over N in one place (the
    same bits for any thread count)."""
    n = g3.shape[0]
    per = _buffers.empty((n, g3.shape[1], cols.shape[1]), np.result_type(g3, cols))

    def part(i: int, j: int) -> None:
        np.matmul(g3[i:j], cols[i:j].transpose(0, 2, 1), out=per[i:j])

    over_threads(part, n, g3.size)
    return per.sum(0)


def conv_path(c: int, kernel: Ints, stride: Ints) -> str:
    """Which im2col layout Convolution uses: "rows" (`conv_rows`), "nchw" (`conv_nchw`, few
    input channels) or "cl" (`conv_cl`, the general one)."""
    if use_rows(c, kernel, stride):
        return "rows"
    return "nchw" if use_nchw(c, kernel) else "cl"


def use_nchw(c: int, kernel: Ints) -> bool:
    """Whether a conv takes the per-sample NCHW path (`conv_nchw`): windows of C*K <= 64
    values, e.g. a first layer on RGB input (27). Its im2col copies runs along W where the
    channels-last one copies runs of C (3 values), and the batched GEMM W @ cols_n writes
    NCHW directly: conv 3->32 on 32x32x32x32 forward 7.0 -> 2.4 ms, dw 8.3 -> 1.8 ms."""
    return c * math.prod(kernel) <= 64


def use_rows(c: int, kernel: Ints, stride: Ints) -> bool:
    """Whether a conv takes the row-im2col path (`conv_rows`): 2-d, stride 1 along H, more
    than one kernel row, and rows of KW*C >= 64 values (below that, e.g. a 3-channel input,
    the K of each GEMM is too short for BLAS and one im2col GEMM is faster)."""
    return len(kernel) == 2 and stride[0] == 1 and kernel[0] > 1 and c * kernel[1] >= 64


_GEMM_ROWS = 1024  # GEMM rows per block: the block's im2col, output and sums stay in cache
_SPLIT_ITEMS = 1 << 16  # output elements below which a conv runs on one thread


def over_threads(fn: Callable[[int, int], None], n: int, work: int) -> None:
    """fn(i, j) over ranges covering [0, n) (samples, or blocks of a dW's GEMM rows), one range
    per ember thread, with NumPy's BLAS at one thread meanwhile (`_blas.single_threaded`): each
    thread runs the copies and GEMMs of its range back to back from its own cache, instead of
    OpenBLAS's threads meeting once per GEMM and ember's once per copy (conv 64->64 forward on
    32x64x16x16 at 2 threads: 10.7 -> 9.6 ms). One range (BLAS threads as they are) below
    `work` = _SPLIT_ITEMS output elements, at one thread, or with a BLAS that ember cannot
    limit. fn must not call parallel_for (the
    pool's workers are busy running fn)."""
    if get_num_threads() > 1 and n > 1 and work >= _SPLIT_ITEMS:
        with _blas.single_threaded() as limited:
            if limited:
                parallel_for(fn, n, 1, 1)
                return
    fn(0, n)


def conv_nchw(x: NDArray, w: NDArray, b: NDArray | None, kernel: Ints, dilation: Ints,
              stride: Ints, lo: Ints, out: Ints,
              alloc: Alloc | None = None) -> tuple[NDArray, NDArray | None]:
    """Convolution by per-sample im2col from NCHW: y (N, O, *out) = W @ cols_n per sample,
    cols (N, C*prod(kernel) [+ 1], prod(out)) with columns ordered (c, *kernel) as
    w.reshape(O, -1), through a zero-bordered padded copy. A bias is one more weight column
    against a row of ones in cols, so the GEMM adds it (and g @ cols.T gives db beside dw).
    cols is returned (for dw) when `alloc` makes it, else kept in per-thread scratch."""
    n, c, o = x.shape[0], x.shape[1], w.shape[0]
    ck, lpos, nd = c * math.prod(kernel), math.prod(out), len(kernel)
    ones = b is not None
    sp = padded_size(x.shape[2:], kernel, dilation, stride, lo, out)
    padded = any(lo) or tuple(sp) != tuple(x.shape[2:])
    xp = (scratch("pad_nchw", (n, c, *sp), x.dtype, True, (lo, x.shape[2:])) if padded
          else x)
    inner = (slice(None), slice(None)) + interior(lo, x.shape[2:])
    view = windows(xp, kernel, dilation, stride, out)  # (N, C, *out, *k)
    view = view.transpose((0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd)))
    cols = alloc((n, ck + ones, lpos), x.dtype) if alloc is not None else None
    wm = w.reshape(o, -1)  # (O, C*K [+ 1])
    if b is not None:
        wm = np.concatenate((wm, b[:, None]), 1)
    y = _buffers.empty((n, o, lpos), np.result_type(x, w))
    sb = max(1, 4 * _GEMM_ROWS // lpos)  # samples per block

    def part(i: int, j: int) -> None:
        for s0 in range(i, j, sb):
            s1 = min(s0 + sb, j)
            if padded:
                np.copyto(xp[s0:s1][inner], x[s0:s1])
            cv = (cols[s0:s1] if cols is not None else
                  scratch("cols_nchw", (sb, ck + ones, lpos), x.dtype)[:s1 - s0])
            np.copyto(cv[:, :ck].reshape(view[s0:s1].shape), view[s0:s1])
            if ones:
                cv[:, ck] = 1
            np.matmul(wm, cv, out=y[s0:s1])  # (O, C*K [+ 1]) @ (C*K [+ 1], L) per sample

    over_threads(part, n, n * o * lpos)
    return y.reshape(n, o, *out), cols


def conv_cl(x: NDArray, w: NDArray, b: NDArray | None, kernel: Ints, dilation: Ints,
            stride: Ints, lo: Ints, out: Ints,
            alloc: Alloc | None = None) -> tuple[NDArray, NDArray | None]:
    """Convolution by im2col in the channels-last GEMM layout (as `unfold_cl`), in blocks of
    samples: pad copy, window copy, GEMM (rows, K*C) @ (K*C, O) (OpenBLAS runs that shape
    1.2-8x faster than (O, C*K) @ (C*K, rows)), bias, copy to NCHW. Returns y (N, O, *out) and
    cols (N*prod(out), prod(kernel)*C) when `alloc` makes it (else per-thread scratch)."""
    n, o, lpos = x.shape[0], w.shape[0], math.prod(out)
    xs = np.moveaxis(x, 1, -1)  # (N, *S, C)
    xp, padded = padded_cl(x, kernel, dilation, stride, lo, out)
    inner = (slice(None),) + interior(lo, x.shape[2:])
    view = windows_cl(xp, kernel, dilation, stride, out)  # (N, *out, *kernel, C)
    cols = alloc(view.shape, x.dtype) if alloc is not None else None
    wm = np.moveaxis(w, 1, -1).reshape(o, -1).T  # (K*C, O), rows in cols' column order
    y = _buffers.empty((n, o, *out), np.result_type(x, w))
    sb = max(1, _GEMM_ROWS // lpos)  # samples per block

    def part(i: int, j: int) -> None:
        for s0 in range(i, j, sb):
            s1 = min(s0 + sb, j)
            if padded:
                np.copyto(xp[s0:s1][inner], xs[s0:s1])
            cv = (cols[s0:s1] if cols is not None else
                  scratch("cols_cl", (sb, *view.shape[1:]), x.dtype)[:s1 - s0])
            np.copyto(cv, view[s0:s1])
            ym = np.matmul(cv.reshape((s1 - s0) * lpos, -1), wm,
                           out=scratch("gemm_cl", (sb * lpos, o), y.dtype)[:(s1 - s0) * lpos])
            if b is not None:
                ym += b
            np.copyto(y[s0:s1], np.moveaxis(ym.reshape(s1 - s0, *out, o), -1, 1))

    over_threads(part, n, n * o * lpos)
    return y, (cols.reshape(n * lpos, -1) if cols is not None else None)


def conv_rows(x: NDArray, w: NDArray, b: NDArray | None, kernel: Ints, dilation: Ints,
              stride: Ints, lo: Ints, out: Ints, alloc: Alloc | None = None,
              rows_first: bool = False) -> tuple[NDArray, NDArray | None]:
    """Convolution (2-d, stride 1 along H) by im2col along W only: cols (Hp, N, OW, KW*C),
    row (hp, n, ow) holding the KW taps (kw, c) of zero-padded input row hp at output column
    ow, so the rows kernel row kh needs for output rows oh are the block cols[oh + kh*dh]: a
    third of the bytes of the full 3x3 im2col (7 MB instead of 19 MB for 32x64x16x16), and
    y = sum over kh of cols[oh + kh*dh] @ W[kh] with W[kh] (KW*C, O), summed in blocks of
    ~1024 rows that stay in cache between their KH GEMMs (14.8 -> 13.7 ms for 32x64x16x16),
    then stored as NCHW. x (N, C, H, W), or with `rows_first` (H, N, W, C) (a gradient
    already in this order). Returns y (N, O, OH, OW) and cols as (Hp*N*OW, KW*C) when
    `alloc` makes it (for `grad_weight_rows`), else None (per-thread scratch)."""
    xt = x if rows_first else x.transpose(2, 0, 3, 1)  # (H, N, W, C)
    n, c, size = xt.shape[1], xt.shape[3], (xt.shape[0], xt.shape[2])
    o, kh, kw = w.shape[0], kernel[0], kernel[1]
    hp, wp = padded_size(size, kernel, dilation, stride, lo, out)
    oh, ow, dh = out[0], out[1], dilation[0]
    xp = scratch("pad_rows", (hp, n, wp, c), x.dtype, True, (lo, size))  # (Hp, N, Wp, C)
    sh, sn, sw, sc = xp.strides
    view = as_strided(xp, (hp, n, ow, kw, c),
                      (sh, sn, sw * stride[1], sw * dilation[1], sc), writeable=False)
    cols = alloc(view.shape, x.dtype) if alloc is not None else None
    wk = np.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(kh, kw * c, o)  # (KH, KW*C, O)
    y = _buffers.empty((n, o, oh, ow), np.result_type(x, w))

    def part(i: int, j: int) -> None:
        m = j - i
        np.copyto(xp[lo[0]:lo[0] + size[0], i:j, lo[1]:lo[1] + size[1]], xt[:, i:j])
        cv = (cols[:, i:j] if cols is not None else
              scratch("cols_rows", (hp, m, ow, kw, c), x.dtype))
        np.copyto(cv, view[:, i:j])
        c3 = cv.reshape(hp, m * ow, kw * c)  # a view: (m, OW) and (KW, C) merge
        ob = max(1, _GEMM_ROWS // (m * ow))  # output rows per block
        acc = scratch("rows_acc", (oh, m * ow, o), y.dtype)
        tmp = scratch("rows_tmp", (min(ob, oh), m * ow, o), y.dtype)
        # all samples (one thread): a block of output rows is one 2-d GEMM, else a batch
        flat = (-1, kw * c) if m == n else (-1, m * ow, kw * c)
        for r0 in range(0, oh, ob):
            r1 = min(r0 + ob, oh)
            a, t = acc[r0:r1], tmp[:r1 - r0]  # (rows, m*OW, O)
            np.matmul(c3[r0:r1].reshape(flat), wk[0], out=a.reshape(-1, o) if m == n else a)
            for k in range(1, kh):
                a += np.matmul(c3[r0 + k * dh:r1 + k * dh].reshape(flat), wk[k],
                               out=t.reshape(-1, o) if m == n else t).reshape(a.shape)
            if b is not None:
                a += b
        # one store of the whole range: per block, its runs of OW values ran ~0.4 ms slower
        np.copyto(y[i:j], acc.reshape(oh, m, ow, o).transpose(1, 3, 0, 2))

    over_threads(part, n, n * o * oh * ow)
    return y, (cols.reshape(hp * n * ow, kw * c) if cols is not None else None)


def grad_rows_first(g: NDArray) -> NDArray:
    """g (N, O, OH, OW) as (OH, N, OW, O), the row order of `unfold_rows` (a scratch array)."""
    n, o, oh, ow = g.shape
    return copy_split(scratch("grad_rows", (oh, n, ow, o), g.dtype), g.transpose(2, 0, 3, 1))


def grad_weight_rows(cols: NDArray, g4: NDArray, shape: Ints, dh: int) -> NDArray:
    """dw (O, C, KH, KW) of `conv_rows`: dW[kh] = cols[kh*dh*N*OW:][:M].T @ gm, one GEMM per
    kernel row, with g4 = `grad_rows_first(g)` (OH, N, OW, O) as gm (OH*N*OW, O)."""
    o, c, kh, kw = shape
    oh, n, ow = g4.shape[0], g4.shape[1], g4.shape[2]
    gm = g4.reshape(-1, o)  # (OH*N*OW, O), cols' row order
    step, m = n * ow, oh * n * ow
    # the sum over rows in blocks of 1024, each block's KH GEMMs in turn, so the rows of cols
    # they share (kernel rows overlap) and the block of gm are read from cache (32x64x16x16:
    # 15.4 -> 14.1 ms, cache flushed before each call)

    def block(r0: int, r1: int, acc: NDArray, first: bool) -> None:
        for i in range(kh):
            a = cols[i * dh * step + r0:i * dh * step + r1].T
            if first:
                np.matmul(a, gm[r0:r1], out=acc[i])
            else:
                acc[i] += np.matmul(a, gm[r0:r1], out=scratch("dw_rows", acc.shape[1:],
                                                              acc.dtype))

    dwk = _sum_row_blocks(m, (kh, kw * c, o), g4.dtype, block)
    return np.ascontiguousarray(dwk.reshape(kh, kw, c, o).transpose(3, 2, 0, 1))  # small
