"""SGD's chunked update of large parameters against the whole-array kernel (same
bits) and against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.optim import sgd
from tests.optim.test_sgd_inplace import CASES  # the option sets the whole-array tests use


@pytest.mark.parametrize("kw", CASES)
def test_sgd_chunked_equals_whole_array_and_torch(kw: dict[str, object]) -> None:
    rng = np.random.default_rng(0)
    # (400, 700): 280K elements, in chunks; (7, 3): whole arrays
    shapes = [(400, 700), (7, 3)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    chunked = [ember.nn.Parameter(ember.tensor(a)) for a in init]
    whole = [ember.nn.Parameter(ember.tensor(a)) for a in init]
    tp = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    oc, ow = ember.optim.SGD(chunked, lr=0.05, **kw), ember.optim.SGD(whole, lr=0.05, **kw)
    to = torch.optim.SGD(tp, lr=0.05, **kw)
    for _ in range(3):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for c, w, t, g in zip(chunked, whole, tp, grads, strict=True):
            c.grad, w.grad, t.grad = ember.tensor(g), ember.tensor(g), torch.tensor(g)
        oc.step()
        chunk = sgd._CHUNK
        sgd._CHUNK = 1 << 30  # every parameter through the whole-array kernel
        try:
            ow.step()
        finally:
            sgd._CHUNK = chunk
        to.step()
        for c, w, t in zip(chunked, whole, tp, strict=True):
            np.testing.assert_array_equal(c.detach().numpy(), w.detach().numpy())
            np.testing.assert_allclose(c.detach().numpy(), t.detach().numpy(), rtol=1e-6,
                                       atol=1e-7)
    if kw["momentum"]:
        for c, w in zip(chunked, whole, strict=True):
            np.testing.assert_array_equal(oc.state[c]["momentum_buffer"].numpy(),
                                          ow.state[w]["momentum_buffer"].numpy())
