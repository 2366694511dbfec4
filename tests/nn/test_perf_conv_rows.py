"""Convolution's paths (ember.ops.conv_kernels: the row im2col for 2-d, stride 1 along H,
KW*C >= 64; the per-sample NCHW one for C*K <= 64; col2im by per-offset GEMMs) against the
composed Unfold + matmul path, torch and float64 gradcheck, and their memory reuse."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import ember
import ember.ops.conv as C
import ember.ops.conv_kernels as K
from ember.autograd import gradcheck, gradgradcheck
from tests.nn.test_conv_fused import CASES as FUSED_CASES
from tests.nn.test_conv_fused import test_fused_matches_composed_and_torch as _check

CASES = [  # (input shape, weight shape, conv kwargs), every one on the row path
    ((2, 32, 7, 6), (5, 32, 3, 3), {"padding": 1}),
    ((2, 32, 9, 8), (4, 32, 3, 2), {"padding": (2, 0), "stride": (1, 2), "dilation": (2, 1)}),
    ((2, 32, 7, 6), (4, 32, 2, 2), {"padding": "same"}),  # even kernel: right padding wider
    ((2, 32, 7, 6), (4, 32, 3, 3), {"padding": 3}),  # padding > d*(k-1): dx by col2im
    ((3, 64, 5, 4), (6, 64, 3, 1), {"padding": (1, 0)}),
    ((1, 24, 6, 7), (3, 24, 4, 3), {"stride": (1, 3), "padding": (0, 1)}),
]


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("xs, ws, kw", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_rows_match_composed_and_torch(xs: tuple, ws: tuple, kw: dict, bias: bool) -> None:
    stride = kw.get("stride", 1)
    assert C.use_rows(xs[1], ws[2:], (stride, 1) if isinstance(stride, int) else stride)
    _check(xs, ws, kw, bias)


def test_rows_not_taken_for_short_rows_or_strided_h() -> None:
    assert not C.use_rows(3, (3, 3), (1, 1))  # K of 9: one im2col GEMM is faster
    assert not C.use_rows(64, (3, 3), (2, 2))
    assert not C.use_rows(64, (1, 3), (1, 1))
    assert not C.use_rows(64, (3,), (1,))


def _grads(x: np.ndarray, w: np.ndarray, create_graph: bool, kw: dict[str, Any],
           rows: bool, monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    if not rows:
        monkeypatch.setattr(C, "conv_path", lambda *a: "cl")
    xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    y = ember.nn.functional.conv2d(xe, we, **kw)
    gx, gw = ember.autograd.grad((y * y).sum(), [xe, we], create_graph=create_graph)
    monkeypatch.undo()
    return [y.detach().numpy(), gx.detach().numpy(), gw.detach().numpy()]


@pytest.mark.parametrize("kw", [{"padding": 1}, {"padding": (0, 2), "dilation": (1, 2)}])
def test_rows_equal_channels_last_path_float64(kw: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The row path against the one-GEMM channels-last path, with and without create_graph
    (which recomputes the im2col through UnfoldCL)."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((3, 32, 6, 7)), rng.standard_normal((4, 32, 3, 3))
    ref = _grads(x, w, False, kw, False, monkeypatch)
    for create_graph in (False, True):
        got = _grads(x, w, create_graph, kw, True, monkeypatch)
        for g, r in zip(got, ref, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-11, atol=1e-11)


def test_rows_gradcheck_float64() -> None:
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.standard_normal((1, 22, 3, 3)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((1, 22, 2, 3)), requires_grad=True)
    b = ember.tensor(rng.standard_normal(1), requires_grad=True)
    conv = ember.nn.functional.conv2d
    assert C.use_rows(22, (2, 3), (1, 1))
    assert gradcheck(lambda a, c, d: conv(a, c, d, padding=1), (x, w, b))
    assert gradgradcheck(lambda a, c: conv(a, c, padding=(1, 0)), (x, w))


@pytest.mark.parametrize("kw", [{"padding": 1}, {"padding": 1, "stride": 2}])
@pytest.mark.parametrize("channels", [3, 32])
def test_scratch_arrays_never_alias_results(kw: dict, channels: int) -> None:
    """Outputs and gradients of one call stay as they were after later calls of the same
    shapes (which reuse the scratch arrays: padded inputs, im2col, GEMM outputs, col2im)."""
    rng = np.random.default_rng(5)
    w = ember.tensor(rng.standard_normal((4, channels, 3, 3)), requires_grad=True)
    results = []
    for i in range(3):
        x = ember.tensor(rng.standard_normal((2, channels, 6, 5)), requires_grad=True)
        with ember.no_grad():
            y0 = ember.nn.functional.conv2d(x, w, **kw)
        y = ember.nn.functional.conv2d(x, w, **kw)
        gx, gw = ember.autograd.grad((y * y).sum(), [x, w])
        results.append([a.detach().numpy() for a in (y0, y, gx, gw)]
                       + [a.detach().numpy().copy() for a in (y0, y, gx, gw)])
    for r in results:
        for live, snap in zip(r[:4], r[4:], strict=True):
            np.testing.assert_array_equal(live, snap)
    np.testing.assert_array_equal(results[-1][0], results[-1][1])
    assert not np.array_equal(results[0][0], results[1][0])


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("path", ["cl", "nchw"])
@pytest.mark.parametrize("case", range(len(FUSED_CASES)))
def test_each_path_matches_composed_and_torch(path: str, case: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The small cases of test_conv_fused (C*K <= 64 take the NCHW path by default) forced
    through the channels-last path, and through the NCHW path."""
    monkeypatch.setattr(C, "conv_path", lambda *a: path)
    xs, ws, kw = FUSED_CASES[case]
    for bias in (True, False):
        _check(xs, ws, kw, bias)


