"""Parity of every loss (functional and module) against torch: options, reductions, stability."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
from tests.helpers import check

R = np.random.default_rng(0)
RED = ["none", "mean", "sum"]
X = R.standard_normal((4, 5))
Y = np.array([0, 3, 4, 1])
W = R.uniform(0.5, 2.0, 5)


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore", [-100, 3])
def test_cross_entropy_indices(reduction: str, weight: bool, smoothing: float,
                               ignore: int) -> None:
    def fn(lib, x, y):  # type: ignore[no-untyped-def]
        return lib.nn.functional.cross_entropy(x, y, weight=lib.tensor(W) if weight else None,
                                               ignore_index=ignore, reduction=reduction,
                                               label_smoothing=smoothing)
    check(fn, X, Y)


@pytest.mark.parametrize("reduction", RED)
def test_cross_entropy_extra_dims_and_unbatched(reduction: str) -> None:
    x = R.standard_normal((2, 3, 4, 2))
    y = R.integers(0, 3, (2, 4, 2))
    y[0, 0, 0] = -100
    check(lambda lib, a, t: lib.nn.functional.cross_entropy(
        a, t, lib.tensor(W[:3]), reduction=reduction, label_smoothing=0.1), x, y)
    check(lambda lib, a, t: lib.nn.functional.cross_entropy(a, t, reduction=reduction), X[0],
          np.array(2))


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probabilities(reduction: str, smoothing: float) -> None:
    p = R.uniform(size=(4, 5))
    p /= p.sum(1, keepdims=True)
    check(lambda lib, a, t: lib.nn.functional.cross_entropy(
        a, t, lib.tensor(W), reduction=reduction, label_smoothing=smoothing), X, p)
    x3, p3 = R.standard_normal((2, 3, 4)), R.uniform(size=(2, 3, 4))
    check(lambda lib, a, t: lib.nn.functional.cross_entropy(a, t, reduction=reduction), x3, p3)


def test_cross_entropy_float32_and_huge_logits() -> None:
    check(lambda lib, a, t: lib.nn.functional.cross_entropy(a, t), X.astype(np.float32), Y)
    huge = np.array([[1e4, 0.0, -1e4], [0.0, 3e4, 1.0]], dtype=np.float32)
    t = np.array([1, 0])
    check(lambda lib, a, y: lib.nn.functional.cross_entropy(a, y, reduction="none"), huge, t)
    e = ember.tensor(huge, requires_grad=True)
    ember.nn.functional.cross_entropy(e, ember.tensor(t)).backward()
    assert np.isfinite(e.grad.numpy()).all()


def test_cross_entropy_all_ignored_and_errors() -> None:
    F = ember.nn.functional
    x, y = ember.tensor(X), ember.tensor([-100] * 4)
    assert np.isnan(float(F.cross_entropy(x, y)))
    assert float(F.cross_entropy(x, y, reduction="sum")) == 0.0
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Int"):
        F.cross_entropy(x, ember.tensor(Y, dtype=ember.int32))
    with pytest.raises(IndexError, match="Target 5 is out of bounds."):
        F.cross_entropy(x, ember.tensor([0, 5, 1, 1]))
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        F.cross_entropy(x, ember.tensor(Y), reduction="avg")


@pytest.mark.parametrize("reduction", RED)
def test_nll_loss(reduction: str) -> None:
    lp = np.log(R.uniform(0.1, 1, (4, 5)))
    check(lambda lib, a, t: lib.nn.functional.nll_loss(a, t, lib.tensor(W), ignore_index=1,
                                                       reduction=reduction), lp, Y)
    check(lambda lib, a, t: lib.nn.functional.nll_loss(a, t, reduction=reduction), lp, Y)
    assert abs(float(ember.nn.functional.nll_loss(ember.tensor([[0.2, 0.8]]),
                                                  ember.tensor([1]))) + 0.8) < 1e-7


@pytest.mark.parametrize("reduction", RED)
def test_regression_losses(reduction: str) -> None:
    a, b = R.standard_normal((3, 4)), R.standard_normal((3, 4))
    b[0, 0] = a[0, 0]  # l1's gradient at a == b is 0
    F = "nn.functional"
    assert F
    check(lambda lib, x, y: lib.nn.functional.mse_loss(x, y, reduction=reduction), a, b)
    check(lambda lib, x, y: lib.nn.functional.l1_loss(x, y, reduction=reduction), a, b, fd=False)
    for beta in (1.0, 0.5, 0.0):
        check(lambda lib, x, y: lib.nn.functional.smooth_l1_loss(x, y, reduction=reduction,
                                                                  beta=beta), a, b, fd=False)
    for delta in (1.0, 2.0):
        check(lambda lib, x, y: lib.nn.functional.huber_loss(x, y, reduction=reduction,
                                                             delta=delta), a, b, fd=False)
    check(lambda lib, x, y: lib.nn.functional.mse_loss(x, y, reduction=reduction),
          a.astype(np.float32), b.astype(np.float32))


def test_regression_values_and_warning() -> None:
    F = ember.nn.functional
    a, b = ember.tensor([1.0, 2.0, 3.0]), ember.tensor([2.0, 2.0, 5.0])
    assert abs(float(F.mse_loss(a, b)) - 5 / 3) < 1e-6
    np.testing.assert_allclose(F.smooth_l1_loss(ember.tensor([0.5, 3.0]), ember.zeros(2),
                                                reduction="none").numpy(), [0.125, 2.5])
    with pytest.warns(UserWarning, match="Using a target size"):
        F.mse_loss(ember.zeros(3, 1), ember.zeros(3))


@pytest.mark.parametrize("reduction", RED)
def test_binary_cross_entropy(reduction: str) -> None:
    p, y = R.uniform(0.05, 0.95, (3, 4)), R.uniform(size=(3, 4))
    w = R.uniform(size=(3, 4))
    check(lambda lib, a, t: lib.nn.functional.binary_cross_entropy(a, t, reduction=reduction),
          p, y)
    check(lambda lib, a, t: lib.nn.functional.binary_cross_entropy(
        a, t, lib.tensor(w.astype(np.float32)), reduction=reduction), p.astype(np.float32),
        y.astype(np.float32))
    edge = np.array([0.9, 0.2, 0.0, 1.0])
    check(lambda lib, a, t: lib.nn.functional.binary_cross_entropy(a, t, reduction="none"),
          edge, np.array([1.0, 0.0, 1.0, 0.0]), fd=False)
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        ember.nn.functional.binary_cross_entropy(ember.tensor([1.5]), ember.tensor([1.0]))
    with pytest.raises(ValueError, match="that is different to the input size"):
        ember.nn.functional.binary_cross_entropy(ember.ones(1, 1) * 0.5, ember.ones(1))


@pytest.mark.parametrize("reduction", RED)
def test_bce_with_logits(reduction: str) -> None:
    z, y = R.standard_normal((3, 4)) * 3, R.uniform(size=(3, 4))
    w, pw = R.uniform(size=(3, 4)), R.uniform(0.5, 3, 4)
    check(lambda lib, a, t: lib.nn.functional.binary_cross_entropy_with_logits(
        a, t, reduction=reduction), z, y)
    check(lambda lib, a, t: lib.nn.functional.binary_cross_entropy_with_logits(
        a, t, lib.tensor(w), reduction=reduction, pos_weight=lib.tensor(pw)), z, y)
    zero = np.array([0.0, 30.0, -30.0, 1e4, -1e4])
    check(lambda lib, a, t: lib.nn.functional.binary_cross_entropy_with_logits(
        a, t, reduction="none"), zero, np.array([1.0, 0.0, 1.0, 0.0, 1.0]), fd=False)
    with pytest.raises(ValueError, match="must be the same as input size"):
        ember.nn.functional.binary_cross_entropy_with_logits(ember.zeros(3, 1), ember.zeros(3))


@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction: str, log_target: bool) -> None:
    lq = np.log(R.dirichlet(np.ones(4), 3))
    p = R.dirichlet(np.ones(4), 3)
    p[0, 1] = 0.0
    tgt = np.log(p + 1e-3) if log_target else p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, a, t: lib.nn.functional.kl_div(a, t, reduction=reduction,
                                                         log_target=log_target), lq, tgt,
              fd=log_target)  # a zero target has no two-sided neighbourhood
    v = ember.nn.functional.kl_div(ember.tensor([[np.log(0.5)] * 2]), ember.tensor([[0.9, 0.1]]),
                                   reduction="batchmean")
    assert abs(float(v) - 0.36806) < 1e-5


@pytest.mark.parametrize("reduction", RED)
def test_margin_losses(reduction: str) -> None:
    a, b = R.standard_normal((4, 3)), R.standard_normal((4, 3))
    s = np.array([1.0, -1.0, -1.0, 1.0])
    check(lambda lib, x, y: lib.nn.functional.cosine_embedding_loss(
        x, y, lib.tensor(s), margin=0.1, reduction=reduction), a, b)
    check(lambda lib, x, y: lib.nn.functional.margin_ranking_loss(
        x, y, lib.tensor(s), margin=0.2, reduction=reduction), a[:, 0], b[:, 0])
    check(lambda lib, x: lib.nn.functional.soft_margin_loss(x, lib.tensor(s),
                                                           reduction=reduction), a[:, 0])
    check(lambda lib, x: lib.nn.functional.hinge_embedding_loss(x, lib.tensor(s),
                                                               reduction=reduction), a[:, 0])


def test_poisson_and_gaussian_nll() -> None:
    a, t = R.standard_normal((3, 4)), R.uniform(0.5, 4, (3, 4))
    check(lambda lib, x, y: lib.nn.functional.poisson_nll_loss(x, y), a, t)
    check(lambda lib, x, y: lib.nn.functional.poisson_nll_loss(x, y, log_input=False, full=True),
          np.abs(a) + 0.1, t)
    v = R.uniform(0.5, 2, (3, 4))
    check(lambda lib, x, y, vv: lib.nn.functional.gaussian_nll_loss(x, y, vv, full=True), a, t, v)


def _pair(cls: str, *args, **kw):  # type: ignore[no-untyped-def]
    return getattr(ember.nn, cls)(*args, **kw), getattr(torch.nn, cls)(*args, **kw)


def test_loss_modules_match_functional() -> None:
    x, y = ember.tensor(X, requires_grad=True), ember.tensor(Y)
    tx, ty = torch.tensor(X, requires_grad=True), torch.tensor(Y)
    e, t = ember.nn.CrossEntropyLoss(weight=ember.tensor(W), label_smoothing=0.1,
                                     ignore_index=4), \
        torch.nn.CrossEntropyLoss(weight=torch.tensor(W), label_smoothing=0.1, ignore_index=4)
    np.testing.assert_allclose(float(e(x, y)), t(tx, ty).item(), rtol=1e-12)
    assert list(e.state_dict()) == list(t.state_dict()) == ["weight"]
    e2, t2 = (ember.nn.BCEWithLogitsLoss(pos_weight=ember.tensor(W)),
              torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(W)))
    assert list(e2.state_dict()) == list(t2.state_dict())
    yy = R.uniform(size=(4, 5))
    np.testing.assert_allclose(float(e2(x, ember.tensor(yy))), t2(tx, torch.tensor(yy)).item(),
                               rtol=1e-12)
    for name, kw in [("MSELoss", {}), ("L1Loss", {"reduction": "sum"}),
                     ("SmoothL1Loss", {"beta": 0.5}), ("HuberLoss", {"delta": 0.5}),
                     ("SoftMarginLoss", {})]:
        em, tm = _pair(name, **kw)
        assert repr(em) == repr(tm)
        b = R.standard_normal((4, 5)) if name != "SoftMarginLoss" else np.sign(X)
        np.testing.assert_allclose(float(em(x, ember.tensor(b))), tm(tx, torch.tensor(b)).item(),
                                   rtol=1e-12)
    p = R.uniform(0.1, 0.9, (4, 5))
    np.testing.assert_allclose(float(ember.nn.BCELoss()(ember.tensor(p), ember.tensor(p))),
                               float(torch.nn.BCELoss()(torch.tensor(p), torch.tensor(p))))
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert ember.nn.MSELoss(size_average=False).reduction == "sum"
    lp = np.log(R.dirichlet(np.ones(5), 4))
    np.testing.assert_allclose(
        float(ember.nn.NLLLoss()(ember.tensor(lp), y)),
        float(torch.nn.NLLLoss()(torch.tensor(lp), ty)), rtol=1e-12)
    np.testing.assert_allclose(
        float(ember.nn.KLDivLoss(reduction="batchmean")(ember.tensor(lp), ember.tensor(p))),
        float(torch.nn.KLDivLoss(reduction="batchmean")(torch.tensor(lp), torch.tensor(p))),
        rtol=1e-12)


@pytest.mark.parametrize("reduction", RED)
def test_fused_cross_entropy_matches_composed_reference(reduction: str) -> None:
    """The fused primitive vs nll_loss(log_softmax(x)): values, gradients, second order."""
    F = ember.nn.functional
    x = R.standard_normal((3, 4, 2))
    y = ember.tensor(np.array([[0, 3], [-100, 1], [2, 2]]))
    w = ember.tensor(R.uniform(0.5, 2, 4))
    outs = []
    for fused in (True, False):
        a = ember.tensor(x, requires_grad=True)
        loss = (F.cross_entropy(a, y, w, reduction=reduction) if fused
                else F.nll_loss(F.log_softmax(a, 1), y, w, reduction=reduction))
        (g,) = ember.autograd.grad(loss.sum(), a, create_graph=True)
        (gg,) = ember.autograd.grad((g * g).sum(), a)
        outs.append((loss.detach().numpy(), g.detach().numpy(), gg.numpy()))
    for f, c in zip(*outs):
        np.testing.assert_allclose(f, c, rtol=1e-10, atol=1e-12)


def test_shape_and_dtype_errors_match_torch() -> None:
    F = ember.nn.functional
    with pytest.raises(ValueError, match=r"Expected input batch_size \(2\) to match target "
                       r"batch_size \(3\)"):
        F.cross_entropy(ember.zeros(2, 3), ember.zeros(3, dtype=ember.int64))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 4\], got \[2, 5\]"):
        F.cross_entropy(ember.zeros(2, 3, 4), ember.zeros(2, 5, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output "
                       "type Long"):
        F.binary_cross_entropy_with_logits(ember.ones(2), ember.ones(2, dtype=ember.int64))
    e = F.cross_entropy(ember.ones(2, 3), ember.ones(2, 3, dtype=ember.float64))
    assert e.dtype == ember.float64
    assert np.isnan(float(F.cross_entropy(ember.zeros(0, 3), ember.zeros(0, dtype=ember.int64))))
