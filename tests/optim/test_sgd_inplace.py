"""SGD's in-place update (momentum buffer and a reused scratch array) against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember

CASES = [
    {"momentum": 0.9},
    {"momentum": 0.9, "dampening": 0.5},
    {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-2},
    {"momentum": 0.0, "weight_decay": 1e-2, "maximize": True},
]


@pytest.mark.parametrize("kw", CASES)
def test_sgd_steps_match_torch(kw: dict[str, object]) -> None:
    rng = np.random.default_rng(0)
    shapes = [(6, 5), (5,), (6, 5)]  # two same-shaped params share the scratch array
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ep = [ember.nn.Parameter(ember.tensor(a)) for a in init]
    tp = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    eo, to = ember.optim.SGD(ep, lr=0.05, **kw), torch.optim.SGD(tp, lr=0.05, **kw)
    arrays = [p._data for p in ep]
    for step in range(4):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for e, t, g in zip(ep, tp, grads):
            e.grad, t.grad = ember.tensor(g), torch.tensor(g)
        eo.step()
        to.step()
        for e, t, g in zip(ep, tp, grads):
            np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-6,
                                       atol=1e-7, err_msg=f"step {step}")
            np.testing.assert_array_equal(e.grad.numpy(), g)  # the gradient is left as it was
    assert all(p._data is a for p, a in zip(ep, arrays))  # updated in place
