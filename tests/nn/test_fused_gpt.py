"""The fused GPT-path primitives (gelu, scaled_dot_product_attention, embedding backward,
AdamW) against their composed references and torch, incl. gradients and float64 gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.nn.functional.activation import _gelu_composed
from tests.helpers import check

F = ember.nn.functional
R = np.random.default_rng(0)


def _grads(fn, x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """fn's output and the gradient of <fn(x), g> wrt x, on ember."""
    t = ember.tensor(x, requires_grad=True)
    out = fn(t)
    out.backward(ember.tensor(g))
    return out.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_fused_matches_composed(approximate: str, dtype: type) -> None:
    # values across both tails, where the float32 cdf fit must keep relative digits
    x = np.concatenate([R.standard_normal(200) * 4, [-12.0, -6.0, -1e-3, 0.0, 1e-3, 6.0, 12.0]])
    x = x.astype(dtype)
    g = R.standard_normal(x.shape).astype(dtype)
    y, dx = _grads(lambda t: F.gelu(t, approximate=approximate), x, g)
    y_ref, dx_ref = _grads(lambda t: _gelu_composed(t, approximate), x, g)
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-14}
    np.testing.assert_allclose(y, y_ref, **tol)
    np.testing.assert_allclose(dx, dx_ref, **tol)
    assert F.gelu(ember.tensor(x), approximate=approximate).numpy().dtype == y_ref.dtype


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_fused_vs_torch(approximate: str, dtype: type) -> None:
    check(lambda lib, a: lib.nn.functional.gelu(a, approximate=approximate),
          (R.standard_normal((4, 33)) * 3).astype(dtype))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_fused_gradcheck_float64(approximate: str) -> None:
    x = ember.tensor(R.standard_normal((3, 5)) * 2, requires_grad=True)
    fn = lambda t: F.gelu(t, approximate=approximate)  # noqa: E731
    assert ember.autograd.gradcheck(fn, (x,))
    assert ember.autograd.gradgradcheck(fn, (x,))


def test_gelu_no_grad_and_float16_use_the_right_path() -> None:
    x = R.standard_normal((6,)).astype(np.float32)
    with ember.no_grad():
        y = F.gelu(ember.tensor(x, requires_grad=True))
    assert y.grad_fn is None
    np.testing.assert_allclose(y.numpy(), torch.nn.functional.gelu(torch.tensor(x)).numpy(),
                               rtol=1e-6, atol=1e-7)
    h = F.gelu(ember.tensor(x).half())
    assert h.dtype == ember.float16


def _sdpa_inputs(dtype: type, lq: int = 5, lk: int = 7) -> list[np.ndarray]:
    return [R.standard_normal(s).astype(dtype) for s in ((2, 3, lq, 4), (2, 3, lk, 4),
                                                        (2, 3, lk, 6))]


SDPA_CASES = {
    "plain": {},
    "causal": {"is_causal": True},
    "causal_square": {"is_causal": True, "square": True},
    "scale": {"scale": 0.3},
    "bool_mask": {"mask": "bool"},
    "float_mask": {"mask": "float"},
}


def _sdpa_case(name: str, dtype: type) -> tuple[list[np.ndarray], dict, np.ndarray | None]:
    kw = dict(SDPA_CASES[name])
    square = kw.pop("square", False)
    arrays = _sdpa_inputs(dtype, 6, 6) if square else _sdpa_inputs(dtype)
    mask = kw.pop("mask", None)
    m = None
    if mask == "bool":
        m = R.random((5, 7)) > 0.4
        m[:, 0] = True  # no fully masked row
    elif mask == "float":
        m = R.standard_normal((3, 5, 7)).astype(dtype)
    return arrays, kw, m


