"""F.linear's NumPy backward (no create_graph) against its Tensor-op backward (create_graph)
and torch, for every subset of inputs that needs a gradient."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import ember

R = np.random.default_rng(3)


@pytest.mark.parametrize("needs", list(itertools.product([True, False], repeat=3))[:-1])
def test_linear_numpy_backward_matches_tensor_op_backward_and_torch(needs) -> None:  # type: ignore[no-untyped-def]
    arrays = [R.standard_normal(s).astype(np.float32) for s in ((3, 5, 7), (4, 7), (4,))]
    g = R.standard_normal((3, 5, 4)).astype(np.float32)
    grads = {}
    for create_graph in (False, True):
        ts = [ember.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
        out = ember.nn.functional.linear(*ts)
        assert out.grad_fn.fn.__name__ == "Linear"
        wanted = [t for t in ts if t.requires_grad]
        grads[create_graph] = [x.detach().numpy() for x in ember.autograd.grad(
            out, wanted, ember.tensor(g), create_graph=create_graph)]
    tt = [torch.tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    expect = torch.autograd.grad(torch.nn.functional.linear(*tt),
                                 [t for t in tt if t.requires_grad], torch.tensor(g))
    for a, b, c in zip(grads[False], grads[True], expect):
        assert a.shape == b.shape == tuple(c.shape)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(a, c.numpy(), rtol=1e-5, atol=1e-5)
