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
