"""Parity of nn.functional activations, linear, dropout, embedding and normalisation vs torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.helpers import check

R = np.random.default_rng(0)
X64 = R.standard_normal((3, 4)) * 3  # float64, spans every activation's kinks
X32 = X64.astype(np.float32)

ACTS = [
    ("relu", {}), ("relu6", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.2}),
    ("elu", {}), ("elu", {"alpha": 0.5}), ("selu", {}), ("celu", {"alpha": 2.0}),
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("mish", {}),
    ("sigmoid", {}), ("tanh", {}), ("softplus", {}), ("softplus", {"beta": 2, "threshold": 3}),
    ("hardtanh", {}), ("hardtanh", {"min_val": -2.0, "max_val": 0.5}), ("hardswish", {}),
    ("hardsigmoid", {}), ("logsigmoid", {}), ("softsign", {}), ("tanhshrink", {}),
    ("hardshrink", {}), ("softshrink", {"lambd": 1.0}),
]


@pytest.mark.parametrize("name,kw", ACTS, ids=[f"{n}{k}" for n, k in ACTS])
@pytest.mark.parametrize("x", [X64, X32], ids=["f64", "f32"])
def test_activation(name: str, kw: dict, x: np.ndarray) -> None:
    check(lambda lib, a: getattr(lib.nn.functional, name)(a, **kw), x)


@pytest.mark.parametrize("name", ["relu", "relu6", "leaky_relu", "elu", "hardtanh", "hardswish",
                                  "hardsigmoid", "softplus", "silu", "logsigmoid"])
def test_activation_at_kinks(name: str) -> None:
    x = np.array([-6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 20.0, 21.0])
    check(lambda lib, a: getattr(lib.nn.functional, name)(a), x, fd=False)


def test_activation_values_and_stability() -> None:
    F = ember.nn.functional
    x = ember.tensor([-1.0, 0.0, 1.0])
    np.testing.assert_allclose(F.gelu(x).numpy(), [-0.158655, 0, 0.841345], atol=1e-6)
    assert float(F.logsigmoid(ember.tensor(-100.0))) == -100.0
    big = ember.tensor([1000.0, -1000.0], requires_grad=True)
    F.logsigmoid(big).sum().backward()
    assert np.isfinite(big.grad.numpy()).all()
    np.testing.assert_allclose(F.log_softmax(ember.tensor([1000.0, 0.0]), 0).numpy(), [0, -1000])


def test_inplace_activations_return_input() -> None:
    F = ember.nn.functional
    for fn in (F.relu, F.leaky_relu, F.elu, F.hardtanh, F.relu6, F.silu):
        x = ember.tensor([-1.0, 2.0])
        assert fn(x, inplace=True) is x
        expect = getattr(torch.nn.functional, fn.__name__)(torch.tensor([-1.0, 2.0]))
        np.testing.assert_allclose(x.numpy(), expect.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_softmax_family(name: str) -> None:
    x = R.standard_normal((2, 3, 4))
    for dim in (0, 1, -1):
        check(lambda lib, a: getattr(lib.nn.functional, name)(a, dim=dim), x)
    check(lambda lib, a: getattr(lib.nn.functional, name)(a, 1, dtype=lib.float64),
          x.astype(np.float32), fd=False)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        e = getattr(ember.nn.functional, name)(ember.tensor(x))
    with pytest.warns(UserWarning):
        t = getattr(torch.nn.functional, name)(torch.tensor(x))
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12)


def test_glu_threshold_prelu() -> None:
    x = R.standard_normal((2, 4, 3))
    check(lambda lib, a: lib.nn.functional.glu(a), x[..., :2])
    check(lambda lib, a: lib.nn.functional.glu(a, dim=1), x)
    check(lambda lib, a: lib.nn.functional.threshold(a, 0.1, 20.0), x)
    check(lambda lib, a, w: lib.nn.functional.prelu(a, w), x, np.array([0.25, -0.1, 0.5, 2.0]))
    check(lambda lib, a, w: lib.nn.functional.prelu(a, w), x, np.array([0.25]))
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        ember.nn.functional.glu(ember.tensor(x))


def test_linear_and_bilinear() -> None:
    x, w, b = R.standard_normal((2, 3, 4)), R.standard_normal((5, 4)), R.standard_normal(5)
    check(lambda lib, a, ww, bb: lib.nn.functional.linear(a, ww, bb), x, w, b)
    check(lambda lib, a, ww: lib.nn.functional.linear(a, ww), x[0, 0], w)
    check(lambda lib, a, ww, bb: lib.nn.functional.linear(a, ww, bb), X32[:, :4],
          w.astype(np.float32), b.astype(np.float32))
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x2 and "
                       r"3x2\)"):
        ember.nn.functional.linear(ember.zeros(4, 2), ember.zeros(2, 3))
    x1, x2 = R.standard_normal((2, 3, 4)), R.standard_normal((2, 3, 2))
    wb, bb = R.standard_normal((5, 4, 2)), R.standard_normal(5)
    check(lambda lib, a, c, ww, bias: lib.nn.functional.bilinear(a, c, ww, bias), x1, x2, wb, bb)


def test_distances() -> None:
    a, b = R.standard_normal((3, 5)), R.standard_normal((3, 5))
    F = "nn.functional"
    check(lambda lib, x: lib.nn.functional.normalize(x), a)
    check(lambda lib, x: lib.nn.functional.normalize(x, p=1.0, dim=0), a)
    check(lambda lib, x, y: lib.nn.functional.cosine_similarity(x, y), a, b)
    check(lambda lib, x, y: lib.nn.functional.cosine_similarity(x, y, dim=0), a, b[:1])
    check(lambda lib, x, y: lib.nn.functional.pairwise_distance(x, y), a, b)
    check(lambda lib, x, y: lib.nn.functional.pairwise_distance(x, y, p=1.0, keepdim=True), a, b)
    assert F


def test_one_hot() -> None:
    t = np.array([[0, 2], [1, 3]])
    check(lambda lib, x: lib.nn.functional.one_hot(x), t)
    check(lambda lib, x: lib.nn.functional.one_hot(x, 6), t)
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        ember.nn.functional.one_hot(ember.tensor(t), 2)


def test_dropout() -> None:
    F = ember.nn.functional
    x = ember.ones(1000)
    y = F.dropout(x, 0.25)  # training defaults to True
    vals = set(np.unique(y.numpy()).tolist())
    assert vals == {0.0, np.float32(1 / 0.75).item()}
    assert 0.15 < float((y == 0).float().mean()) < 0.35
    assert F.dropout(x, 0.5, training=False) is x
    assert float(F.dropout(x, 1.0).abs().sum()) == 0
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got "
                       "1.5"):
        F.dropout(x, 1.5)
    g = ember.ones(200, requires_grad=True)
    out = F.dropout(g, 0.5)
    out.sum().backward()
    np.testing.assert_array_equal(g.grad.numpy(), out.detach().numpy())
    z = ember.ones(2, 3)
    assert F.dropout(z, 0.5, inplace=True) is z
    c = F.dropout2d(ember.ones(4, 8, 5, 5), 0.5)  # whole channels
    per_channel = c.numpy().reshape(32, 25)
    assert all(len(np.unique(r)) == 1 for r in per_channel)
    c1 = F.dropout1d(ember.ones(4, 8, 5), 0.5).numpy().reshape(32, 5)
    assert all(len(np.unique(r)) == 1 for r in c1)


def test_embedding() -> None:
    w = R.standard_normal((6, 3))
    idx = np.array([[0, 2, 2], [5, 1, 2]])
    check(lambda lib, i, ww: lib.nn.functional.embedding(i, ww), idx, w)
    check(lambda lib, i, ww: lib.nn.functional.embedding(i, ww, padding_idx=2), idx, w)
    check(lambda lib, i, ww: lib.nn.functional.embedding(i, ww, padding_idx=-1), idx, w)
    check(lambda lib, i, ww: lib.nn.functional.embedding(i, ww, padding_idx=0,
                                                         scale_grad_by_freq=True), idx, w)
    with pytest.raises(IndexError, match="index out of range in self"):
        ember.nn.functional.embedding(ember.tensor([6]), ember.tensor(w))
    with pytest.raises(RuntimeError, match="'indices' to have one of the following scalar types"):
        ember.nn.functional.embedding(ember.tensor([1.0]), ember.tensor(w))


def test_embedding_max_norm_renormalises_weight() -> None:
    w = R.standard_normal((6, 3)) * 3
    ew, tw = ember.tensor(w.copy()), torch.tensor(w.copy())
    idx = [[0, 1], [1, 4]]
    e = ember.nn.functional.embedding(ember.tensor(idx), ew, max_norm=1.0)
    t = torch.nn.functional.embedding(torch.tensor(idx), tw, max_norm=1.0)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ew.numpy(), tw.numpy(), rtol=1e-6)


@pytest.mark.parametrize("x", [X64, X32], ids=["f64", "f32"])
def test_layer_norm(x: np.ndarray) -> None:
    x3 = np.stack([x, x * 2 + 1])  # (2, 3, 4)
    w, b = R.standard_normal(4).astype(x.dtype), R.standard_normal(4).astype(x.dtype)
    check(lambda lib, a, ww, bb: lib.nn.functional.layer_norm(a, (4,), ww, bb), x3, w, b)
    check(lambda lib, a: lib.nn.functional.layer_norm(a, [3, 4], eps=1e-3), x3)
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[5\], expected input with "
                       r"shape \[\*, 5\], but got input of size\[2, 3, 4\]"):
        ember.nn.functional.layer_norm(ember.tensor(x3), [5])


def test_rms_and_group_norm() -> None:
    x = R.standard_normal((2, 6, 3))
    w = R.standard_normal(3)
    check(lambda lib, a, ww: lib.nn.functional.rms_norm(a, (3,), ww), x, w)
    check(lambda lib, a: lib.nn.functional.rms_norm(a, [6, 3], eps=1e-4), x)
    check(lambda lib, a: lib.nn.functional.rms_norm(a, [3]), x.astype(np.float32))
    gw, gb = R.standard_normal(6), R.standard_normal(6)
    check(lambda lib, a, ww, bb: lib.nn.functional.group_norm(a, 3, ww, bb), x, gw, gb)
    check(lambda lib, a: lib.nn.functional.group_norm(a, 2), x[..., None])


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2), (2, 3, 2, 2)])
def test_batch_norm_functional(shape: tuple[int, ...]) -> None:
    x = R.standard_normal(shape)
    w, b = R.standard_normal(3), R.standard_normal(3)
    rm, rv = np.zeros(3), np.ones(3)
    check(lambda lib, a, ww, bb: lib.nn.functional.batch_norm(
        a, lib.tensor(rm), lib.tensor(rv), ww, bb, training=True), x, w, b)
    check(lambda lib, a, ww, bb: lib.nn.functional.batch_norm(
        a, lib.tensor(rm + 0.5), lib.tensor(rv * 2), ww, bb), x, w, b)
    erm, erv = ember.zeros(3, dtype=ember.float64), ember.ones(3, dtype=ember.float64)
    trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    ember.nn.functional.batch_norm(ember.tensor(x), erm, erv, training=True, momentum=0.3)
    torch.nn.functional.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.3)
    np.testing.assert_allclose(erm.numpy(), trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(erv.numpy(), trv.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        ember.nn.functional.batch_norm(ember.zeros(1, 3), None, None, training=True)


@pytest.mark.parametrize("affine", [True, False])
def test_fused_layer_norm_matches_composed_reference(affine: bool) -> None:
    """The fused primitive vs the composed formula: values, gradients and second order."""
    from ember.nn.functional import normalization as N

    x = R.standard_normal((2, 3, 4)) * 2 + 1
    w0, b0 = R.standard_normal((3, 4)), R.standard_normal((3, 4))
    outs = []
    for fused in (True, False):
        a = ember.tensor(x, requires_grad=True)
        w = ember.tensor(w0, requires_grad=True) if affine else None
        b = ember.tensor(b0, requires_grad=True) if affine else None
        out = (N.layer_norm(a, (3, 4), w, b) if fused
               else N._layer_norm_composed(a, 2, w, b, 1e-5))
        cot = ember.tensor(R.standard_normal(x.shape) if fused else outs[0][-1])
        ins = [t for t in (a, w, b) if t is not None]
        grads = ember.autograd.grad((out * cot).sum(), ins, create_graph=True)
        second = ember.autograd.grad(sum((g * g).sum() for g in grads), ins[:2])  # b is linear
        outs.append([out.detach().numpy(), *[g.detach().numpy() for g in grads],
                     *[s.numpy() for s in second], cot.numpy()])
    for f, c in zip(*outs):
        np.testing.assert_allclose(f, c, rtol=1e-9, atol=1e-10)


def test_fused_batch_norm_matches_composed_reference() -> None:
    """Training-mode batch_norm (fused) vs the biased formula written out: values, gradients,
    second order and the running-stat update."""
    x0, w0, b0 = R.standard_normal((4, 3, 2, 2)) * 2, R.standard_normal(3), R.standard_normal(3)
    outs = []
    for fused in (True, False):
        x, w, b = (ember.tensor(v, requires_grad=True) for v in (x0, w0, b0))
        rm, rv = ember.zeros(3, dtype=ember.float64), ember.ones(3, dtype=ember.float64)
        if fused:
            out = ember.nn.functional.batch_norm(x, rm, rv, w, b, training=True)
        else:
            mean = x.mean((0, 2, 3), keepdim=True)
            var = ((x - mean) ** 2).mean((0, 2, 3), keepdim=True)
            out = ((x - mean) / ember.sqrt(var + 1e-5) * w.reshape(1, 3, 1, 1)
                   + b.reshape(1, 3, 1, 1))
            n = 16
            rm = 0.1 * mean.detach().reshape(3)
            rv = 0.9 + 0.1 * var.detach().reshape(3) * n / (n - 1)
        cot = ember.tensor(np.cos(np.arange(48.0)).reshape(4, 3, 2, 2))
        grads = ember.autograd.grad((out * cot).sum(), [x, w, b], create_graph=True)
        second = ember.autograd.grad(sum((g * g).sum() for g in grads[:2]), [x, w])
        outs.append([out.detach().numpy(), rm.numpy(), rv.numpy(),
                     *[g.detach().numpy() for g in grads], *[s.numpy() for s in second]])
    for f, c in zip(*outs):
        np.testing.assert_allclose(f, c, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", ["relu", "elu", "leaky_relu", "hardtanh", "silu", "selu", "celu",
                                  "relu6", "hardswish", "hardsigmoid", "mish"])
def test_inplace_on_non_leaf_backpropagates_as_torch(name: str) -> None:
    grads = []
    for lib in (ember, torch):
        a = lib.tensor([-4.0, -1.0, 0.5, 2.0, 4.0], requires_grad=True)
        x = a * 1.0
        y = getattr(lib.nn.functional, name)(x, inplace=True)
        assert y is x
        (y * lib.tensor([1.0, 2.0, 3.0, 4.0, 5.0])).sum().backward()
        grads.append(a.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1.3e-6, atol=1e-5)
