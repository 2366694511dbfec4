"""The RNG against torch's CPU generator: same seed, same numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import ember

SEEDS = [0, 1, 42, 2**40 + 7]


def _np(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().double().numpy()
    return t.detach()._data.astype(np.float64)


def _both(fn: Callable[[Any], Any], seed: int) -> tuple[np.ndarray, np.ndarray]:
    torch.manual_seed(seed)
    a = _np(fn(torch))
    ember.manual_seed(seed)
    b = _np(fn(ember))
    return a, b


EXACT = {
    "rand": lambda m: m.rand(1000),
    "rand_2d": lambda m: m.rand(7, 9),
    "rand_f64": lambda m: m.rand(100, dtype=m.float64),
    "rand_f16": lambda m: m.rand(100, dtype=m.float16),
    "rand_bf16": lambda m: m.rand(100, dtype=m.bfloat16),
    "uniform_": lambda m: m.empty(500).uniform_(-3.3, 7.1),
    "uniform_f64": lambda m: m.empty(50, dtype=m.float64).uniform_(-2, 5),
    "uniform_f16": lambda m: m.empty(300, dtype=m.float16).uniform_(-3.3, 7.1),
    "uniform_transposed": lambda m: m.empty(8, 5).t().uniform_(),
    "randn_small": lambda m: m.randn(5),
    "randn_cache": lambda m: m.stack([m.randn(1)[0], m.randn(3)[1], m.randn(2)[1]]),
    "normal_small": lambda m: m.empty(3, 4).normal_(2.0, 3.0),
    "normal_transposed": lambda m: m.empty(8, 5).t().normal_(),
    "randn_f64": lambda m: m.randn(37, dtype=m.float64),
    "randn_f16": lambda m: m.randn(37, dtype=m.float16),
    "randn_f16_then_rand": lambda m: (m.randn(37, dtype=m.float16), m.rand(3))[1],
    "randn_bf16": lambda m: m.randn(20, dtype=m.bfloat16),
    "randn_f16_small": lambda m: m.randn(5, dtype=m.float16),
    "randint_small": lambda m: m.randint(0, 10, (100,)),
    "randint_low": lambda m: m.randint(-5, 1000, (10, 10)),
    "randint_high_only": lambda m: m.randint(7, (50,)),
    "randint_huge": lambda m: m.randint(0, 2**40, (100,)),
    "randint_keywords": lambda m: m.randint(low=2, high=9, size=(3, 4)),
    "randint_high_keyword": lambda m: m.randint(high=9, size=(5,)),
    "randint_float_dtype": lambda m: m.randint(5, (20,), dtype=m.float32),
    "randint_like": lambda m: m.randint_like(m.zeros(3, 3), 2, 7),
    "randint_like_high": lambda m: m.randint_like(m.zeros(6, dtype=m.int32), high=4),
    "randperm_10": lambda m: m.randperm(10),
    "randperm_1000": lambda m: m.randperm(1000),
    "bernoulli_": lambda m: m.empty(200).bernoulli_(0.3),
    "bernoulli_tensor_p": lambda m: m.bernoulli(m.rand(200)),
    "bernoulli_p": lambda m: m.bernoulli(m.zeros(200), 0.7),
    "bernoulli_f64_p": lambda m: m.bernoulli(m.rand(200, dtype=m.float64)),
    "bernoulli_inplace_tensor_p": lambda m: m.empty(300).bernoulli_(m.full((300,), 0.37)),
    "bernoulli_inplace_f64_self": lambda m: m.empty(30, dtype=m.float64).bernoulli_(
        m.full((30,), 0.37)),
    "bernoulli_inplace_broadcast_p": lambda m: m.empty(4, 5).bernoulli_(m.rand(5)),
    "random_long": lambda m: m.empty(10, dtype=m.long).random_(),
    "random_int32": lambda m: m.empty(10, dtype=m.int32).random_(),
    "random_float": lambda m: m.empty(10).random_(),
    "random_to": lambda m: m.empty(10).random_(5),
    "random_from_to": lambda m: m.empty(10, dtype=m.long).random_(-3, 9),
    "exponential_": lambda m: m.empty(100).exponential_(2.0),
    "exponential_f64": lambda m: m.empty(500, dtype=m.float64).exponential_(0.5),
    "cauchy_f64": lambda m: m.empty(500, dtype=m.float64).cauchy_(1.0, 2.0),
    "geometric_f64": lambda m: m.empty(500, dtype=m.float64).geometric_(0.2),
    "geometric_": lambda m: m.empty(100).geometric_(0.3),
    "cauchy_": lambda m: m.empty(100).cauchy_(),
    "log_normal_": lambda m: m.empty(10).log_normal_(),
    "multinomial_replacement": lambda m: m.multinomial(m.tensor([0.1, 0.2, 0.7]), 20, True),
    "normal_float_float": lambda m: m.normal(1.0, 2.0, (3,)),
    "multinomial_no_replacement": lambda m: m.multinomial(m.tensor([0.1, 0.2, 0.3, 0.4]), 3),
    "multinomial_2d": lambda m: m.multinomial(m.tensor([[1.0, 2, 3], [3, 2, 1]]), 7, True),
    "multinomial_many": lambda m: m.multinomial(m.arange(1.0, 50.0), 20),
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_bit_exact(name: str) -> None:
    for s in SEEDS:
        a, b = _both(EXACT[name], s)
        np.testing.assert_array_equal(b, a, err_msg=f"{name} seed {s}")


CLOSE = {  # torch's SIMD float32 Box-Muller for 16+ elements: most exact, the rest 1 ulp
    "randn_large": lambda m: m.randn(1000),
    "randn_ragged": lambda m: m.randn(37),
    "normal_large": lambda m: m.empty(40).normal_(2, 3),
    "normal_tensor_tensor": lambda m: m.normal(m.arange(20.0), m.ones(20) * 2),
    "normal_tensor_float": lambda m: m.normal(m.arange(20.0), 2.0),
    "normal_float_tensor": lambda m: m.normal(1.0, m.ones(20) * 2),
}


@pytest.mark.parametrize("name", sorted(CLOSE))
def test_close(name: str) -> None:
    for s in SEEDS:
        a, b = _both(CLOSE[name], s)
        np.testing.assert_allclose(b, a, rtol=2.4e-7, atol=1e-6, err_msg=f"{name} seed {s}")


def test_stream_continues_across_calls() -> None:
    a, b = _both(lambda m: m.cat([m.rand(3), m.randn(20), m.randint(0, 5, (4,)).float(),
                                 m.randn(3)]), 5)
    np.testing.assert_allclose(b, a, atol=1e-6)


def test_state_round_trip_and_torch_layout() -> None:
    ember.manual_seed(3)
    ember.randn(1)  # leaves a cached normal in the state
    s = ember.get_rng_state()
    torch.manual_seed(3)
    torch.randn(1)
    np.testing.assert_array_equal(s.numpy(), torch.get_rng_state().numpy())
    a = ember.randn(5)
    ember.set_rng_state(s)
    np.testing.assert_array_equal(ember.randn(5).numpy(), a.numpy())
    # a state from torch restores ember's generator to the same point
    ember.set_rng_state(ember.tensor(torch.get_rng_state().numpy()))
    np.testing.assert_array_equal(ember.randn(5).numpy(), torch.randn(5).numpy())


def test_fresh_seed_state_matches_torch() -> None:
    for s in SEEDS:
        torch.manual_seed(s)
        ember.manual_seed(s)
        np.testing.assert_array_equal(ember.get_rng_state().numpy(),
                                      torch.get_rng_state().numpy())
        torch.rand(700)
        ember.rand(700)
        np.testing.assert_array_equal(ember.get_rng_state().numpy(),
                                      torch.get_rng_state().numpy())


def test_generator_objects() -> None:
    g = ember.Generator().manual_seed(7)
    tg = torch.Generator().manual_seed(7)
    np.testing.assert_array_equal(ember.rand(10, generator=g).numpy(),
                                  torch.rand(10, generator=tg).numpy())
    assert g.initial_seed() == 7
    assert ember.manual_seed(9) is ember.default_generator
    assert ember.initial_seed() == 9
    assert ember.manual_seed(-1).initial_seed() == torch.manual_seed(-1).initial_seed()
    st = g.get_state()
    x = ember.randn(3, generator=g)
    g.set_state(st)
    np.testing.assert_array_equal(ember.randn(3, generator=g).numpy(), x.numpy())
    assert isinstance(ember.seed(), int)


def test_errors_match_torch() -> None:
    cases: list[Callable[[Any], Any]] = [
        lambda m: m.set_rng_state(m.zeros(10, dtype=m.uint8)),
        lambda m: m.set_rng_state(m.zeros(5056)),
        lambda m: m.empty(3, dtype=m.long).uniform_(),
        lambda m: m.empty(3).normal_(0, -1),
        lambda m: m.empty(3).uniform_(2, 1),
        lambda m: m.randint(3, 2, (2,)),
        lambda m: m.manual_seed(2**64),
        lambda m: m.bernoulli(m.tensor([1.5])),
        lambda m: m.empty(2).bernoulli_(1.5),
        lambda m: m.empty(3, dtype=m.long).normal_(),
        lambda m: m.empty(3, dtype=m.long).exponential_(),
        lambda m: m.empty(3, dtype=m.long).cauchy_(),
        lambda m: m.empty(3, dtype=m.int32).cauchy_(),
        lambda m: m.rand(3, dtype=m.long),
        lambda m: m.randn(3, dtype=m.int32),
        lambda m: m.randperm(-1),
        lambda m: m.normal(m.zeros(3), -1.0),
        lambda m: m.normal(m.zeros(3), -m.ones(3)),
        lambda m: m.multinomial(m.tensor([0.0, 0.0]), 1),
        lambda m: m.multinomial(m.tensor([0.5, 0.5]), 3),
        lambda m: m.multinomial(m.tensor([-1.0, 0.5]), 1),
        lambda m: m.empty(2).geometric_(0),
        lambda m: m.empty(2).exponential_(-1),
    ]
    for fn in cases:
        with pytest.raises(Exception) as te:
            fn(torch)
        with pytest.raises(type(te.value)) as ee:
            fn(ember)
        assert str(ee.value) == str(te.value)


def test_inplace_samplers_respect_autograd() -> None:
    w = ember.empty(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.uniform_()
    with ember.no_grad():
        assert w.normal_() is w
    assert w._version == 1 and w.grad_fn is None


def test_distributions() -> None:
    ember.manual_seed(0)
    p = ember.tensor([0.1, 0.2, 0.3, 0.4])
    s = ember.multinomial(p, 4)
    assert sorted(s.tolist()) == [0, 1, 2, 3]
    counts = np.bincount(ember.multinomial(p, 20000, True).numpy(), minlength=4) / 20000
    np.testing.assert_allclose(counts, p.numpy(), atol=0.02)
    perm = ember.randperm(50).numpy()
    assert sorted(perm.tolist()) == list(range(50))
    x = ember.rand_like(ember.zeros(2, 3, dtype=ember.float64))
    assert x.dtype == ember.float64 and x.shape == (2, 3)
    assert ember.randint_like(ember.zeros(4, dtype=ember.int32), 3).dtype == ember.int32
    assert ember.randn_like(ember.zeros(5)).shape == (5,)


def test_methods_and_fork_rng() -> None:
    a, b = _both(lambda m: m.full((50,), 0.5).bernoulli(), 3)
    np.testing.assert_array_equal(b, a)
    a, b = _both(lambda m: m.tensor([0.2, 0.8]).multinomial(6, True), 3)
    np.testing.assert_array_equal(b, a)
    ember.manual_seed(0)
    with ember.random.fork_rng():
        inside = ember.rand(3)
    np.testing.assert_array_equal(ember.rand(3).numpy(), inside.numpy())
