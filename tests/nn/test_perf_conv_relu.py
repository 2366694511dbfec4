"""relu on large arrays (CNN activations): the backward as two integer passes over the bits
(ember.ops.elementwise._relu_vjp), the same bits as np.where, and the forward in blocks against
a zeros block, the same values as np.maximum; both against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
import ember.ops.elementwise as E

R = np.random.default_rng(11)


def _edge_inputs(shape: tuple[int, ...], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    x = R.standard_normal(shape).astype(dtype)
    g = R.standard_normal(shape).astype(dtype)
    x.flat[::13], x.flat[1::17], x.flat[2::19] = 0.0, -0.0, np.nan  # relu'(0) = 0; nan passes g
    x.flat[3::23], x.flat[4::29] = np.inf, -np.inf
    g.flat[::7], g.flat[1::11], g.flat[2::31] = np.inf, np.nan, -0.0  # masked inf/nan give 0
    return x, g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_relu_backward_same_bits_as_where_and_torch(dtype: type) -> None:
    x0, g0 = _edge_inputs((4, 8, 16, 16), dtype)
    assert x0.size >= E._RELU_BITS_MIN
    out = np.maximum(x0, 0)
    got = E._relu_vjp(g0, out)
    ref = np.where(out <= 0, dtype(0), g0)
    assert got.dtype == g0.dtype and got.shape == g0.shape
    np.testing.assert_array_equal(got.view(np.uint8), ref.view(np.uint8))  # the same bits
    xt = torch.tensor(x0, requires_grad=True)
    torch.relu(xt).backward(torch.tensor(g0))
    x = ember.tensor(x0, requires_grad=True)
    ember.relu(x).backward(ember.tensor(g0))
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_small_and_other_arrays_keep_where() -> None:
    """Below the size threshold, and for other dtypes or shapes, np.where as before."""
    for x0, g0 in (_edge_inputs((5, 7), np.float32),
                   (R.standard_normal(5000).astype(np.float16),
                    R.standard_normal(5000).astype(np.float16))):
        out = np.maximum(x0, 0)
        ref = np.where(out <= 0, x0.dtype.type(0), g0)
        np.testing.assert_array_equal(E._relu_vjp(g0, out), ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_relu_forward_in_blocks(dtype: type) -> None:
    """(3, 5, 70, 80) is 84000 elements: one full block of 65536 and a partial one."""
    x0, _ = _edge_inputs((3, 5, 70, 80), dtype)
    y = ember.relu(ember.tensor(x0)).numpy()
    np.testing.assert_array_equal(y.view(np.uint8), np.maximum(x0, 0).view(np.uint8))
    np.testing.assert_array_equal(y, torch.relu(torch.tensor(x0)).numpy())
    xt = ember.tensor(x0).transpose(1, 2)  # not contiguous: one np.maximum, its layout
    np.testing.assert_array_equal(ember.relu(xt).numpy(), np.maximum(x0.transpose(0, 2, 1, 3), 0))