@pytest.mark.parametrize("name", list(SDPA_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sdpa_fused_matches_composed(name: str, dtype: type) -> None:
    from ember.nn.functional.attention import _attn_bias, _sdpa_composed

    arrays, kw, m = _sdpa_case(name, dtype)
    g = R.standard_normal((2, 3, arrays[0].shape[2], 6)).astype(dtype)
    results = []
    for fused in (True, False):
        q, k, v = (ember.tensor(a, requires_grad=True) for a in arrays)
        mask = None if m is None else ember.tensor(m)
        s = kw.get("scale", 0.5)
        if fused:
            out = F.scaled_dot_product_attention(q, k, v, mask, scale=s,
                                                 is_causal=kw.get("is_causal", False))
            assert out.grad_fn.fn.__name__ == "_Attention"
        else:
            assert _attn_bias is not None
            out = _sdpa_composed(q, k, v, mask, 0.0, kw.get("is_causal", False), s)
        out.backward(ember.tensor(g))
        results.append([out.detach().numpy()] + [t.grad.numpy() for t in (q, k, v)])
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("name", list(SDPA_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sdpa_fused_vs_torch(name: str, dtype: type) -> None:
    arrays, kw, m = _sdpa_case(name, dtype)
    if m is None:
        check(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k, v, **kw),
              *arrays)
    else:
        check(lambda lib, q, k, v, mk: lib.nn.functional.scaled_dot_product_attention(
            q, k, v, mk, **kw), *arrays, m)  # a float mask's gradient is compared too


def test_sdpa_float_mask_gradient_and_gradcheck() -> None:
    q, k, v = (ember.tensor(a, requires_grad=True) for a in _sdpa_inputs(np.float64, 3, 4))
    bias = ember.tensor(R.standard_normal((3, 4)), requires_grad=True)
    fn = F.scaled_dot_product_attention
    assert ember.autograd.gradcheck(lambda *t: fn(*t), (q, k, v, bias))
    assert ember.autograd.gradgradcheck(lambda *t: fn(*t), (q, k, v, bias))
    assert ember.autograd.gradcheck(lambda *t: fn(*t, is_causal=True), (q, k, v))
    assert ember.autograd.gradgradcheck(lambda *t: fn(*t, is_causal=True), (q, k, v))


def test_sdpa_fully_masked_row_and_dropout_take_the_composed_path() -> None:
    q, k, v = (ember.tensor(a) for a in _sdpa_inputs(np.float32, 2, 3))
    mask = ember.tensor(np.array([[True, False, True], [False, False, False]]))
    out = F.scaled_dot_product_attention(q, k, v, mask)
    expect = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(t.numpy()) for t in (q, k, v)), torch.tensor(mask.numpy()))
    np.testing.assert_allclose(out.numpy(), expect.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.any(out.numpy()[:, :, 1])
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(q, k, v, mask, is_causal=True)


@pytest.mark.parametrize("num", [7, 5000])  # one-hot GEMM, and sorted reduceat for a big table
@pytest.mark.parametrize("keep", [False, True])
def test_scatter_rows_matches_add_at(num: int, keep: bool) -> None:
    from ember.nn.functional.sparse import _scatter_rows

    idx = R.integers(0, min(num, 300), 400)
    g = R.standard_normal((400, 6))
    w = R.random(400) if keep else None
    expect = np.zeros((num, 6))
    np.add.at(expect, idx, g * (w[:, None] if w is not None else 1.0))
    np.testing.assert_allclose(_scatter_rows(g, idx, w, num), expect, rtol=1e-12, atol=1e-12)
    assert _scatter_rows(g[:0], idx[:0], None, num).shape == (num, 6)


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 2}, {"scale_grad_by_freq": True},
                                {"padding_idx": 0, "scale_grad_by_freq": True}])
@pytest.mark.parametrize("num", [9, 3000])
def test_embedding_backward_vs_torch(kw: dict, num: int) -> None:
    idx = R.integers(0, 9, (4, 50))
    check(lambda lib, w, i: lib.nn.functional.embedding(i, w, **kw),
          R.standard_normal((num, 5)).astype(np.float32), idx)


def test_embedding_double_backward_uses_the_composed_scatter() -> None:
    w = ember.tensor(R.standard_normal((6, 3)), requires_grad=True)
    idx = ember.tensor(R.integers(0, 6, (5,)))
    fn = lambda t: F.embedding(idx, t) ** 2  # noqa: E731
    assert ember.autograd.gradcheck(fn, (w,))
    assert ember.autograd.gradgradcheck(fn, (w,))


@pytest.mark.parametrize("kw", [{}, {"amsgrad": True, "weight_decay": 0.1}, {"maximize": True},
                                {"betas": (0.3, 0.9)}])
