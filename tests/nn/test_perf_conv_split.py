"""Convolution with its samples split between ember's threads (`over_threads` in
ember.ops.conv_kernels: NumPy's BLAS at one thread meanwhile): the same values as one thread
on every path, forward and gradients (to rounding: OpenBLAS's small-matrix kernels sum in
another order for other row counts), against torch, and NumPy's BLAS threads restored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

import ember
import ember.ops.conv as C
import ember.ops.conv_kernels as K
from ember import _blas

CASES = [  # (input shape, weight shape, conv kwargs, path)
    ((5, 3, 9, 7), (4, 3, 3, 3), {"padding": 1}, "nchw"),
    ((3, 2, 8, 8), (5, 2, 3, 3), {"stride": 2, "padding": (0, 2)}, "nchw"),
    ((5, 8, 9, 7), (6, 8, 3, 3), {"stride": 2, "padding": 1}, "cl"),
    ((3, 72, 6, 5), (4, 72, 1, 1), {}, "cl"),  # 1x1, no padding: no pad copy
    ((4, 12, 7, 9), (3, 12, 2, 3), {"stride": (1, 2), "dilation": (2, 1), "padding": 2}, "cl"),
    ((5, 32, 7, 6), (6, 32, 3, 3), {"padding": 1}, "rows"),
    ((3, 24, 9, 8), (4, 24, 3, 3), {"padding": (2, 0), "stride": (1, 2), "dilation": (2, 1)},
     "rows"),
    ((1, 32, 5, 5), (3, 32, 3, 3), {"padding": 0}, "rows"),  # batch 1, 9 rows: no split
]


@pytest.fixture
def threads() -> Iterator[None]:
    old = ember.get_num_threads()
    yield
    ember.set_num_threads(old)


def _run(lib: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray, g: np.ndarray,
         kw: dict) -> list[np.ndarray]:
    xt, wt, bt = (lib.tensor(a, requires_grad=True) for a in (x, w, b))
    y = lib.nn.functional.conv2d(xt, wt, bt, **kw)
    y.backward(lib.tensor(g))
    with lib.no_grad():
        y0 = lib.nn.functional.conv2d(xt, wt, None, **kw)
    return [y.detach().numpy(), y0.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()]


@pytest.mark.parametrize("xs, ws, kw, path", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_equals_one_thread_and_torch(xs: tuple, ws: tuple, kw: dict, path: str,
                                           dtype: Any, threads: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert C.conv_path(xs[1], ws[2:], (kw.get("stride", 1),) * 2 if isinstance(
        kw.get("stride", 1), int) else kw["stride"]) == path
    rng = np.random.default_rng(1)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in (xs, ws, ws[:1]))
    y_shape = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), **kw).shape
    g = rng.standard_normal(tuple(y_shape)).astype(dtype)
    monkeypatch.setattr(K, "_SPLIT_ITEMS", 0)  # split even these small convs
    monkeypatch.setattr(K, "_GEMM_ROWS", 16)  # several blocks per thread, a partial last one
    calls: list[tuple[int, int]] = []
    par = K.parallel_for
    monkeypatch.setattr(K, "parallel_for", lambda fn, n, grain=1, item_size=1: par(
        lambda i, j: (calls.append((i, j)), fn(i, j))[1], n, grain, item_size))
    got = []
    for t in (1, 3):
        ember.set_num_threads(t)
        got.append(_run(ember, x, w, b, g, kw))
    assert any(i > 0 for i, _ in calls) == (xs[0] > 1 and bool(_blas.thread_setters()))
    ref = _run(torch, x, w, b, g, kw)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    same = 1e-5 if dtype == np.float32 else 1e-12
    for one, three, r in zip(*got, ref, strict=True):
        np.testing.assert_allclose(three, one, rtol=same, atol=same)
        np.testing.assert_allclose(one, r, rtol=tol, atol=tol)


def test_blas_threads_restored(threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """NumPy's BLAS runs at one thread only while a split conv runs, also when it raises."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    if not _blas.thread_setters():
        pytest.skip("NumPy's BLAS is not an OpenBLAS with openblas_set_num_threads_local")
    monkeypatch.setattr(K, "_SPLIT_ITEMS", 0)
    ember.set_num_threads(2)
    with threadpool_limits(2, user_api="blas"):
        seen: list[list[int]] = []

        def part(i: int, j: int) -> None:
            seen.append(blas_threads())
            if i:
                raise ValueError("boom")

        with pytest.raises(ValueError):
            K.over_threads(part, 4, 1)
        assert blas_threads() == [2] * len(blas_threads())
        assert seen and all(s == [1] * len(s) for s in seen)
        x = ember.randn(4, 8, 6, 6)
        ember.nn.functional.conv2d(x, ember.randn(4, 8, 3, 3), padding=1, stride=2)
        assert blas_threads() == [2] * len(blas_threads())


def test_blas_threads_restored_after_concurrent_convs(threads: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Convs from several user threads at once: the BLAS thread count that the first one found
    is back when the last one ends (each does not restore what another one had set)."""
    import threading

    from threadpoolctl import threadpool_info, threadpool_limits

    if not _blas.thread_setters():
        pytest.skip("NumPy's BLAS is not an OpenBLAS with openblas_set_num_threads_local")
    monkeypatch.setattr(K, "_SPLIT_ITEMS", 0)
    ember.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = ember.tensor(rng.standard_normal((4, 32, 8, 8)).astype(np.float32))
    w = ember.tensor(rng.standard_normal((8, 32, 3, 3)).astype(np.float32))
    ref = ember.nn.functional.conv2d(x, w, padding=1).numpy()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                np.testing.assert_allclose(ember.nn.functional.conv2d(x, w, padding=1).numpy(),
                                           ref, rtol=1e-5, atol=1e-5)
        except BaseException as e:  # noqa: BLE001 (re-raised in the main thread)
            errors.append(e)

    with threadpool_limits(2, user_api="blas"):
        users = [threading.Thread(target=work) for _ in range(3)]
        for t in users:
            t.start()
        for t in users:
            t.join()
        assert not errors
        assert all(i["num_threads"] == 2 for i in threadpool_info() if i["user_api"] == "blas")


@pytest.mark.parametrize("groups", [1, 2])
def test_split_channels_last_input_and_groups(groups: int, threads: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels-last inputs (an NCHW view of NHWC memory) and grouped convs, split between
    threads: forward and gradients against torch on the same views."""
    monkeypatch.setattr(K, "_SPLIT_ITEMS", 0)
    monkeypatch.setattr(K, "_GEMM_ROWS", 16)
    ember.set_num_threads(3)
    rng = np.random.default_rng(2)
    nhwc = rng.standard_normal((5, 7, 6, 64)).astype(np.float32)  # (N, H, W, C)
    w = rng.standard_normal((8, 64 // groups, 3, 3)).astype(np.float32)
    res = []
    for lib in (ember, torch):
        x = lib.tensor(nhwc).permute(0, 3, 1, 2)  # (N, C, H, W), channels-last strides
        x.requires_grad_(True)
        wt = lib.tensor(w, requires_grad=True)
        outs = []
        for kw in ({"padding": 1}, {"stride": 2, "padding": 2}):
            y = lib.nn.functional.conv2d(x, wt, groups=groups, **kw)
            gx, gw = lib.autograd.grad((y * y).sum(), [x, wt])
            outs += [y.detach().numpy(), gx.numpy(), gw.numpy()]
        res.append(outs)
    for e, t in zip(*res, strict=True):
        np.testing.assert_allclose(e, t, rtol=2e-4, atol=2e-3)
