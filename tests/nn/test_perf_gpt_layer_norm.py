"""layer_norm's fused backward takes the row means of g w and g w xhat as GEMVs with w: against
the composed reference and torch, with and without weight/bias gradients, over several blocks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.nn.functional.normalization import _layer_norm_composed

R = np.random.default_rng(5)


@pytest.mark.parametrize("w_grad", [True, False])
def test_layer_norm_backward_weight_frozen_or_not(w_grad: bool) -> None:
    x0 = (R.standard_normal((1100, 64)) * 3 + 1).astype(np.float32)  # > 1 block of rows
    w0 = (1 + 0.5 * R.standard_normal(64)).astype(np.float32)
    b0 = R.standard_normal(64).astype(np.float32)
    g0 = R.standard_normal(x0.shape).astype(np.float32)
    res = []
    for fn in (lambda x, w, b: ember.nn.functional.layer_norm(x, (64,), w, b),
               lambda x, w, b: _layer_norm_composed(x, 1, w, b, 1e-5)):
        x = ember.tensor(x0, requires_grad=True)
        w = ember.tensor(w0, requires_grad=w_grad)
        b = ember.tensor(b0, requires_grad=True)
        fn(x, w, b).backward(ember.tensor(g0))
        res.append((x.grad.numpy(), None if w.grad is None else w.grad.numpy(), b.grad.numpy()))
    xt = torch.tensor(x0, requires_grad=True)
    wt = torch.tensor(w0, requires_grad=w_grad)
    bt = torch.tensor(b0, requires_grad=True)
    torch.nn.functional.layer_norm(xt, (64,), wt, bt).backward(torch.tensor(g0))
    for ref in (res[1], (xt.grad.numpy(), None if wt.grad is None else wt.grad.numpy(),
                         bt.grad.numpy())):
        np.testing.assert_allclose(res[0][0], ref[0], rtol=1e-4, atol=2e-5)
        assert (res[0][1] is None) == (ref[1] is None) == (not w_grad)
        if w_grad:
            np.testing.assert_allclose(res[0][1], ref[1], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(res[0][2], ref[2], rtol=1e-4, atol=1e-3)
