"""The fused channels-last Convolution primitive against the composed Unfold + matmul path
(values and every gradient), against torch, and by float64 gradcheck / gradgradcheck."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.nn.functional.conv import _convnd
from ember.ops.conv import FoldCL, UnfoldCL

CASES = [  # (input shape, weight shape, conv kwargs); nd is the weight's spatial rank
    ((2, 3, 7, 6), (4, 3, 3, 3), {"padding": 1}),
    ((2, 3, 7, 6), (4, 3, 3, 3), {"padding": 1, "stride": 2}),
    ((2, 3, 9, 8), (4, 3, 3, 2), {"padding": (2, 0), "stride": (1, 2), "dilation": (2, 1)}),
    ((2, 3, 7, 6), (4, 3, 2, 2), {"padding": "same"}),  # even kernel: right padding wider
    ((2, 3, 7, 6), (4, 3, 3, 3), {"padding": 3}),  # padding > d*(k-1): dx by col2im
    ((2, 3, 7, 6), (5, 3, 1, 1), {}),  # 1x1
    ((2, 3, 11), (4, 3, 3), {"padding": 2, "dilation": 2}),
    ((1, 2, 4, 5, 3), (3, 2, 2, 3, 2), {"padding": 1, "stride": (2, 1, 1)}),
]


def _run(fused: bool, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
         kw: dict[str, Any]) -> tuple[np.ndarray, ...]:
    xe = ember.tensor(x, requires_grad=True)
    we = ember.tensor(w, requires_grad=True)
    be = None if b is None else ember.tensor(b, requires_grad=True)
    kw = {"stride": 1, "padding": 0, "dilation": 1} | kw
    y = _convnd(xe, we, be, kw["stride"], kw["padding"], kw["dilation"], 1, w.ndim - 2, fused)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
    y.backward(ember.tensor(g))
    grads = [t.grad.numpy() for t in (xe, we) + (() if be is None else (be,))]
    return (y.detach().numpy(), *grads)


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("xs, ws, kw", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_fused_matches_composed_and_torch(xs: tuple, ws: tuple, kw: dict, bias: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32) if bias else None
    fused, composed = _run(True, x, w, b, kw), _run(False, x, w, b, kw)
    for f, c in zip(fused, composed, strict=True):
        assert f.dtype == np.float32 and f.flags.c_contiguous
        np.testing.assert_allclose(f, c, rtol=1e-5, atol=1e-5)
    # torch, same inputs and upstream gradient
    tconv = {3: torch.nn.functional.conv1d, 4: torch.nn.functional.conv2d,
             5: torch.nn.functional.conv3d}[len(xs)]
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    yt = tconv(xt, wt, bt, **kw)
    yt.backward(torch.tensor(np.random.default_rng(1).standard_normal(yt.shape)
                             .astype(np.float32)))
    ref = [yt, xt.grad, wt.grad] + ([] if bt is None else [bt.grad])
    for f, t in zip(fused, ref, strict=True):
        np.testing.assert_allclose(f, t.detach().numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kw", [{"padding": 1}, {"padding": 1, "stride": 2},
                                {"padding": (0, 2), "dilation": (1, 2)}])
def test_fused_gradcheck_and_double_backward_float64(kw: dict) -> None:
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.standard_normal((2, 2, 4, 5)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((3, 2, 2, 3)), requires_grad=True)
    b = ember.tensor(rng.standard_normal(3), requires_grad=True)
    conv = ember.nn.functional.conv2d
    assert gradcheck(lambda a, c, d: conv(a, c, d, **kw), (x, w, b))
    small_x = ember.tensor(rng.standard_normal((1, 2, 3, 3)), requires_grad=True)
    small_w = ember.tensor(rng.standard_normal((2, 2, 2, 2)), requires_grad=True)
    assert gradgradcheck(lambda a, c: conv(a, c, **kw), (small_x, small_w))


def test_fused_grad_fn_name_and_dtype_errors_as_torch() -> None:
    x = ember.randn(1, 2, 5, 5, requires_grad=True)
    w = ember.randn(3, 2, 3, 3)
    assert ember.nn.functional.conv2d(x, w).grad_fn.name() == "ConvolutionBackward0"
    with pytest.raises(RuntimeError, match="expected scalar type Double but found Float"):
        ember.nn.functional.conv2d(x.double(), w)
    with pytest.raises(RuntimeError, match=r"Input type \(float\) and bias type \(double\)"):
        ember.nn.functional.conv2d(x, w, ember.zeros(3, dtype=ember.float64))


def test_channels_last_unfold_fold_are_adjoint() -> None:
    rng = np.random.default_rng(0)
    args = ((3, 2), (2, 1), (1, 2), (2, 1), (5, 3))  # kernel, dilation, stride, lo, out
    x = rng.standard_normal((2, 3, 5, 6))
    c = rng.standard_normal((2 * 15, 6 * 3))
    ux = UnfoldCL.apply(ember.tensor(x), *args).numpy()
    fc = FoldCL.apply(ember.tensor(c), (5, 6), *args).numpy()
    np.testing.assert_allclose((ux * c).sum(), (x * fc).sum(), rtol=1e-12)
    assert gradgradcheck(lambda t: UnfoldCL.apply(t * t, *args),
                         (ember.tensor(x[:1, :1], requires_grad=True),))


@pytest.mark.parametrize("kw", [{}, {"padding": 1}, {"padding": (2, 1), "dilation": (2, 1)}])
def test_stride1_conv_transpose_as_convolution_matches_composed_and_torch(kw: dict) -> None:
    # groups=1, stride 1 runs as a fused Convolution; groups=2 of the same weights takes the
    # composed GEMM + Fold path, so summing two groups' worth checks one against the other
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 3, 3, 2)), \
        rng.standard_normal(3)
    outs = []
    for lib in (ember, torch):
        xt = lib.tensor(x, requires_grad=True)
        wt, bt = lib.tensor(w, requires_grad=True), lib.tensor(b, requires_grad=True)
        y = lib.nn.functional.conv_transpose2d(xt, wt, bt, **kw)
        (y * y).sum().backward()
        outs.append([a.detach().numpy() for a in (y, xt.grad, wt.grad, bt.grad)])
    for e, t in zip(*outs, strict=True):
        np.testing.assert_allclose(e, t, rtol=1e-10, atol=1e-10)
    xe = ember.tensor(x, requires_grad=True)
    we = ember.tensor(w, requires_grad=True)
    conv_t = ember.nn.functional.conv_transpose2d
    assert conv_t(xe, we, **kw).grad_fn.name() == "ConvolutionBackward0"
    composed = conv_t(ember.cat([xe, xe], 1), ember.cat([we, we], 0), groups=2, **kw)
    fused = conv_t(xe, we, **kw)
    np.testing.assert_allclose(composed[:, :3].detach().numpy(), fused.detach().numpy(),
                               rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda a, c: conv_t(a, c, **kw),
                     (ember.tensor(x[:1, :2, :3, :3], requires_grad=True),
                      ember.tensor(w[:2, :2], requires_grad=True)))