def test_path_choice() -> None:
    assert C.conv_path(3, (3, 3), (1, 1)) == "nchw"  # RGB input: K*C = 27
    assert C.conv_path(64, (3, 3), (1, 1)) == "rows"
    assert C.conv_path(32, (3, 3), (2, 2)) == "cl"


def test_grad_input_taps_equals_fold_cl_and_splits_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """dx of a strided conv by per-offset GEMMs + contiguous adds: the same sums as FoldCL of
    g @ W, and the same bits when the samples are split between threads."""
    rng = np.random.default_rng(2)
    g, w = rng.standard_normal((5, 6, 4, 3)), rng.standard_normal((6, 4, 3, 2))
    args = ((8, 7), (3, 2), (1, 2), (2, 3), (1, 1), (4, 3))  # size, kernel, dil, stride, lo, out
    got = C.grad_input_taps(g, w, *args)
    gm = ember.tensor(np.moveaxis(g, 1, -1).reshape(-1, 6))
    wm = ember.tensor(np.moveaxis(w, 1, -1).reshape(6, -1))
    ref = C.FoldCL.apply(gm @ wm, *args).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    old, par = ember.get_num_threads(), K.parallel_for
    monkeypatch.setattr(K, "parallel_for", lambda fn, n, grain=1, item_size=1: par(fn, n, 1))
    try:
        ember.set_num_threads(3)
        np.testing.assert_array_equal(C.grad_input_taps(g, w, *args), got)
    finally:
        ember.set_num_threads(old)


