"""The blocked, threaded batch-norm primitives (ember.ops.batch_norm) against the composed
formula and torch: values, gradients, running stats, thread splits, eval mode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import ember
import ember.ops.batch_norm as B
from ember.autograd.gradcheck import gradcheck, gradgradcheck

R = np.random.default_rng(7)


def _composed(x: ember.Tensor, w: ember.Tensor | None, b: ember.Tensor | None) -> ember.Tensor:
    dims = (0, *range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mean = x.mean(dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dims, keepdim=True)
    out = (x - mean) / ember.sqrt(var + 1e-5)
    if w is not None:
        out = out * w.reshape(shape)
    return out if b is None else out + b.reshape(shape)


def _run(fn: Callable[..., ember.Tensor], x0: np.ndarray, w0: np.ndarray | None,
         b0: np.ndarray | None, cot: np.ndarray) -> list[np.ndarray]:
    x = ember.tensor(x0, requires_grad=True)
    w = None if w0 is None else ember.tensor(w0, requires_grad=True)
    b = None if b0 is None else ember.tensor(b0, requires_grad=True)
    out = fn(x, w, b)
    ins = [t for t in (x, w, b) if t is not None]
    grads = ember.autograd.grad((out * ember.tensor(cot)).sum(), ins)
    return [out.detach().numpy(), *[g.numpy() for g in grads]]


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (2, 5, 7), (6, 4), (3, 2, 2, 3, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_train_matches_composed_float64(shape: tuple[int, ...], affine: bool) -> None:
    c = shape[1]
    x0 = R.standard_normal(shape) * 3 + 2
    w0 = R.standard_normal(c) if affine else None
    b0 = R.standard_normal(c) if affine else None
    cot = R.standard_normal(shape)
    fused = _run(lambda x, w, b: ember.nn.functional.batch_norm(x, None, None, w, b, True),
                 x0, w0, b0, cot)
    ref = _run(_composed, x0, w0, b0, cot)
    assert len(fused) == len(ref)
    for f, r in zip(fused, ref, strict=True):
        np.testing.assert_allclose(f, r, rtol=1e-9, atol=1e-10)


def test_train_float32_vs_torch_with_running_stats() -> None:
    """The benchmark's shape class (several blocks per thread range) against torch."""
    x0 = R.standard_normal((32, 16, 12, 12)).astype(np.float32) * 2 + 1
    w0, b0 = R.standard_normal(16).astype(np.float32), R.standard_normal(16).astype(np.float32)
    g0 = R.standard_normal(x0.shape).astype(np.float32)
    res = []
    for lib in (ember, torch):
        x = lib.tensor(x0, requires_grad=True)
        w, b = lib.tensor(w0, requires_grad=True), lib.tensor(b0, requires_grad=True)
        rm, rv = lib.zeros(16), lib.ones(16)
        out = lib.nn.functional.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2)
        out.backward(lib.tensor(g0))
        res.append([t.detach().numpy() for t in (out, x.grad, w.grad, b.grad, rm, rv)])
    for e, t in zip(*res, strict=True):
        np.testing.assert_allclose(e, t, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_split_is_bit_identical(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of one sample and ranges over threads give the same bits as one block."""
    x0 = R.standard_normal((7, 3, 40)).astype(np.float32)
    w0, b0 = R.standard_normal(3).astype(np.float32), R.standard_normal(3).astype(np.float32)
    cot = R.standard_normal(x0.shape).astype(np.float32)

    def bn(x: ember.Tensor, w: ember.Tensor | None, b: ember.Tensor | None) -> ember.Tensor:
        return ember.nn.functional.batch_norm(x, None, None, w, b, True)

    ref = _run(bn, x0, w0, b0, cot)
    old = ember.get_num_threads()
    monkeypatch.setattr(B, "_BLOCK_BYTES", 1)  # one sample per block
    monkeypatch.setattr(B, "_GRAIN_ITEMS", 1)  # split even this small batch
    try:
        ember.set_num_threads(threads)
        split = _run(bn, x0, w0, b0, cot)
    finally:
        ember.set_num_threads(old)
    for s, r in zip(split, ref, strict=True):
        np.testing.assert_array_equal(s, r)


def test_gradcheck_float64_and_second_order() -> None:
    x = ember.tensor(R.standard_normal((3, 2, 4)), requires_grad=True)
    w = ember.tensor(R.standard_normal(2), requires_grad=True)
    b = ember.tensor(R.standard_normal(2), requires_grad=True)

    def f(x: ember.Tensor, w: ember.Tensor, b: ember.Tensor) -> ember.Tensor:
        return ember.nn.functional.batch_norm(x, None, None, w, b, True)

    assert gradcheck(f, (x, w, b))
    assert gradgradcheck(f, (x, w, b))


def test_non_contiguous_input() -> None:
    base = R.standard_normal((5, 4, 6, 3))
    cot = R.standard_normal((5, 3, 6, 4))
    fused = _run(lambda x, w, b: ember.nn.functional.batch_norm(
        x.permute(0, 3, 2, 1), None, None, w, b, True), base, np.ones(3), np.zeros(3), cot)
    ref = _run(lambda x, w, b: _composed(x.permute(0, 3, 2, 1), w, b), base, np.ones(3),
               np.zeros(3), cot)
    for f, r in zip(fused, ref, strict=True):
        np.testing.assert_allclose(f, r, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eval_scale_shift_vs_torch_and_grads(dtype: type) -> None:
    x0 = R.standard_normal((6, 3, 5, 4)).astype(dtype)
    w0, b0 = R.standard_normal(3).astype(dtype), R.standard_normal(3).astype(dtype)
    rm0, rv0 = R.standard_normal(3).astype(dtype), (R.random(3) + 0.5).astype(dtype)
    g0 = R.standard_normal(x0.shape).astype(dtype)
    res = []
    for lib in (ember, torch):
        x = lib.tensor(x0, requires_grad=True)
        w, b = lib.tensor(w0, requires_grad=True), lib.tensor(b0, requires_grad=True)
        out = lib.nn.functional.batch_norm(x, lib.tensor(rm0), lib.tensor(rv0), w, b)
        out.backward(lib.tensor(g0))
        res.append([t.detach().numpy() for t in (out, x.grad, w.grad, b.grad)])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for e, t in zip(*res, strict=True):
        np.testing.assert_allclose(e, t, rtol=tol, atol=tol)
    x = ember.tensor(x0.astype(np.float64), requires_grad=True)
    s = ember.tensor(R.standard_normal(3), requires_grad=True)
    h = ember.tensor(R.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda x, s, h: B.ScaleShift.apply(x, s, h), (x, s, h))


def test_pooled_outputs_never_alias_live_results() -> None:
    """Outputs and gradients come from pooled buffers (ember._buffers): results still held,
    as Tensors or as NumPy arrays, keep their values through later calls of the same shapes."""
    shape = (16, 8, 32, 32)  # 512 KiB float32: pooled
    held = []
    for i in range(4):
        x = ember.tensor(R.standard_normal(shape).astype(np.float32), requires_grad=True)
        w, b = ember.ones(8, requires_grad=True), ember.zeros(8, requires_grad=True)
        out = ember.nn.functional.batch_norm(x, None, None, w, b, True)
        out.backward(ember.ones_like(out) * float(i + 1))
        ev = ember.nn.functional.batch_norm(x.detach(), ember.zeros(8), ember.ones(8) * (i + 1))
        arrays = [out.detach().numpy(), x.grad.numpy(), ev.numpy()]
        held.append((arrays, [a.copy() for a in arrays]))
        del out, ev, x
    for arrays, snaps in held:
        for a, s in zip(arrays, snaps, strict=True):
            np.testing.assert_array_equal(a, s)
    assert not np.array_equal(held[0][1][2], held[1][1][2])


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eval_without_grad_same_bits_as_recorded(affine: bool, dtype: type) -> None:
    """Eval batch norm with nothing to record computes scale and shift on the arrays: the
    same bits as the recorded path (parameters requiring grad) and torch's values."""
    x0 = R.standard_normal((3, 4, 5, 2)).astype(dtype)
    w0, b0 = R.standard_normal(4).astype(dtype), R.standard_normal(4).astype(dtype)
    rm0, rv0 = R.standard_normal(4).astype(dtype), (R.random(4) + 0.5).astype(dtype)
    outs = []
    for grad in (False, True):
        w = ember.tensor(w0, requires_grad=grad) if affine else None
        b = ember.tensor(b0, requires_grad=grad) if affine else None
        out = ember.nn.functional.batch_norm(ember.tensor(x0), ember.tensor(rm0),
                                             ember.tensor(rv0), w, b, eps=1e-3)
        assert out.requires_grad == (grad and affine)
        outs.append(out.detach().numpy())
    np.testing.assert_array_equal(outs[0], outs[1])
    with ember.no_grad():  # parameters requiring grad, nothing recorded: the array path
        w = ember.tensor(w0, requires_grad=True) if affine else None
        out = ember.nn.functional.batch_norm(ember.tensor(x0), ember.tensor(rm0),
                                             ember.tensor(rv0), w, None, eps=1e-3)
    ref = torch.nn.functional.batch_norm(
        torch.tensor(x0), torch.tensor(rm0), torch.tensor(rv0),
        torch.tensor(w0) if affine else None, None, eps=1e-3)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=tol, atol=tol)
    assert not out.requires_grad
