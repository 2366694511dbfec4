"""The engine's and apply's fast paths (cached seed gradient, id-keyed leaves, operators that
skip promotion, methods bound to ember.ops) behave as the general paths and as torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def both(values, **kw):
    return ember.tensor(values, **kw), torch.tensor(values, **kw)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scalar_root_gradients_are_writable_and_unshared(dtype: str) -> None:
    # loss = a + b hands the seed gradient straight to both leaves (Add's VJP is (g, g))
    for lib in (ember, torch):
        a = lib.tensor(2.0, dtype=getattr(lib, dtype), requires_grad=True)
        b = lib.tensor(3.0, dtype=getattr(lib, dtype), requires_grad=True)
        (a + b).backward()
        a.grad.mul_(5)  # writable, and b.grad does not share its memory
        assert (a.grad.item(), b.grad.item()) == (5.0, 1.0)
        (a + b).backward()  # a second seed is a fresh 1, not the 5 written above
        assert (a.grad.item(), b.grad.item()) == (6.0, 2.0)
        assert a.grad.dtype == getattr(lib, dtype)


def test_retained_grad_of_a_scalar_and_of_a_sum_is_writable() -> None:
    for lib in (ember, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        s = y.sum()
        s.retain_grad()
        (s * 1.0).backward()
        y.grad.add_(1)  # was a read-only broadcast view of the seed before the engine copied it
        s.grad.add_(1)
        assert y.grad.tolist() == [2.0, 2.0, 2.0] and s.grad.item() == 2.0
        assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_custom_function_at_the_root_may_write_into_its_gradient() -> None:
    class Square(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x * x).sum()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            g.mul_(2)  # in place on the incoming gradient, as some user code does
            return g * x

    x = ember.tensor([1.0, 2.0], requires_grad=True)
    Square.apply(x).backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_hook_on_the_root_sees_a_writable_gradient() -> None:
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        loss = (x * x).sum()
        loss.register_hook(lambda g: g.mul_(3))
        loss.backward()
        assert x.grad.tolist() == [6.0, 12.0]


def test_tiny_step_matches_torch_over_repeats() -> None:
    # the benchmark's workload: leaves accumulate across steps, x needs no gradient
    rng = np.random.default_rng(0)
    xv, wv, bv = (rng.standard_normal((8, 8)).astype(np.float32) for _ in range(3))
    got = {}
    for lib in (ember, torch):
        x = lib.tensor(xv)
        w = lib.tensor(wv, requires_grad=True)
        b = lib.tensor(bv, requires_grad=True)
        for _ in range(3):
            (x * w + b).relu().sum().backward()
        assert x.grad is None
        got[lib.__name__] = (w.grad.numpy().copy(), b.grad.numpy().copy())
    np.testing.assert_array_equal(got["ember"][0], got["torch"][0])
    np.testing.assert_array_equal(got["ember"][1], got["torch"][1])


def test_same_leaf_through_several_edges_sums_in_order() -> None:
    for lib in (ember, torch):
        w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        (w * w + w * 3 + w).sum().backward()
        assert w.grad.tolist() == [6.0, 8.0, 10.0]


def test_operator_fast_paths_match_the_promoting_functions() -> None:
    a, ta = both([[1.5, -2.0], [0.0, 4.0]])
    b, tb = both([[2.0, 3.0], [-1.0, 0.5]])
    for op in ("__add__", "__sub__", "__mul__"):
        np.testing.assert_array_equal(getattr(a, op)(b).numpy(), getattr(ta, op)(tb).numpy())
    # mixed dtypes still promote; bools still refuse subtraction with torch's error
    i = ember.tensor([[1, 2], [3, 4]])
    assert (a * i).dtype == ember.float32 and (i + i).dtype == ember.int64
    m = ember.tensor([True, False])
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with two bool"):
        m - m
    assert (m + m).tolist() == (torch.tensor([True, False]) + torch.tensor([True, False])).tolist()


def test_bound_methods_are_the_ops_functions() -> None:
    x = ember.tensor([[1.0, -2.0], [3.0, -4.0]], requires_grad=True)
    assert ember.Tensor.relu is ember.relu and ember.Tensor.sum is ember.sum
    y = x.relu().sum(dim=1, keepdim=True)
    t = torch.tensor([[1.0, -2.0], [3.0, -4.0]]).relu().sum(dim=1, keepdim=True)
    assert y.tolist() == t.tolist()
    y.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0], [1.0, 0.0]]


def test_no_grad_forward_records_nothing() -> None:
    w = ember.ones(3, requires_grad=True)
    with ember.no_grad():
        y = w * w + w
    assert y.grad_fn is None and not y.requires_grad
    y2 = w * 2
    assert y2.grad_fn is not None and y2.requires_grad


def test_leaf_grads_never_alias_a_user_gradient_or_each_other() -> None:
    a = ember.ones(3, requires_grad=True)
    b = ember.ones(3, requires_grad=True)
    gradient = ember.tensor([1.0, 2.0, 3.0])
    (a + b).backward(gradient)  # Add's VJP hands the same tensor to both leaves
    assert a.grad is not gradient and b.grad is not gradient and a.grad is not b.grad
    a.grad.mul_(10)
    assert gradient.tolist() == [1.0, 2.0, 3.0] and b.grad.tolist() == [1.0, 2.0, 3.0]
    w = ember.ones(2, 2, requires_grad=True)
    (w * ember.full((2, 2), 3.0)).sum().backward()  # a fresh g * b: kept as w.grad itself
    assert w.grad.tolist() == [[3.0, 3.0], [3.0, 3.0]] and not w.grad.requires_grad
    assert w.grad.grad_fn is None and w.grad._base is None
