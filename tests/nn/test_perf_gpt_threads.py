"""perf-gpt's threaded kernels (gelu, attention, layer_norm, ...) give the same results with 1
and with several of ember's threads, and match the composed references."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

import ember

F = ember.nn.functional
R = np.random.default_rng(7)


@pytest.fixture
def restore_threads() -> Iterator[None]:
    n = ember.get_num_threads()
    yield
    ember.set_num_threads(n)


def _run(fn: Callable[..., ember.Tensor], arrays: list[np.ndarray], g: np.ndarray,
         threads: int) -> list[np.ndarray]:
    """fn's output and the gradients of <fn(*arrays), g> with `threads` ember threads."""
    ember.set_num_threads(threads)
    ts = [ember.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(ember.tensor(g))
    return [out.detach().numpy()] + [t.grad.numpy() for t in ts]


def _same_across_threads(fn: Callable[..., ember.Tensor], arrays: list[np.ndarray],
                         g: np.ndarray) -> list[np.ndarray]:
    one = _run(fn, arrays, g, 1)
    for threads in (2, 3):
        for a, b in zip(one, _run(fn, arrays, g, threads)):
            np.testing.assert_array_equal(a, b)  # bit-identical: the split is along rows
    return one


def test_gelu_threads_bit_identical(restore_threads: None) -> None:
    # > 2 threads' grain and an odd size: ranges that end inside a cache block
    from ember.nn.functional.activation import _GRAIN, _gelu_composed

    x = (R.standard_normal(3 * _GRAIN + 4099) * 4).astype(np.float32)
    g = R.standard_normal(x.shape).astype(np.float32)
    y, dx = _same_across_threads(F.gelu, [x], g)
    ref = _run(lambda t: _gelu_composed(t, "none"), [x], g, 1)
    np.testing.assert_allclose(y, ref[0], rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(dx, ref[1], rtol=1e-6, atol=2e-6)


def _sdpa_ref(q: ember.Tensor, k: ember.Tensor, v: ember.Tensor, mask: ember.Tensor | None,
              causal: bool) -> ember.Tensor:
    from ember.nn.functional.attention import _sdpa_composed

    return _sdpa_composed(q, k, v, mask, 0.0, causal, 1.0 / q.shape[-1] ** 0.5)


@pytest.mark.parametrize("shapes", [
    ((12, 3, 70, 16), (12, 3, 70, 16), (12, 3, 70, 8), None),  # the GPT case: causal
    ((12, 3, 70, 16), (1, 3, 50, 16), (12, 1, 50, 8), (12, 1, 70, 50)),  # broadcasts
    ((6, 70, 16), (6, 50, 16), (6, 50, 8), (2, 1, 70, 50)),  # the mask adds a batch dim
])
def test_attention_threads_bit_identical(shapes, restore_threads: None) -> None:  # type: ignore[no-untyped-def]
    sq, sk, sv, sm = shapes
    q, k, v = (R.standard_normal(s).astype(np.float32) for s in (sq, sk, sv))
    causal = sm is None
    arrays = [q, k, v] + ([] if causal else [R.standard_normal(sm).astype(np.float32)])
    out_shape = np.broadcast_shapes(sq[:-2], sk[:-2], sv[:-2], () if causal else sm[:-2])
    g = R.standard_normal(out_shape + (sq[-2], sv[-1])).astype(np.float32)

    def fused(q: ember.Tensor, k: ember.Tensor, v: ember.Tensor,
              m: ember.Tensor | None = None) -> ember.Tensor:
        out = F.scaled_dot_product_attention(q, k, v, m, is_causal=causal)
        assert out.grad_fn.fn.__name__ == "_Attention"
        return out

    got = _same_across_threads(fused, arrays, g)
    ref = _run(lambda q, k, v, m=None: _sdpa_ref(q, k, v, m, causal), arrays, g, 1)
    for a, b in zip(got, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape,k,affine", [
    ((5, 231, 128), 1, True),  # several blocks of rows and a partial last one
    ((700, 3, 40), 2, False),  # two normalized dims, no weight or bias
    ((3, 8), 1, True),  # one small block
])
def test_layer_norm_threads_bit_identical(shape, k, affine, restore_threads: None,  # type: ignore[no-untyped-def]
                                          monkeypatch) -> None:
    from ember.nn.functional import normalization
    from ember.nn.functional.normalization import _layer_norm_composed

    monkeypatch.setattr(normalization, "_LN_GRAIN", 1 << 14)  # split these small inputs

    x = (R.standard_normal(shape) * 3 + 1).astype(np.float32)
    ns = shape[len(shape) - k:]
    arrays = [x] + ([R.standard_normal(ns).astype(np.float32) for _ in range(2)] if affine
                    else [])
    g = R.standard_normal(shape).astype(np.float32)

    def fused(x: ember.Tensor, w: ember.Tensor | None = None,
              b: ember.Tensor | None = None) -> ember.Tensor:
        out = F.layer_norm(x, ns, w, b)
        assert out.grad_fn.fn.__name__ == "_LayerNorm"
        return out

    got = _same_across_threads(fused, arrays, g)
    ref = _run(lambda x, w=None, b=None: _layer_norm_composed(x, k, w, b, 1e-5), arrays, g, 1)
    for a, b in zip(got, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_layer_norm_gradcheck_float64_and_only_bias() -> None:
    x = ember.tensor(R.standard_normal((4, 3, 5)), requires_grad=True)
    w = ember.tensor(R.standard_normal((3, 5)), requires_grad=True)
    b = ember.tensor(R.standard_normal((3, 5)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, w, b: F.layer_norm(x, (3, 5), w, b), (x, w, b))
    # a bias that needs grad where x and the weight do not: db alone, of b's shape
    b.grad = None
    F.layer_norm(x.detach(), (3, 5), w.detach(), b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), np.full((3, 5), 4.0))


def test_layer_norm_empty_input_falls_back() -> None:
    x = ember.zeros(0, 6, requires_grad=True)
    out = F.layer_norm(x, (6,))
    assert tuple(out.shape) == (0, 6)
    out.sum().backward()
    assert tuple(x.grad.shape) == (0, 6)


@pytest.mark.parametrize("causal", [True, False])
def test_attention_large_scores_take_the_row_max_path(causal: bool,
                                                      restore_threads: None) -> None:
    """Items whose scores reach +-_EXP_SAFE subtract the row max (exp would overflow), the
    others skip it; mixed in one batch, any thread split gives the same bits."""
    q = R.standard_normal((12, 2, 40, 8)).astype(np.float32)
    q[3] *= 400.0  # scores of item 3 far beyond exp's range
    q[7, 1] *= -400.0
    k = R.standard_normal((12, 2, 40, 8)).astype(np.float32)
    v = R.standard_normal((12, 2, 40, 8)).astype(np.float32)
    g = R.standard_normal((12, 2, 40, 8)).astype(np.float32)

    def fused(q: ember.Tensor, k: ember.Tensor, v: ember.Tensor) -> ember.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    got = _same_across_threads(fused, [q, k, v], g)
    assert np.isfinite(got[0]).all()
    ref = _run(lambda q, k, v: _sdpa_ref(q, k, v, None, causal), [q, k, v], g, 1)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_threads_bit_identical_and_torch(amsgrad: bool, restore_threads: None) -> None:
    import torch

    from ember.optim.adam import _GRAIN

    p0 = R.standard_normal(3 * _GRAIN + 17).astype(np.float32)  # split into ranges
    small = R.standard_normal((3, 4)).astype(np.float32)  # one range
    grads = [(R.standard_normal(p0.shape).astype(np.float32),
              R.standard_normal(small.shape).astype(np.float32)) for _ in range(3)]

    def run(lib, threads: int) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
        if lib is ember:
            ember.set_num_threads(threads)
        params = [lib.tensor(p0.copy(), requires_grad=True),
                  lib.tensor(small.copy(), requires_grad=True)]
        opt = lib.optim.AdamW(params, lr=0.01, amsgrad=amsgrad)
        for gs in grads:
            for p, g in zip(params, gs):
                p.grad = lib.tensor(g)
            opt.step()
        return [p.detach().numpy() for p in params]

    one, two = run(ember, 1), run(ember, 2)
    for a, b, c in zip(one, two, run(torch, 1)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-7)
