"""The per-op fast paths (Primitive.apply2 behind + - *, the no-record backward of relu and of
reductions) against the composed/recorded paths and against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck

EDGE = np.array([[-1.0, 0.0, 2.0, np.nan], [3.0, -0.0, np.inf, -np.inf]])
GRAD = np.array([[np.inf, 1.0, 2.0, 3.0], [np.nan, 5.0, 6.0, np.inf]])


@pytest.mark.parametrize("dt", ["float32", "float64", "float16", "bfloat16"])
def test_relu_backward_edges_match_torch(dt: str) -> None:
    # nan outputs pass g and masked positions give 0 even for inf/nan g (threshold_backward)
    e = ember.tensor(EDGE, dtype=getattr(ember, dt), requires_grad=True)
    t = torch.tensor(EDGE, dtype=getattr(torch, dt), requires_grad=True)
    with np.errstate(invalid="ignore"):
        e.relu().backward(ember.tensor(GRAD, dtype=getattr(ember, dt)))
    t.relu().backward(torch.tensor(GRAD, dtype=getattr(torch, dt)))
    assert e.grad.dtype == e.dtype
    np.testing.assert_array_equal(e.grad.float().numpy(), t.grad.float().numpy())


def test_relu_backward_plain_equals_recorded() -> None:
    # the no-record path (plain backward) and ReluBackward (create_graph) give the same bits
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    g = rng.standard_normal((5, 7)).astype(np.float32)
    a = ember.tensor(x, requires_grad=True)
    b = ember.tensor(x, requires_grad=True)
    a.relu().backward(ember.tensor(g))
    gout = ember.tensor(g, requires_grad=True)
    (gb,) = ember.autograd.grad(b.relu(), b, gout, create_graph=True)
    assert gb.grad_fn is not None  # recorded: through ReluBackward
    np.testing.assert_array_equal(a.grad.numpy(), gb.detach().numpy())


def test_relu_double_backward_and_gradcheck() -> None:
    x = ember.tensor([[-1.5, 0.3, 2.0], [0.7, -0.2, 1.1]], dtype=ember.float64,
                     requires_grad=True)
    assert gradcheck(ember.relu, (x,))
    assert gradgradcheck(ember.relu, (x,))
    xt = torch.tensor(x.detach().numpy(), requires_grad=True)
    for lib, v in ((ember, x), (torch, xt)):
        (g,) = lib.autograd.grad((v.relu() ** 2).sum(), v, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), v)
        if lib is ember:
            ours = gg.numpy()
        else:
            theirs = gg.numpy()
    np.testing.assert_allclose(ours, theirs)


@pytest.mark.parametrize("red,dim,keepdim", [
    ("sum", None, False), ("sum", 1, False), ("sum", (0, 2), True),
    ("mean", None, False), ("mean", -1, True), ("amax", 1, False),
])
def test_reduction_backward_plain_equals_recorded_and_torch(red: str, dim: object,
                                                            keepdim: bool) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5))
    g_shape = torch.tensor(x).sum().shape if dim is None and red != "amax" else None
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    out_t = getattr(torch, red)(torch.tensor(x), **kw)
    g = rng.standard_normal(out_t.shape if g_shape is None else g_shape)
    grads = []
    for create_graph in (False, True):
        e = ember.tensor(x, requires_grad=True)
        (ge,) = ember.autograd.grad(getattr(ember, red)(e, **kw), e, ember.tensor(g),
                                    create_graph=create_graph)
        grads.append(ge.detach().numpy())
    t = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad(getattr(torch, red)(t, **kw), t, torch.tensor(g))
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_allclose(grads[0], gt.numpy())


def test_sum_gradient_is_writable_and_separate() -> None:
    # the plain path hands the leaf a read-only broadcast view: .grad must be a fresh array
    w = ember.ones(3, 4, requires_grad=True)
    w.sum().backward()
    w.grad.add_(1.0)
    w.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full((3, 4), 3.0, np.float32))


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, True), (False, False)])
def test_binary_operators_match_torch(op: str, needs: tuple[bool, bool]) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3, 4))
    fn = {"add": lambda p, q: p + q, "sub": lambda p, q: p - q, "mul": lambda p, q: p * q}[op]
    ea, eb = (ember.tensor(v, requires_grad=r) for v, r in zip((a, b), needs, strict=True))
    ta, tb = (torch.tensor(v, requires_grad=r) for v, r in zip((a, b), needs, strict=True))
    # non-leaf inputs too: the edge goes to their Node
    eo, to = fn(ea * 1.5, eb), fn(ta * 1.5, tb)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy())
    assert eo.requires_grad == to.requires_grad
    assert (eo.grad_fn is None) == (to.grad_fn is None)
    if to.requires_grad:
        assert eo.grad_fn.name() == to.grad_fn.name()
        eo.sum().backward()
        to.sum().backward()
        for e, t in ((ea, ta), (eb, tb)):
            if t.requires_grad:
                np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy())
            else:
                assert e.grad is None
    with ember.no_grad():
        assert fn(ea, eb).grad_fn is None and not fn(ea, eb).requires_grad


def test_mul_saved_tensor_modified_in_place_raises() -> None:
    x = ember.ones(2, 2)
    w = ember.ones(2, 2, requires_grad=True)
    y = x * w
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_binary_operators_float64_gradcheck() -> None:
    rng = np.random.default_rng(4)
    a = ember.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = ember.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    assert gradcheck(lambda p, q: (p * q + p) - q * q, (a, b))
    assert gradgradcheck(lambda p, q: (p * q + p) - q * q, (a, b))


@pytest.mark.parametrize("op", ["relu", "sum"])
def test_apply1_ops_match_torch_graph(op: str) -> None:
    # relu and sum record through Primitive.apply1: one edge, as torch's nodes
    e = ember.ones(2, 3, requires_grad=True)
    t = torch.ones(2, 3, requires_grad=True)
    eo, to = getattr(e * 2.0, op)(), getattr(t * 2.0, op)()
    assert eo.grad_fn.name() == to.grad_fn.name()
    assert len(eo.grad_fn.next_functions) == len(to.grad_fn.next_functions)
    assert eo.grad_fn.next_functions[0][0].name() == to.grad_fn.next_functions[0][0].name()
    with ember.no_grad():
        assert getattr(e, op)().grad_fn is None


def test_relu_output_modified_in_place_raises() -> None:
    # relu saves its output (apply1's save_output): an in-place change must be caught
    w = ember.ones(2, 2, requires_grad=True)
    y = (w * 1.0).relu()
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_sum_dtype_and_keepdim_match_torch() -> None:
    x = np.arange(12).reshape(3, 4)
    for kw in ({}, {"dim": 1}, {"dim": (0, 1), "keepdim": True}):
        eo, to = ember.tensor(x).sum(**kw), torch.tensor(x).sum(**kw)
        assert str(eo.dtype) == str(to.dtype) and tuple(eo.shape) == tuple(to.shape)
        np.testing.assert_array_equal(eo.numpy(), to.numpy())
    e = ember.tensor(x, dtype=ember.float32, requires_grad=True)
    t = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    (e.sum(dtype=ember.float64) * 2).backward()
    (t.sum(dtype=torch.float64) * 2).backward()
    assert str(e.grad.dtype) == str(t.grad.dtype)
    np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())


def test_relu_small_vjp_is_np_where_bits() -> None:
    # the small-array VJP (copy + putmask) against np.where on edges: nan, inf, -0, 0
    from ember.ops.elementwise import _relu_vjp

    rng = np.random.default_rng(5)
    for dt in (np.float32, np.float64, np.float16):
        out = np.maximum(rng.standard_normal((6, 7)), 0).astype(dt)
        out.flat[:4] = [np.nan, -0.0, 0.0, np.inf]
        g = rng.standard_normal((6, 7)).astype(dt)
        g.flat[4:8] = [np.inf, -np.inf, np.nan, -0.0]
        want = np.where(out <= 0, np.zeros((), dt), g)
        got = _relu_vjp(g, out)
        assert got.dtype == dt
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, True)])
def test_mul_plain_backward_equals_recorded(needs: tuple[bool, bool]) -> None:
    # the no-record VJP (NumPy products) and the recorded one (create_graph) give the same bits
    rng = np.random.default_rng(6)
    a, b, g = (rng.standard_normal((4, 5)).astype(np.float32) for _ in range(3))
    plain = [ember.tensor(v, requires_grad=r) for v, r in zip((a, b), needs, strict=True)]
    rec = [ember.tensor(v, requires_grad=r) for v, r in zip((a, b), needs, strict=True)]
    (plain[0] * plain[1]).backward(ember.tensor(g))
    wanted = [t for t in rec if t.requires_grad]
    grads = ember.autograd.grad(rec[0] * rec[1], wanted, ember.tensor(g, requires_grad=True),
                                create_graph=True)
    for p, r in zip([t for t in plain if t.requires_grad], grads, strict=True):
        assert r.grad_fn is not None  # recorded: through Mul
        np.testing.assert_array_equal(p.grad.numpy(), r.detach().numpy())
