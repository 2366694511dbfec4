"""nn.utils against torch: gradient clipping and parameter/vector conversion."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import ember
from ember.nn import utils


def _params(lib: Any, seed: int = 0, scale: float = 1.0) -> list[Any]:
    g = np.random.RandomState(seed)
    ps = [lib.nn.Parameter(lib.ones(n)) for n in (3, 40, 7, 2)]
    for p in ps[:3]:  # the last one has no grad: it is skipped
        p.grad = lib.tensor((g.randn(p.numel()) * scale).astype(np.float32))
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1, "inf", float("inf"), 3.5, 0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type: Any, max_norm: float) -> None:
    for seed in range(3):
        e, t = _params(ember, seed), _params(torch, seed)
        re = utils.clip_grad_norm_(e, max_norm, norm_type)
        rt = torch.nn.utils.clip_grad_norm_(t, max_norm, norm_type)
        assert re.shape == () and re.dtype == ember.float32
        np.testing.assert_allclose(re.item(), rt.item(), rtol=1e-6)
        for pe, pt in zip(e[:3], t[:3]):
            np.testing.assert_allclose(pe.grad.numpy(), pt.grad.numpy(), rtol=2e-6, atol=1e-7)
        assert e[3].grad is None


def test_clip_grad_norm_reference_example_and_edge_cases() -> None:
    a, b = ember.nn.Parameter(ember.ones(3)), ember.nn.Parameter(ember.ones(4))
    a.grad, b.grad = ember.full((3,), 3.0), ember.full((4,), 4.0)
    g = a.grad
    total = utils.clip_grad_norm_([a, b], 1.0)
    np.testing.assert_allclose(total.item(), 9.5394, rtol=1e-4)
    np.testing.assert_allclose(a.grad.numpy(), 3 / (9.539392 + 1e-6), rtol=1e-6)
    assert a.grad is g  # in place
    single = ember.nn.Parameter(ember.ones(2))
    single.grad = ember.full((2,), 3.0)
    assert utils.clip_grad_norm_(single, 100.0).item() == pytest.approx(18**0.5)
    assert single.grad.tolist() == [3.0, 3.0]
    none = utils.clip_grad_norm_([ember.nn.Parameter(ember.ones(1))], 1.0)
    assert none.item() == 0.0 and none.dtype == ember.float32
    with pytest.warns(UserWarning, match="empty generator"):
        utils.clip_grad_norm_((p for p in []), 1.0)


def test_error_if_nonfinite_matches_torch() -> None:
    e, t = _params(ember), _params(torch)
    e[0].grad[0] = float("inf")
    t[0].grad[0] = float("inf")
    with pytest.raises(RuntimeError) as te:
        torch.nn.utils.clip_grad_norm_(t, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as ee:
        utils.clip_grad_norm_(e, 1.0, error_if_nonfinite=True)
    assert str(ee.value) == str(te.value)
    assert utils.clip_grad_norm_(e, 1.0, foreach=True).item() == float("inf")


def test_clip_grad_value() -> None:
    e, t = _params(ember, scale=3.0), _params(torch, scale=3.0)
    assert utils.clip_grad_value_(e, 2.0) is None
    torch.nn.utils.clip_grad_value_(t, 2.0)
    for pe, pt in zip(e[:3], t[:3]):
        np.testing.assert_array_equal(pe.grad.numpy(), pt.grad.numpy())
    assert max(float(p.grad.abs().max()) for p in e[:3]) == 2.0


def test_parameters_to_vector_and_back() -> None:
    e, t = _params(ember), _params(torch)
    ve, vt = utils.parameters_to_vector(e), torch.nn.utils.parameters_to_vector(t)
    assert ve.shape == vt.shape and ve.requires_grad and ve.grad_fn is not None
    ve.sum().backward()  # differentiable: gradients flow back to every parameter
    assert e[0].grad is not None
    new = ember.arange(52, dtype=ember.float32)
    w = e[1]
    utils.vector_to_parameters(new, e)
    assert e[1] is w and e[1].tolist() == list(range(3, 43)) and e[3].tolist() == [50.0, 51.0]
    with pytest.raises(TypeError) as te:
        torch.nn.utils.vector_to_parameters([1.0], t)
    with pytest.raises(TypeError) as ee:
        utils.vector_to_parameters([1.0], e)  # type: ignore[arg-type]
    assert str(ee.value) == str(te.value)


def test_training_step_with_clipping() -> None:
    """A module's parameters() feed clipping, as in a training loop."""
    m = ember.nn.Module()
    m.w = ember.nn.Parameter(ember.full((3,), 2.0))
    (m.w * 10).sum().backward()
    utils.clip_grad_norm_(m.parameters(), max_norm=1.0)
    np.testing.assert_allclose(np.linalg.norm(m.w.grad.numpy()), 1.0, rtol=1e-5)
