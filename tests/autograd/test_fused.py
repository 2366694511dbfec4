"""The fused backward primitives (relu's mask, a reduction's broadcast, the engine's sum-to-shape)
against the composed ops they replace and against torch, incl. double backward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.ops.elementwise import ReluBackward
from ember.ops.reduce import ExpandBack, SumTo, sum_to_shape

RNG = np.random.default_rng(0)


def _t(a: np.ndarray, grad: bool = True) -> ember.Tensor:
    return ember.tensor(a, requires_grad=grad)


def test_relu_backward_equals_composed_mask() -> None:
    out = np.maximum(RNG.standard_normal((5, 7)), 0).astype(np.float32)
    out[0, :3] = 0.0
    g = RNG.standard_normal((5, 7)).astype(np.float32)
    fused = ReluBackward.apply(_t(g, False), out)
    composed = _t(g, False) * (ember.tensor(out) > 0)
    np.testing.assert_array_equal(fused.numpy(), composed.numpy())
    assert fused.dtype == ember.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_grads_match_torch(dtype: type) -> None:
    x = RNG.standard_normal((6, 4)).astype(dtype)
    x[1, 1] = 0.0  # relu'(0) = 0 in both
    e, t = _t(x), torch.tensor(x, requires_grad=True)
    (e.relu() * e).sum().backward()
    (t.relu() * t).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-6)


def test_relu_double_backward_matches_torch() -> None:
    x = RNG.standard_normal((4, 5))
    e, t = _t(x), torch.tensor(x, requires_grad=True)
    (ge,) = ember.autograd.grad((e.relu() ** 2).sum(), e, create_graph=True)
    (gt,) = torch.autograd.grad((t.relu() ** 2).sum(), t, create_graph=True)
    np.testing.assert_allclose(ge.detach().numpy(), gt.detach().numpy())
    (gge,) = ember.autograd.grad((ge * ge).sum(), e)
    (ggt,) = torch.autograd.grad((gt * gt).sum(), t)
    np.testing.assert_allclose(gge.numpy(), ggt.numpy())


def test_relu_float64_gradcheck() -> None:
    x = RNG.standard_normal((3, 4))
    x = np.where(np.abs(x) < 0.1, 0.5, x)  # keep away from the kink for finite differences
    assert gradcheck(lambda t: (t * t).relu(), (_t(x),))
    assert gradgradcheck(lambda t: (t * t).relu(), (_t(x),))


@pytest.mark.parametrize(("shape", "dims", "keepdim"), [
    ((3, 4), (0, 1), False), ((3, 4), (0, 1), True), ((2, 3, 4), (1,), False),
    ((2, 3, 4), (0, 2), True), ((5,), (0,), False),
])
def test_expand_back_equals_reshape_expand(shape: tuple[int, ...], dims: tuple[int, ...],
                                           keepdim: bool) -> None:
    x = RNG.standard_normal(shape)
    g = np.sum(x, axis=dims, keepdims=keepdim) * 1.5
    fused = ExpandBack.apply(_t(g, False), shape, dims)
    kept = tuple(1 if i in dims else s for i, s in enumerate(shape))
    composed = _t(g, False).reshape(kept).expand(shape)
    np.testing.assert_array_equal(fused.numpy(), composed.numpy())
    assert not fused.numpy().flags.writeable  # a broadcast view, as expand's
    # its own VJP: summed back over dims, to g's shape
    assert gradcheck(lambda t: ExpandBack.apply(t, shape, dims) * ember.tensor(x), (_t(g),))
    assert gradgradcheck(lambda t: ExpandBack.apply(t * t, shape, dims), (_t(g),))


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("dim", [None, 0, (0, 2)])
def test_reduction_grads_match_torch(reduce: str, dim: object) -> None:
    x = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    w = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    e, t = _t(x), torch.tensor(x, requires_grad=True)
    ew, tw = ember.tensor(w), torch.tensor(w)
    ke = {} if dim is None else {"dim": dim}
    (getattr(e * ew, reduce)(**ke) ** 2).sum().backward()
    (getattr(t * tw, reduce)(**ke) ** 2).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("gshape", "shape"), [
    ((4, 3), (3,)), ((4, 3), (1, 3)), ((2, 4, 3), (4, 1)), ((2, 4, 3), (1, 1, 3)), ((5,), ()),
])
def test_sum_to_equals_composed(gshape: tuple[int, ...], shape: tuple[int, ...]) -> None:
    g = RNG.standard_normal(gshape)
    fused = sum_to_shape(_t(g, False), shape)
    lead = len(gshape) - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and gshape[lead + i] != 1)
    composed = _t(g, False).sum(dims, keepdim=True).reshape(shape)
    np.testing.assert_array_equal(fused.numpy(), composed.numpy())
    assert gradcheck(lambda t: SumTo.apply(t, dims, shape) ** 2, (_t(g),))
    assert gradgradcheck(lambda t: SumTo.apply(t * t, dims, shape), (_t(g),))


def test_broadcast_add_grads_match_torch() -> None:
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    b = RNG.standard_normal((3,)).astype(np.float32)
    c = RNG.standard_normal((4, 1)).astype(np.float32)
    es = [_t(a) for a in (x, b, c)]
    ts = [torch.tensor(a, requires_grad=True) for a in (x, b, c)]
    ((es[0] + es[1] + es[2]) ** 2).sum().backward()
    ((ts[0] + ts[1] + ts[2]) ** 2).sum().backward()
    for e, t in zip(es, ts):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_no_grad_ops_save_nothing() -> None:
    """Without recording, forwards are told no input needs grad, so they keep nothing."""
    w = _t(RNG.standard_normal((3, 3)))
    with ember.no_grad():
        y = w * w
    assert y.grad_fn is None and not y.requires_grad
    y = w * w  # recorded: saves both sides
    assert y.grad_fn.needs_input_grad == (True, True)
    assert all(s is not None for s in y.grad_fn._saved)


# ---- fused linear ----------------------------------------------------------------------------
@pytest.mark.parametrize("xshape", [(7, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_equals_composed_and_torch(xshape: tuple[int, ...], bias: bool) -> None:
    from ember.ops.linalg import Linear

    x = RNG.standard_normal(xshape).astype(np.float32)
    w = RNG.standard_normal((4, 5)).astype(np.float32)
    b = RNG.standard_normal((4,)).astype(np.float32)
    g = RNG.standard_normal(xshape[:-1] + (4,)).astype(np.float32)
    fused_in = [_t(x), _t(w), _t(b) if bias else None]
    comp_in = [_t(x), _t(w), _t(b) if bias else None]
    torch_in = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = Linear.apply(*fused_in)
    yc = ember.matmul(comp_in[0], comp_in[1].t())
    yc = yc + comp_in[2] if bias else yc
    yt = torch.nn.functional.linear(*torch_in[:2], torch_in[2] if bias else None)
    np.testing.assert_array_equal(y.detach().numpy(), yc.detach().numpy())
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    (y * ember.tensor(g)).sum().backward()
    (yc * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    for f, c, t in zip(fused_in, comp_in, torch_in):
        if f is None:
            continue
        np.testing.assert_allclose(f.grad.numpy(), c.grad.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert fused_in[1].grad.numpy().flags.c_contiguous  # dW in W's layout


def test_linear_float64_gradcheck() -> None:
    from ember.ops.linalg import Linear

    x, w, b = (_t(RNG.standard_normal(s)) for s in ((2, 3, 5), (4, 5), (4,)))
    assert gradcheck(lambda x, w, b: Linear.apply(x, w, b), (x, w, b))
    assert gradgradcheck(lambda x, w, b: Linear.apply(x, w, b), (x, w, b))


def test_functional_linear_uses_fused_path_only_when_it_can() -> None:
    x, w = _t(RNG.standard_normal((3, 5))), _t(RNG.standard_normal((4, 5)))
    assert ember.nn.functional.linear(x, w).grad_fn.name() == "LinearBackward0"
    b64 = _t(RNG.standard_normal((4,)).astype(np.float32))  # mixed dtypes: composed, promoted
    out = ember.nn.functional.linear(x, w, b64)
    assert out.dtype == ember.float64 and out.grad_fn.name() != "LinearBackward0"


# ---- leaves keeping their gradient's array -----------------------------------------------------
def test_sole_owner() -> None:
    from ember.autograd.engine import _COUNTS_REFS, _sole_owner

    t = ember.Tensor._make(np.ones(3))
    assert _sole_owner(t) == _COUNTS_REFS
    u = t.detach()  # a second Tensor on the same array
    assert not _sole_owner(t)
    del u
    assert _sole_owner(t) == _COUNTS_REFS
    assert not _sole_owner(ember.Tensor._make(np.ones(4)[1:]))  # a view


def test_leaf_grads_never_alias() -> None:
    """One gradient Tensor reaching two leaves (add's VJP), or a retained grad, is copied."""
    a, b, c = (_t(RNG.standard_normal(3)) for _ in range(3))
    h = a + b
    h.retain_grad()
    (h * c).sum().backward()
    arrays = [a.grad.numpy(), b.grad.numpy(), h.grad.numpy(), c.grad.numpy()]
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            assert not np.shares_memory(arrays[i], arrays[j])
    before = b.grad.numpy().copy()
    a.grad.add_(1.0)
    np.testing.assert_array_equal(b.grad.numpy(), before)
    np.testing.assert_array_equal(h.grad.numpy(), c.detach().numpy())


def test_kept_gradient_is_the_leafs_own() -> None:
    """A fresh gradient kept as .grad: later accumulation and the next graph stay correct."""
    w = _t(RNG.standard_normal((4, 5)).astype(np.float32))
    x = ember.tensor(RNG.standard_normal((3, 5)).astype(np.float32))
    ember.nn.functional.linear(x, w).sum().backward()
    first = w.grad.numpy().copy()
    ember.nn.functional.linear(x, w).sum().backward()  # accumulates in place
    np.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-6)
    wt = torch.tensor(w.detach().numpy(), requires_grad=True)
    for _ in range(2):
        torch.nn.functional.linear(torch.tensor(x.numpy()), wt).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-6)
