"""float32 exact gelu keeps gelu'(x) from its forward: the no-grad forward, the grad forward and
the backward (g broadcast or strided) against the composed reference and torch."""

from __future__ import annotations

import numpy as np
import torch

import ember
from ember.nn.functional.activation import _gelu_composed

F = ember.nn.functional
R = np.random.default_rng(7)


def test_gelu_f32_no_grad_forward_is_bit_identical_to_grad_forward() -> None:
    x = (R.standard_normal(70_001) * 4).astype(np.float32)  # two blocks and a tail
    with ember.no_grad():
        y0 = F.gelu(ember.tensor(x)).numpy()
    y1 = F.gelu(ember.tensor(x, requires_grad=True)).detach().numpy()
    assert np.array_equal(y0, y1)


def test_gelu_f32_backward_with_broadcast_grad_matches_composed_and_torch() -> None:
    x = (R.standard_normal((3, 4, 129)) * 3).astype(np.float32)
    x[0, 0, :5] = [-9.0, -0.0, 0.0, 1e-30, 9.0]
    w = R.standard_normal(129).astype(np.float32)  # (y * w).sum(): g is w broadcast
    grads = []
    for fn in (F.gelu, lambda t: _gelu_composed(t, "none")):
        t = ember.tensor(x, requires_grad=True)
        (fn(t) * ember.tensor(w)).sum().backward()
        grads.append(t.grad.numpy())
    tt = torch.tensor(x, requires_grad=True)
    (torch.nn.functional.gelu(tt) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grads[0], tt.grad.numpy(), rtol=1e-5, atol=1e-6)
