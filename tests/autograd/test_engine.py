"""Autograd engine behaviour against torch: accumulation, errors, hooks, grad, custom Functions."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch

import ember


def both(values, **kw):
    return ember.tensor(values, **kw), torch.tensor(values, **kw)


def test_backward_accumulates_into_leaf_grad() -> None:
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        (x * 2).sum().backward()
        (x * 2).sum().backward()
        assert x.grad.tolist() == [4.0, 4.0, 4.0]
        assert x.is_leaf and x.grad_fn is None


def test_nonscalar_backward_needs_gradient() -> None:
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2).backward()
    (x * 2).backward(ember.ones(3))
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_gradient_shape_mismatch_message() -> None:
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape of "
                                           r"torch.Size\(\[2\]\)"):
        (x * 2).backward(ember.ones(2))


def test_backward_without_grad_requirement() -> None:
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        ember.ones(1).backward()


def test_second_backward_through_freed_graph() -> None:
    x = ember.ones(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.tolist() == [6.0, 6.0, 6.0]


def test_graph_without_saved_tensors_backwards_twice() -> None:
    x = ember.ones(3, requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()  # torch allows this: nothing was saved
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_backward_inputs_restricts_accumulation() -> None:
    a = ember.ones(2, requires_grad=True)
    b = ember.ones(2, requires_grad=True)
    (a * b).sum().backward(inputs=[a])
    assert a.grad is not None and b.grad is None


def test_broadcast_gradients_sum_to_input_shape() -> None:
    ea, ta = both(np.ones((3, 1)).tolist(), requires_grad=True)
    eb, tb = both(np.ones((1, 4)).tolist(), requires_grad=True)
    ec, tc = both(np.ones(4).tolist(), requires_grad=True)
    (ea * eb * ec).sum().backward()
    (ta * tb * tc).sum().backward()
    for e, t in ((ea, ta), (eb, tb), (ec, tc)):
        assert tuple(e.grad.shape) == tuple(t.grad.shape)
        np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())
    s = ember.tensor(2.0, requires_grad=True)
    (s * ember.ones(3, 3)).sum().backward()
    assert s.grad.shape == () and s.grad.item() == 9.0


def test_grad_dtype_matches_tensor_dtype() -> None:
    a = ember.ones(2, dtype=ember.float64, requires_grad=True)
    b = ember.ones(2, dtype=ember.float32, requires_grad=True)
    out = a * b
    assert out.dtype == ember.float64
    out.sum().backward()
    assert a.grad.dtype == ember.float64 and b.grad.dtype == ember.float32


def test_nonleaf_grad_warns_and_retain_grad() -> None:
    x = ember.ones(2, requires_grad=True)
    y = x * 3
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert y.grad is None
    y.retain_grad()
    assert y.retains_grad
    (y * y).sum().backward()
    assert y.grad.tolist() == [6.0, 6.0]
    x.retain_grad()
    assert not x.retains_grad


def test_requires_grad_rules() -> None:
    with pytest.raises(RuntimeError, match="Only Tensors of floating point and complex dtype"):
        ember.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require"):
        ember.tensor([1, 2]).requires_grad_()
    y = ember.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="you can only change requires_grad flags of leaf"):
        y.requires_grad = False
    assert y.requires_grad_(True) is y
    with ember.no_grad():
        z = ember.zeros(2, requires_grad=True)
    assert z.requires_grad


def test_inplace_on_leaf_requiring_grad() -> None:
    x = ember.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an "
                                           "in-place operation"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[0] = 5.0
    with ember.no_grad():
        x.mul_(3)
    assert x.is_leaf and x.requires_grad and x._version == 1


def test_inplace_on_nonleaf_replaces_grad_fn() -> None:
    a = ember.ones(3, requires_grad=True)
    y = a * 1
    y.add_(1)
    assert y.grad_fn.name() == "AddBackward0"
    (y * y).sum().backward()
    assert a.grad.tolist() == [4.0, 4.0, 4.0]
    b = ember.ones(3, requires_grad=True)
    c = b * 1
    c[0] = 5.0
    c.sum().backward()
    assert b.grad.tolist() == [0.0, 1.0, 1.0]


def test_version_counter_detects_modified_saved_tensor() -> None:
    x = ember.ones(3, requires_grad=True)
    y = x.exp()
    z = y * y
    y.add_(1)
    assert y._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    e = x.exp()
    e.mul_(2)  # Exp saved its output: torch's message names it
    with pytest.raises(RuntimeError, match=r"FloatTensor \[3\]\], which is output 0 of Exp"):
        e.sum().backward()


def test_detach_shares_data_and_version() -> None:
    x = ember.ones(3, requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    with ember.no_grad():
        x.mul_(2)
    assert d._version == x._version == 1
    assert d.tolist() == [2.0, 2.0, 2.0]


def test_grad_modes() -> None:
    x = ember.ones(2, requires_grad=True)
    with ember.no_grad():
        y = x * 2
        assert not ember.is_grad_enabled()
        with ember.enable_grad():
            w = x * 2
    assert not y.requires_grad and y.is_leaf and w.requires_grad

    @ember.no_grad()
    def f(t):
        return t * 2

    @ember.no_grad
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    ember.set_grad_enabled(False)
    assert not ember.is_grad_enabled()
    ember.set_grad_enabled(True)
    with ember.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ember.is_grad_enabled()
    with ember.inference_mode():
        assert not (x * 2).requires_grad
    assert ember.is_grad_enabled()


def test_autograd_grad_higher_order() -> None:
    for lib in (ember, torch):
        x = lib.tensor(3.0, requires_grad=True)
        y = x * x * x
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        assert g.item() == 27.0 and g.requires_grad
        (gg,) = lib.autograd.grad(g, x)
        assert gg.item() == 18.0
        assert x.grad is None


def test_autograd_grad_unused() -> None:
    x = ember.tensor(1.0, requires_grad=True)
    u = ember.tensor(1.0, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="index 1 appears to not have been used in the graph"):
        ember.autograd.grad(y, [x, u], retain_graph=True)
    gx, gu = ember.autograd.grad(y, [x, u], allow_unused=True, retain_graph=True)
    assert gx.item() == 2.0 and gu is None
    gx, gu = ember.autograd.grad(y, [x, u], allow_unused=True, materialize_grads=True)
    assert gu.item() == 0.0


def test_hooks() -> None:
    x = ember.ones(2, requires_grad=True)
    h = x.register_hook(lambda g: g * 10)
    (x * 1).sum().backward()
    assert x.grad.tolist() == [10.0, 10.0]
    h.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    seen = []
    y = x * 2
    y.register_hook(lambda g: seen.append(g.tolist()) or g * 0)
    x.grad = None
    y.sum().backward()
    assert seen == [[1.0, 1.0]] and x.grad.tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't"):
        ember.ones(1).register_hook(lambda g: g)


def test_custom_function() -> None:
    class Cube(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            assert not ember.is_grad_enabled()
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True,)
            return g * 3 * x * x

    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn.name() == "CubeBackward"
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]

    class Bad(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g, g

    with pytest.raises(RuntimeError, match=r"returned an incorrect number of gradients \(expected "
                                           r"1, got 2\)"):
        Bad.apply(ember.ones(1, requires_grad=True)).sum().backward()


def test_gradcheck_and_gradgradcheck() -> None:
    x = ember.randn(4, dtype=ember.float64, requires_grad=True)
    w = ember.randn(4, 3, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a, b: (a @ b).exp(), (x, w))
    assert ember.autograd.gradgradcheck(lambda a, b: (a * a @ b).exp().sum(), (x, w))
    with pytest.raises(ember.autograd.GradcheckError):
        ember.autograd.gradcheck(_WrongGrad.apply, (x,))


class _WrongGrad(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 3


def test_deep_chain_has_no_recursion_limit() -> None:
    x = ember.ones(1, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_graph_freed_by_refcounting() -> None:
    gc.collect()
    gc.disable()
    try:
        w = ember.randn(8, 8, requires_grad=True)
        x = ember.randn(4, 8)
        y = (x @ w).exp()
        ref = weakref.ref(y.grad_fn)
        y.sum().backward()
        del y
        assert ref() is None, "the graph survived its last reference (a reference cycle?)"
        for _ in range(50):
            (x @ w).relu().sum().backward()
        assert gc.collect() == 0, "the garbage collector found cycles"
    finally:
        gc.enable()


def test_backward_with_one_root_an_ancestor_of_others() -> None:
    # s is a root and also the input of the roots a and b (twice through split, once through
    # a multiply): its own inputs must still run once, with every root's share
    results = []
    for lib in (ember, torch):
        x = lib.tensor(np.arange(18.0).reshape(3, 6), requires_grad=True)
        w = lib.tensor(np.linspace(-1, 1, 18).reshape(3, 6), requires_grad=True)
        s = (x * w) + 1
        a, b = s.split(3, 1)
        c = s * 3
        seeds = [lib.ones(3, 3), lib.full((3, 3), 2.0), lib.ones(3, 6), lib.full((3, 6), 0.5)]
        lib.autograd.backward([a, b, s, c], seeds, retain_graph=True)
        gx, gw = lib.autograd.grad([c, s, a], [x, w], seeds[2:] + seeds[:1])
        results.append([t.detach().numpy() for t in (x.grad, w.grad, gx, gw)])
    for mine, ref in zip(*results):
        np.testing.assert_array_equal(mine, ref)
