"""scaled_dot_product_attention on nanoGPT's head views (q = x.view(B, T, nh, hs).transpose(1, 2))
returns its output and the q, k, v gradients in that (B, T, nh, hs) memory order, with the values
of the composed reference and torch."""

from __future__ import annotations

import numpy as np
import torch

import ember
from ember.nn.functional.attention import _sdpa_composed

B, T, NH, HS = 3, 5, 2, 4
R = np.random.default_rng(11)


def _run(lib, fn, x0: np.ndarray, g0: np.ndarray):  # type: ignore[no-untyped-def]
    x = lib.tensor(x0, requires_grad=True)
    q, k, v = x.split(NH * HS, dim=2)
    q, k, v = (t.view(B, T, NH, HS).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
    y = fn(q, k, v)
    flat = y.transpose(1, 2).contiguous().view(B, T, NH * HS)
    flat.backward(lib.tensor(g0))
    return y, flat, x.grad


def test_sdpa_head_views_layout_and_values() -> None:
    x0 = R.standard_normal((B, T, 3 * NH * HS)).astype(np.float32)
    g0 = R.standard_normal((B, T, NH * HS)).astype(np.float32)
    F = ember.nn.functional
    y, flat, dx = _run(ember, lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, is_causal=True), x0, g0)
    # the output's transpose back is already contiguous: .contiguous() copied nothing
    assert y.transpose(1, 2)._data.flags.c_contiguous
    assert np.shares_memory(flat._data, y._data)
    _, flat_ref, dx_ref = _run(ember, lambda q, k, v: _sdpa_composed(
        q, k, v, None, 0.0, True, 1.0 / np.sqrt(HS)), x0, g0)
    np.testing.assert_allclose(flat.detach().numpy(), flat_ref.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(dx.numpy(), dx_ref.numpy(), rtol=1e-5, atol=1e-6)
    _, flat_t, dx_t = _run(torch, lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
        q, k, v, is_causal=True), x0, g0)
    np.testing.assert_allclose(flat.detach().numpy(), flat_t.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(dx.numpy(), dx_t.numpy(), rtol=1e-5, atol=1e-6)


def test_sdpa_contiguous_inputs_keep_contiguous_outputs_and_grads() -> None:
    q, k, v = (ember.tensor(R.standard_normal((B, NH, T, HS)).astype(np.float32),
                            requires_grad=True) for _ in range(3))
    y = ember.nn.functional.scaled_dot_product_attention(q, k, v)
    assert y._data.flags.c_contiguous
    y.sum().backward()
    assert all(t.grad._data.flags.c_contiguous for t in (q, k, v))
