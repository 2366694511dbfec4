"""Smoke tests of the core: a few ops against torch through the parity helper."""

import numpy as np

from tests.helpers import check

rng = np.random.default_rng(0)


def test_add_broadcast() -> None:
    check(lambda t, a, b: a + b, rng.standard_normal((3, 1)), rng.standard_normal(4))


def test_mul_exp_log_chain() -> None:
    check(lambda t, a, b: (a * b).exp().log().mean(), rng.standard_normal((2, 3)),
          rng.standard_normal((2, 3)))


def test_matmul_shapes() -> None:
    for sa, sb in [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((5, 2, 3), (3, 4)),
                   ((2, 1, 2, 3), (5, 3, 4))]:
        check(lambda t, a, b: a @ b, rng.standard_normal(sa), rng.standard_normal(sb))


def test_getitem_advanced_accumulates() -> None:
    check(lambda t, a: a[[0, 0, 2]], rng.standard_normal((5, 2)))
    check(lambda t, a: a[1:, None, ::2], rng.standard_normal((4, 5)))