@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_in_place_update_equals_written_out_and_torch(cls: str, kw: dict,
                                                          dtype: type) -> None:
    shapes = [(7, 5), (5,), (3, 2, 4)]
    init = [R.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[R.standard_normal(s).astype(dtype) for s in shapes] for _ in range(4)]

    def run(lib, composed: bool):  # type: ignore[no-untyped-def]
        params = [lib.tensor(a.copy(), requires_grad=True) for a in init]
        opt = getattr(lib.optim, cls)(params, lr=0.05, **kw) if lib is ember else \
            getattr(lib.optim, cls)(params, lr=0.05, foreach=False, **kw)
        if composed:  # the written-out update, through the same fallback the fast path keeps
            opt._update = lambda p, g, st, gr: opt._update_composed(  # type: ignore[method-assign]
                p, (g + gr["weight_decay"] * p) if gr["weight_decay"] and not
                gr["decoupled_weight_decay"] else g, st["exp_avg"]._data,
                st["exp_avg_sq"]._data, gr["lr"], gr["betas"][0], gr["betas"][1], gr["eps"],
                _bump(st, p, gr), st, gr)
        for gs in grads:
            for p, g in zip(params, gs):
                p.grad = lib.tensor(g)
            opt.step()
        return [p.detach().numpy() for p in params]

    fast, ref, expect = run(ember, False), run(ember, True), run(torch, False)
    for a, b, c in zip(fast, ref, expect):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-7)


def _bump(state: dict, p: np.ndarray, group: dict) -> float:
    """The step count and decoupled decay the fast path applies before its update."""
    state["step"]._data += 1
    if group["weight_decay"] and group["decoupled_weight_decay"]:
        p *= 1 - group["lr"] * group["weight_decay"]
    return float(state["step"]._data)


def test_gelu_retain_graph_backward_twice_is_equal() -> None:
    x = ember.tensor(R.standard_normal(50).astype(np.float32) * 3, requires_grad=True)
    y = F.gelu(x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    x.grad = None
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_first_order_backward_matches_composed(affine: bool, dtype: type) -> None:
    """The NumPy backward (no create_graph) against the composed reference, and torch."""
    from ember.nn.functional.normalization import _layer_norm_composed

    x0 = (R.standard_normal((3, 5, 8)) * 2 + 1).astype(dtype)
    w0, b0 = R.standard_normal(8).astype(dtype), R.standard_normal(8).astype(dtype)
    cot = R.standard_normal(x0.shape).astype(dtype)
    outs = []
    for fused in (True, False):
        x = ember.tensor(x0, requires_grad=True)
        w = ember.tensor(w0, requires_grad=True) if affine else None
        b = ember.tensor(b0, requires_grad=True) if affine else None
        out = F.layer_norm(x, (8,), w, b) if fused else _layer_norm_composed(x, 1, w, b, 1e-5)
        out.backward(ember.tensor(cot))
        outs.append([out.detach().numpy()] + [t.grad.numpy() for t in (x, w, b) if t is not None])
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    for f, c in zip(*outs):
        np.testing.assert_allclose(f, c, **tol)
    args = (x0, w0, b0) if affine else (x0,)
    check(lambda lib, *t: lib.nn.functional.layer_norm(t[0], (8,), *t[1:]), *args)


def test_batch_norm_first_order_backward_vs_torch() -> None:
    x0 = R.standard_normal((4, 3, 5)).astype(np.float32)
    w0, b0 = R.standard_normal(3).astype(np.float32), R.standard_normal(3).astype(np.float32)
    check(lambda lib, x, w, b: lib.nn.functional.batch_norm(
        x, lib.zeros(3), lib.ones(3), w, b, training=True), x0, w0, b0)


def test_gelu_float32_blocks_and_strided_input() -> None:
    """More than one cache block (and a partial last one), from a non-contiguous view."""
    from ember.nn.functional.activation import _CHUNK

    base = (R.standard_normal((2 * _CHUNK + 37, 2)) * 4).astype(np.float32)
    g = R.standard_normal(2 * _CHUNK + 37).astype(np.float32)
    y, dx = _grads(lambda t: F.gelu(t[:, 1]), base, np.stack([np.zeros_like(g), g], 1)[:, 1])
    y_ref, dx_ref = _grads(lambda t: _gelu_composed(t[:, 1], "none"), base,
                           np.stack([np.zeros_like(g), g], 1)[:, 1])
    np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-6, atol=2e-6)
    assert not dx[:, 0].any()
