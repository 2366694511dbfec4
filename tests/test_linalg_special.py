"""ember.linalg (norms, vecdot, cross, diagonal) and ember.special against torch: values and
gradients on the same inputs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import ember
import ember.linalg
import ember.special

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal((3, 4)).astype(np.float32)
V3 = RNG.standard_normal((2, 3)).astype(np.float32)
P = RNG.uniform(0.05, 0.95, (3, 4)).astype(np.float32)

CASES: dict[str, tuple[Callable[[Any, Any, Any], Any], tuple[np.ndarray, ...]]] = {
    "vector_norm": (lambda L, a, b: L.vector_norm(a), (A, B)),
    "vector_norm_dim_keepdim": (lambda L, a, b: L.vector_norm(a, 2, dim=1, keepdim=True), (A, B)),
    "vector_norm_1": (lambda L, a, b: L.vector_norm(a, 1, dim=(0, 1)), (A, B)),
    "vector_norm_inf": (lambda L, a, b: L.vector_norm(a, math.inf, dim=0), (A, B)),
    "vector_norm_-inf": (lambda L, a, b: L.vector_norm(a, -math.inf), (A, B)),
    "vector_norm_0": (lambda L, a, b: L.vector_norm(a, 0), (A, B)),
    "vector_norm_3": (lambda L, a, b: L.vector_norm(a, 3, dim=-1), (A, B)),
    "vector_norm_keepdim_all": (lambda L, a, b: L.vector_norm(a, keepdim=True), (A, B)),
    "matrix_norm_fro": (lambda L, a, b: L.matrix_norm(a), (A, B)),
    "matrix_norm_1": (lambda L, a, b: L.matrix_norm(a, 1), (A, B)),
    "matrix_norm_-1": (lambda L, a, b: L.matrix_norm(a, -1, keepdim=True), (A, B)),
    "matrix_norm_inf": (lambda L, a, b: L.matrix_norm(a, math.inf), (A, B)),
    "norm_default": (lambda L, a, b: L.norm(a), (A, B)),
    "norm_vector_dim": (lambda L, a, b: L.norm(a, 1, dim=1), (A, B)),
    "norm_matrix_fro": (lambda L, a, b: L.norm(a, "fro"), (A, B)),
    "norm_matrix_dims": (lambda L, a, b: L.norm(a, math.inf, dim=(1, 0)), (A, B)),
    "vecdot": (lambda L, a, b: L.vecdot(a, b), (A, B)),
    "cross": (lambda L, a, b: L.cross(a, b), (V3, V3[::-1].copy())),
    "diagonal": (lambda L, a, b: L.diagonal(a, offset=1), (A, B)),
    "matmul": (lambda L, a, b: L.matmul(a, b.mT), (A, B)),
}

SPECIAL: dict[str, Callable[[Any, Any], Any]] = {
    "erf": lambda S, x: S.erf(x), "erfc": lambda S, x: S.erfc(x),
    "erfinv": lambda S, x: S.erfinv(x * 2 - 1), "expit": lambda S, x: S.expit(x),
    "logit": lambda S, x: S.logit(x), "logit_eps": lambda S, x: S.logit(x, eps=0.2),
    "exp2": lambda S, x: S.exp2(x), "expm1": lambda S, x: S.expm1(x),
    "log1p": lambda S, x: S.log1p(x), "xlogy": lambda S, x: S.xlogy(x, x + 1),
    "softmax": lambda S, x: S.softmax(x, 1), "log_softmax": lambda S, x: S.log_softmax(x, 0),
    "logsumexp": lambda S, x: S.logsumexp(x, 1), "sinc": lambda S, x: S.sinc(x - 0.5),
}


def _check(tfn: Callable[..., Any], efn: Callable[..., Any],
           arrays: tuple[np.ndarray, ...]) -> None:
    tins = [torch.tensor(a, requires_grad=True) for a in arrays]
    eins = [ember.tensor(a, requires_grad=True) for a in arrays]
    tout, eout = tfn(*tins), efn(*eins)
    assert tuple(eout.shape) == tuple(tout.shape)
    np.testing.assert_allclose(eout.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    if tout.dtype.is_floating_point:
        tout.sum().backward()
        eout.sum().backward()
        for t, e in zip(tins, eins):
            if t.grad is not None:
                np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_linalg_matches_torch(case: str) -> None:
    fn, arrays = CASES[case]
    _check(lambda *t: fn(torch.linalg, *t, *([None] * (2 - len(t)))),
           lambda *e: fn(ember.linalg, *e, *([None] * (2 - len(e)))), arrays)


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_matches_torch(name: str) -> None:
    fn = SPECIAL[name]
    _check(lambda x: fn(torch.special, x), lambda x: fn(ember.special, x), (P,))


def test_norm_gradient_at_zero_and_errors() -> None:
    x = ember.zeros(3, requires_grad=True)
    ember.linalg.vector_norm(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])  # torch's subgradient
    with pytest.raises(RuntimeError, match="floating point"):
        ember.linalg.vector_norm(ember.arange(3))
    with pytest.raises(NotImplementedError, match="singular values"):
        ember.linalg.matrix_norm(ember.ones(2, 2), "nuc")
