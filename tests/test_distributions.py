"""ember.distributions against torch.distributions: log_prob, entropy, moments, KL and their
gradients on the same parameters; samples checked by shape and by their statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import ember
from ember import distributions as D

RNG = np.random.default_rng(0)
LOC = RNG.standard_normal((3, 4)).astype(np.float32)
SCALE = RNG.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
LOGITS = RNG.standard_normal((3, 5)).astype(np.float32)
LOGITS_Q = RNG.standard_normal((3, 5)).astype(np.float32)
VALUE = RNG.standard_normal((3, 4)).astype(np.float32)


def _pair(build: Callable[[Any, Any], Any]) -> tuple[Any, Any, list[Any], list[Any]]:
    """The same distribution in torch and ember, with leaf parameters for the gradients."""
    tparams = [torch.tensor(a, requires_grad=True) for a in (LOC, SCALE, LOGITS, LOGITS_Q)]
    eparams = [ember.tensor(a, requires_grad=True) for a in (LOC, SCALE, LOGITS, LOGITS_Q)]
    return build(torch.distributions, tparams), build(D, eparams), tparams, eparams


CASES: dict[str, Callable[[Any, Any], Any]] = {
    "normal_log_prob": lambda d, p: d.Normal(p[0], p[1]).log_prob(p[0] * 0 + 0.3),
    "normal_entropy": lambda d, p: d.Normal(p[0], p[1]).entropy(),
    "normal_stddev_variance": lambda d, p: (d.Normal(p[0], p[1]).variance
                                            + d.Normal(p[0], p[1]).stddev),
    "normal_cdf": lambda d, p: d.Normal(p[0], p[1]).cdf(p[0] * 0.5),
    "normal_kl": lambda d, p: d.kl_divergence(d.Normal(p[0], p[1]), d.Normal(p[0] * 2, p[1] + 1)),
    "categorical_log_prob": lambda d, p: d.Categorical(logits=p[2]).log_prob(
        (p[2] * 0).sum(-1).long() + 3),
    "categorical_probs_log_prob": lambda d, p: d.Categorical(probs=p[2].exp()).log_prob(
        (p[2] * 0).sum(-1).long() + 1),
    "categorical_entropy": lambda d, p: d.Categorical(logits=p[2]).entropy(),
    "categorical_kl": lambda d, p: d.kl_divergence(d.Categorical(logits=p[2]),
                                                   d.Categorical(logits=p[3])),
    "bernoulli_log_prob": lambda d, p: d.Bernoulli(logits=p[0]).log_prob((p[1] > 1).float()),
    "bernoulli_probs_entropy": lambda d, p: d.Bernoulli(probs=p[0].sigmoid()).entropy(),
    "bernoulli_kl": lambda d, p: d.kl_divergence(d.Bernoulli(logits=p[0]),
                                                 d.Bernoulli(logits=p[1])),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(case: str) -> None:
    tout, eout, tparams, eparams = _pair(CASES[case])
    np.testing.assert_allclose(eout.detach().numpy(), tout.detach().numpy(), rtol=1e-5,
                               atol=1e-5)
    tout.sum().backward()
    eout.sum().backward()
    for t, e in zip(tparams, eparams):
        if t.grad is None:
            assert e.grad is None or not e.grad.numpy().any()
        else:
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_samples_shapes_and_statistics() -> None:
    ember.manual_seed(0)
    normal = D.Normal(ember.tensor([0.0, 3.0]), ember.tensor([1.0, 0.5]))
    assert normal.batch_shape == (2,) and normal.sample().shape == (2,)
    draws = normal.sample((20000,))
    assert draws.shape == (20000, 2) and not draws.requires_grad
    np.testing.assert_allclose(draws.mean(0).numpy(), [0.0, 3.0], atol=0.05)
    np.testing.assert_allclose(draws.std(0).numpy(), [1.0, 0.5], atol=0.05)

    loc = ember.zeros(2, requires_grad=True)
    D.Normal(loc, 1.0).rsample((4,)).sum().backward()  # reparameterised: d/dloc = 4
    np.testing.assert_allclose(loc.grad.numpy(), [4.0, 4.0])

    cat = D.Categorical(probs=ember.tensor([[0.1, 0.0, 0.9], [1.0, 0.0, 0.0]]))
    picks = cat.sample((5000,))
    assert picks.shape == (5000, 2) and picks.dtype == ember.int64
    assert abs((picks[:, 0] == 2).float().mean().item() - 0.9) < 0.03
    assert bool((picks[:, 0] != 1).all()) and bool((picks[:, 1] == 0).all())

    coin = D.Bernoulli(probs=ember.full((3,), 0.25))
    flips = coin.sample((8000,))
    assert flips.shape == (8000, 3)
    assert abs(flips.mean().item() - 0.25) < 0.03


def test_errors_and_compat_path() -> None:
    with pytest.raises(ValueError, match="scale"):
        D.Normal(ember.zeros(2), ember.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Categorical()
    with pytest.raises(NotImplementedError, match="rsample"):
        D.Categorical(logits=ember.zeros(3)).rsample()
    with pytest.raises(NotImplementedError, match="kl_divergence"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Bernoulli(probs=0.5))
    assert repr(D.Normal(0.0, 1.0)) == repr(torch.distributions.Normal(0.0, 1.0))
