"""perf-gpt's threaded kernels (gelu, attention, layer_norm, ...) give the same results with 1
and with several of ember's threads, and match the composed references."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

import ember

F = ember.nn.functional
R = np.random.default_rng(7)


@pytest.fixture
def restore_threads() -> Iterator[None]:
    n = ember.get_num_threads()
    yield
    ember.set_num_threads(n)


def _run(fn: Callable[..., ember.Tensor], arrays: list[np.ndarray], g: np.ndarray,
         threads: int) -> list[np.ndarray]:
    """fn's output and the gradients of <fn(*arrays), g> with `threads` ember threads."""
    ember.set_num_threads(threads)
    ts = [ember.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(ember.tensor(g))
    return [out.detach().numpy()] + [t.grad.numpy() for t in ts]


def _same_across_threads(fn: Callable[..., ember.Tensor], arrays: list[np.ndarray],
                         g: np.ndarray) -> list[np.ndarray]:
    one = _run(fn, arrays, g, 1)
    for threads in (2, 3):
        for a, b in zip(one, _run(fn, arrays, g, threads)):
            np.testing.assert_array_equal(a, b)  # bit-identical: the split is along rows
    return one


def test_gelu_threads_bit_identical(restore_threads: None) -> None:
    # > 2 threads' grain and an odd size: ranges that end inside a cache block
    from ember.nn.functional.activation import _GRAIN, _gelu_composed

    x = (R.standard_normal(3 * _GRAIN + 4099) * 4).astype(np.float32)
    g = R.standard_normal(x.shape).astype(np.float32)
    y, dx = _same_across_threads(F.gelu, [x], g)
    ref = _run(lambda t: _gelu_composed(t, "none"), [x], g, 1)
    np.testing.assert_allclose(y, ref[0], rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(dx, ref[1], rtol=1e-6, atol=2e-6)