@pytest.mark.parametrize("channels", [3, 32])
def test_saved_im2col_recycled_only_after_its_graph_dies(channels: int) -> None:
    """A later step reuses the im2col saved by a graph that has been freed; graphs alive at
    the same time (or kept with retain_graph) keep their own."""
    import gc

    rng = np.random.default_rng(9)
    w = ember.tensor(rng.standard_normal((4, channels, 3, 3)), requires_grad=True)
    xs = [ember.tensor(rng.standard_normal((2, channels, 6, 5))) for _ in range(3)]

    def ref_dw(x: ember.Tensor) -> np.ndarray:
        wt = torch.tensor(w.detach().numpy(), requires_grad=True)
        torch.nn.functional.conv2d(torch.tensor(x.numpy()), wt, padding=1).pow(2).sum().backward()
        return wt.grad.numpy()

    def dw(loss: ember.Tensor, **kw: Any) -> np.ndarray:
        return ember.autograd.grad(loss, [w], **kw)[0].numpy()

    def loss(x: ember.Tensor) -> ember.Tensor:
        return (ember.nn.functional.conv2d(x, w, padding=1) ** 2).sum()

    kept = loss(xs[0])
    first = dw(kept, retain_graph=True)
    for x in xs[1:]:  # kept's graph alive: its im2col is not handed out
        np.testing.assert_allclose(dw(loss(x)), ref_dw(x), rtol=1e-10)
        gc.collect()
    np.testing.assert_allclose(dw(kept), first, rtol=0, atol=0)
    np.testing.assert_allclose(first, ref_dw(xs[0]), rtol=1e-10)
    del kept
    gc.collect()
    a, b = loss(xs[1]), loss(xs[2])  # the first may reuse the freed array; b is distinct
    np.testing.assert_allclose(dw(b), ref_dw(xs[2]), rtol=1e-10)
    np.testing.assert_allclose(dw(a), ref_dw(xs[1]), rtol=1e-10)


def test_rows_one_thread_blocks_match_torch() -> None:
    """At one thread the row path sums its GEMMs in blocks of 1024 output rows (here 1400
    rows: a partial last block): the forward, dx (the same blocked GEMMs) and dw (blocks of
    rows summed per kernel row) against torch and against the unblocked sums of 2 threads."""
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((5, 24, 14, 20)), rng.standard_normal((3, 24, 3, 3))
    g = rng.standard_normal((5, 3, 14, 20))
    old = ember.get_num_threads()
    got = []
    try:
        for threads in (1, 2):
            ember.set_num_threads(threads)
            xt, wt = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
            y = ember.nn.functional.conv2d(xt, wt, padding=1)
            y.backward(ember.tensor(g))
            got.append([y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()])
    finally:
        ember.set_num_threads(old)
    xr, wr = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yr = torch.nn.functional.conv2d(xr, wr, padding=1)
    yr.backward(torch.tensor(g))
    for one, two, ref in zip(*got, [yr.detach().numpy(), xr.grad.numpy(), wr.grad.numpy()],
                             strict=True):
        np.testing.assert_allclose(one, ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(one, two, rtol=1e-12, atol=1e-12)
    assert C.use_rows(24, (3, 3), (1, 1)) and 14 * 5 * 20 > 1024


@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, True)])
def test_nchw_bias_in_gemm_vs_torch(needs: tuple[bool, bool]) -> None:
    """The NCHW path adds the bias inside the GEMM (a ones row in the im2col) and takes db from
    the dw GEMM; with only one of w, b requiring grad, and without grad (scratch im2col)."""
    rng = np.random.default_rng(5)
    x, w, b = (rng.standard_normal(s) for s in ((3, 3, 9, 7), (5, 3, 3, 3), (5,)))
    g = rng.standard_normal((3, 5, 5, 5))
    assert C.conv_path(3, (3, 3), (2, 2)) == "nchw"
    res = []
    for lib in (ember, torch):
        wt, bt = lib.tensor(w, requires_grad=needs[0]), lib.tensor(b, requires_grad=needs[1])
        y = lib.nn.functional.conv2d(lib.tensor(x), wt, bt, stride=2, padding=(1, 2))
        y.backward(lib.tensor(g))
        with lib.no_grad():
            y2 = lib.nn.functional.conv2d(lib.tensor(x), wt, None, stride=2, padding=(1, 2))
        res.append([y.detach().numpy(), y2.numpy()]
                   + [t.grad.numpy() for t, need in zip((wt, bt), needs, strict=True) if need])
    for e, t in zip(*res, strict=True):
        np.testing.assert_allclose(e, t, rtol=1e-10, atol=1e-12)
