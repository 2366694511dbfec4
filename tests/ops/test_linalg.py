"""Linear algebra against torch: matmul family, products, tensordot, kron, cross, einsum."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ember
from tests.helpers import assert_same, check

R = np.random.default_rng(0)


def rnd(*shape: int, dtype: type = np.float64) -> np.ndarray:
    return R.standard_normal(shape).astype(dtype)


def same_error(fn: object, *np_inputs: np.ndarray) -> None:
    """Both libraries raise the same exception class with the same message."""
    with pytest.raises(Exception) as te:
        fn(torch, *[torch.from_numpy(x) for x in np_inputs])  # type: ignore[operator]
    with pytest.raises(type(te.value)) as ee:
        fn(ember, *[ember.tensor(x) for x in np_inputs])  # type: ignore[operator]
    assert str(ee.value) == str(te.value).split("\n")[0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_products(dtype: type) -> None:
    check(lambda lib, a, b: lib.mm(a, b), rnd(2, 3, dtype=dtype), rnd(3, 4, dtype=dtype))
    check(lambda lib, a, b: lib.bmm(a, b), rnd(5, 2, 3, dtype=dtype), rnd(5, 3, 4, dtype=dtype))
    check(lambda lib, a, b: lib.dot(a, b), rnd(4, dtype=dtype), rnd(4, dtype=dtype))
    check(lambda lib, a, b: lib.vdot(a, b), rnd(4, dtype=dtype), rnd(4, dtype=dtype))
    check(lambda lib, a, b: lib.outer(a, b), rnd(3, dtype=dtype), rnd(4, dtype=dtype))
    check(lambda lib, a, b: lib.ger(a, b), rnd(3, dtype=dtype), rnd(2, dtype=dtype))
    check(lambda lib, a, b: lib.mv(a, b), rnd(3, 4, dtype=dtype), rnd(4, dtype=dtype))
    check(lambda lib, a, b: a.mv(b), rnd(3, 4, dtype=dtype), rnd(4, dtype=dtype))
    check(lambda lib, a, b: lib.inner(a, b), rnd(2, 3, dtype=dtype), rnd(4, 3, dtype=dtype))
    check(lambda lib, a, b: lib.inner(a, b), rnd(3, dtype=dtype), rnd(3, dtype=dtype))
    check(lambda lib, a, b: lib.inner(a, b), np.array(2.0, dtype=dtype), rnd(3, dtype=dtype))
    check(lambda lib, a, b: lib.kron(a, b), rnd(2, 3, dtype=dtype), rnd(3, 2, dtype=dtype))
    check(lambda lib, a, b: lib.kron(a, b), rnd(2, 3, dtype=dtype), rnd(4, dtype=dtype))


def test_int_and_mixed() -> None:
    ints = np.arange(6).reshape(2, 3)
    check(lambda lib, a, b: lib.mm(a, b), ints, ints.T.copy())
    check(lambda lib, a, b: lib.dot(a, b), np.arange(3), np.arange(3))
    check(lambda lib, a, b: lib.outer(a, b), rnd(3, dtype=np.float32), rnd(2))  # promotes


@pytest.mark.parametrize("kw", [{}, {"beta": 0.5}, {"alpha": 2.0}, {"beta": 0.0, "alpha": -1.5}])
def test_addmm_baddbmm(kw: dict) -> None:
    check(lambda lib, c, a, b: lib.addmm(c, a, b, **kw), rnd(2, 4), rnd(2, 3), rnd(3, 4))
    check(lambda lib, c, a, b: lib.addmm(c, a, b, **kw), rnd(4), rnd(2, 3), rnd(3, 4))
    check(lambda lib, c, a, b: lib.baddbmm(c, a, b, **kw), rnd(5, 2, 4), rnd(5, 2, 3),
          rnd(5, 3, 4))
    check(lambda lib, c, a, b: c.addmm(a, b, **kw), rnd(1, 4, dtype=np.float32),
          rnd(2, 3, dtype=np.float32), rnd(3, 4, dtype=np.float32))


def test_addmm_beta_zero_ignores_nan() -> None:
    check(lambda lib, c, a, b: lib.addmm(c, a, b, beta=0), np.full((2, 4), np.nan), rnd(2, 3),
          rnd(3, 4), grad=False)


def test_errors() -> None:
    same_error(lambda lib, a, b: lib.bmm(a, b), rnd(2, 3), rnd(3, 2))
    same_error(lambda lib, a, b: lib.bmm(a, b), rnd(2, 2, 3), rnd(3, 3, 2))
    same_error(lambda lib, a, b: lib.bmm(a, b), rnd(2, 2, 3), rnd(2, 2, 2))
    same_error(lambda lib, a, b: lib.mm(a, b), rnd(2, 3), rnd(2, 3))
    same_error(lambda lib, a, b: lib.mm(a, b), rnd(2, 2, 3), rnd(3, 2))
    same_error(lambda lib, a, b: lib.dot(a, b), rnd(2), rnd(3))
    same_error(lambda lib, a, b: lib.dot(a, b), rnd(2, 1), rnd(3))
    same_error(lambda lib, a, b: lib.dot(a, b), rnd(2, dtype=np.float32), rnd(2))
    same_error(lambda lib, a, b: lib.mv(a, b), rnd(2), rnd(2))
    same_error(lambda lib, a, b: lib.mv(a, b), rnd(2, 3), rnd(2))
    same_error(lambda lib, a, b: lib.outer(a, b), rnd(2, 2), rnd(2))
    same_error(lambda lib, a, b: lib.inner(a, b), rnd(2, 3), rnd(4, 2))
    same_error(lambda lib, a, b: lib.matmul(a, b), rnd(2, 3, dtype=np.float32), rnd(3, 2))
    same_error(lambda lib, a, b: lib.tensordot(a, b, ([1], [0])), rnd(2, 3, 4), rnd(4, 3, 5))
    same_error(lambda lib, a: lib.einsum("ii", a), rnd(2, 3))
    same_error(lambda lib, a: lib.einsum("ij,jk->ik", a), rnd(2, 3))
    same_error(lambda lib, a: lib.einsum("ij->ik", a), rnd(2, 3))
    same_error(lambda lib, a, b: lib.einsum("ij,j->i", a, b), rnd(2, 3), rnd(4))
    same_error(lambda lib, a: lib.einsum("ijk", a), rnd(2, 3))


def test_tensordot() -> None:
    check(lambda lib, a, b: lib.tensordot(a, b), rnd(2, 3, 4), rnd(3, 4, 5))
    check(lambda lib, a, b: lib.tensordot(a, b, 1), rnd(2, 3, 4), rnd(4, 5))
    check(lambda lib, a, b: lib.tensordot(a, b, 0), rnd(2, 3), rnd(2))
    check(lambda lib, a, b: lib.tensordot(a, b, dims=([1, 2], [1, 0])), rnd(2, 3, 4),
          rnd(4, 3, 5))
    check(lambda lib, a, b: lib.tensordot(a, b, ([0], [-1])), rnd(3, 2, dtype=np.float32),
          rnd(4, 3, dtype=np.float32))


def test_cross() -> None:
    check(lambda lib, a, b: lib.cross(a, b, dim=1), rnd(4, 3), rnd(4, 3))
    check(lambda lib, a, b: lib.cross(a, b, 0), rnd(3, 2), rnd(3, 2))
    check(lambda lib, a, b: lib.cross(a, b, -1), rnd(2, 1, 3), rnd(1, 5, 3))  # broadcast
    same_error(lambda lib, a, b: lib.cross(a, b, -1), rnd(2, 1, 3), rnd(5, 3))
    same_error(lambda lib, a, b: lib.cross(a, b, 0), rnd(2, 3), rnd(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, a, b: lib.cross(a, b), rnd(2, 3), rnd(2, 3))
        check(lambda lib, a, b: lib.cross(a, b), rnd(3, 3, dtype=np.float32),
              rnd(3, 3, dtype=np.float32))


EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
    ("ba,ab", [(3, 2), (2, 3)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ii->i", [(3, 3)]),  # diagonal
    ("ii", [(3, 3)]),  # trace
    ("iij->j", [(2, 2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("bij,bjk->bik", [(4, 2, 3), (4, 3, 5)]),
    ("...ij,...jk", [(5, 1, 2, 3), (4, 3, 2)]),  # ellipsis with broadcasting
    ("...ij,...jk->...ik", [(2, 3), (6, 3, 4)]),
    ("i...->...", [(3, 2, 4)]),
    ("bA,Ab->b", [(3, 2), (2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),  # size-1 broadcasting of a named dim
    ("i j , j", [(2, 3), (3,)]),  # spaces
    ("ijk,ikj->i", [(2, 3, 3), (2, 3, 3)]),
    ("ij,i->j", [(3, 2), (3,)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM_CASES)
def test_einsum(eq: str, shapes: list) -> None:
    arrays = [rnd(*s) for s in shapes]
    check(lambda lib, *xs: lib.einsum(eq, *xs), *arrays)
    check(lambda lib, *xs: lib.einsum(eq, *xs), *[a.astype(np.float32) for a in arrays])


def test_einsum_list_and_ints() -> None:
    check(lambda lib, a, b: lib.einsum("ij,j->i", [a, b]), rnd(2, 3), rnd(3))
    check(lambda lib, a, b: lib.einsum("i,j", a, b), np.arange(3), np.arange(2))
    same_error(lambda lib, a, b: lib.einsum("i,i", a, b), rnd(2, dtype=np.float32), rnd(2))


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2),
       st.booleans(), st.booleans())
def test_hypothesis_matmul_shapes(n: int, k: int, m: int, batch: int, vec_a: bool,
                                  vec_b: bool) -> None:
    sa = (k,) if vec_a else (2,) * batch + (n, k)
    sb = (k,) if vec_b else (k, m)
    check(lambda lib, a, b: lib.matmul(a, b), rnd(*sa), rnd(*sb))
    check(lambda lib, a, b: lib.tensordot(a, b, ([-1], [0 if b.ndim == 1 else -2])),
          rnd(*sa), rnd(*sb))


def test_large_matmul_float32_accuracy() -> None:
    a = np.random.default_rng(1).standard_normal((16, 4096)).astype(np.float32)
    b = np.random.default_rng(2).standard_normal((4096, 8)).astype(np.float32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    err_t = np.abs(torch.from_numpy(a).mm(torch.from_numpy(b)).numpy() - ref).max()
    err_e = np.abs(ember.mm(ember.tensor(a), ember.tensor(b)).numpy() - ref).max()
    assert err_e <= 2 * err_t + 1e-6


def _second_order(lib: object, a0: np.ndarray, b0: np.ndarray, fn: object) -> tuple:
    a = lib.tensor(a0, requires_grad=True)  # type: ignore[attr-defined]
    b = lib.tensor(b0, requires_grad=True)  # type: ignore[attr-defined]
    out = fn(lib, a, b)  # type: ignore[operator]
    (ga,) = lib.autograd.grad((out * out).sum(), a, create_graph=True)  # type: ignore[attr-defined]
    (ga * ga).sum().backward()
    return a.grad, b.grad


@pytest.mark.parametrize("fn", [lambda lib, a, b: a @ b,
                                lambda lib, a, b: lib.einsum("ij,jk->ik", a, b),
                                lambda lib, a, b: lib.einsum("ij,ij->i", a, b.T)])
def test_second_order(fn: object) -> None:
    a0, b0 = rnd(2, 3), rnd(3, 2)
    assert_same(_second_order(ember, a0, b0, fn), _second_order(torch, a0, b0, fn))


def test_empty_and_scalar_operands() -> None:
    check(lambda lib, a, s: lib.einsum("i,->i", a, s), rnd(3), np.array(2.0))
    check(lambda lib, a, s: lib.einsum("...,...->...", a, s), rnd(3, 2), np.array(2.0))
    check(lambda lib, a: lib.einsum("i->", a), rnd(0))
    check(lambda lib, a, b: lib.einsum("ij,jk->ik", a, b), rnd(2, 0), rnd(0, 3))
    check(lambda lib, a: lib.einsum("iji->j", a), rnd(2, 3, 2))
    check(lambda lib, a, b: lib.einsum("ii,ij->j", a, b), rnd(2, 2), rnd(2, 3))
    check(lambda lib, a, b: lib.mm(a, b), rnd(2, 0), rnd(0, 3))
    check(lambda lib, a, b: lib.bmm(a, b), rnd(0, 2, 3), rnd(0, 3, 1))
