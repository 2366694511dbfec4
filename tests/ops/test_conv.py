"""The window primitives: Unfold/Fold are adjoint, gather/scatter and take/take-add likewise,
and double backward works through them."""

from __future__ import annotations

import numpy as np
import torch

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.ops.conv import ConstantPad, Fold, GatherFlat, ScatterFlat, Take, TakeAdd, Unfold

RNG = np.random.default_rng(0)
ARGS = ((2, 2), (1, 2), (2, 1), (1, 0), (4, 3))  # kernel, dilation, stride, left pad, out


def _t(shape: tuple[int, ...]) -> ember.Tensor:
    return ember.tensor(RNG.standard_normal(shape), requires_grad=True)


def test_unfold_matches_torch_and_fold_is_its_adjoint() -> None:
    x = _t((2, 2, 6, 5))
    cols = Unfold.apply(x, *ARGS)
    ref = torch.nn.functional.unfold(torch.from_numpy(x.detach().numpy()), (2, 2), (1, 2),
                                     (1, 0), (2, 1))
    np.testing.assert_array_equal(cols.detach().numpy(), ref.numpy())
    c = RNG.standard_normal(tuple(cols.shape))
    back = Fold.apply(ember.tensor(c), (6, 5), *ARGS).numpy()
    # <unfold(x), c> == <x, fold(c)>
    lhs = float(np.sum(cols.detach().numpy() * c))
    rhs = float(np.sum(x.detach().numpy() * back))
    assert abs(lhs - rhs) < 1e-9 * max(1.0, abs(lhs))


def test_unfold_fold_double_backward() -> None:
    x = _t((1, 2, 6, 5))
    assert gradcheck(lambda t: Unfold.apply(t * t, *ARGS), (x,))
    assert gradgradcheck(lambda t: Unfold.apply(t * t, *ARGS), (x,))
    c = _t((1, 8, 12))
    assert gradgradcheck(lambda t: Fold.apply(t * t, (6, 5), *ARGS), (c,))


def test_gather_scatter_pair_with_repeats() -> None:
    x = _t((2, 3, 4))
    idx = RNG.integers(0, 4, size=(2, 3, 5))
    y = GatherFlat.apply(x, idx)
    np.testing.assert_array_equal(y.detach().numpy(),
                                  np.take_along_axis(x.detach().numpy(), idx, axis=2))
    assert gradgradcheck(lambda t: GatherFlat.apply(t * t, idx), (x,))
    g = _t((2, 3, 5))
    s = ScatterFlat.apply(g, idx, (2, 3, 4))
    ref = torch.zeros(2, 3, 4, dtype=torch.float64).scatter_add_(
        2, torch.from_numpy(idx), torch.from_numpy(g.detach().numpy()))
    np.testing.assert_allclose(s.detach().numpy(), ref.numpy(), rtol=1e-12)
    assert gradgradcheck(lambda t: ScatterFlat.apply(t * t, idx, (2, 3, 4)), (g,))


def test_take_and_take_add() -> None:
    x = _t((3, 4))
    idx = np.array([0, 0, 3, 2, 3])
    assert gradgradcheck(lambda t: Take.apply(t * t, 1, idx), (x,))
    g = _t((3, 5))
    out = TakeAdd.apply(g, 1, idx, 4).detach().numpy()
    ref = torch.zeros(3, 4, dtype=torch.float64).index_add_(
        1, torch.from_numpy(idx), torch.from_numpy(g.detach().numpy()))
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-12)


def test_constant_pad_grows_and_crops() -> None:
    x = _t((2, 3, 4))
    pads = ((0, 0), (1, -1), (-2, 3))
    y = ConstantPad.apply(x, pads, 1.5)
    ref = torch.nn.functional.pad(torch.from_numpy(x.detach().numpy()), (-2, 3, 1, -1),
                                  value=1.5)
    np.testing.assert_array_equal(y.detach().numpy(), ref.numpy())
    assert gradgradcheck(lambda t: ConstantPad.apply(t * t, pads, 0.0), (x,))


def test_gemm_layout_unfold_fold_and_conv_double_backward() -> None:
    x = _t((2, 2, 6, 5))
    cols = Unfold.apply(x, *ARGS, True)  # (C*K, N*L)
    ref = Unfold.apply(x, *ARGS).detach().numpy()  # (N, C*K, L)
    np.testing.assert_array_equal(cols.detach().numpy(),
                                  ref.transpose(1, 0, 2).reshape(8, 24))
    assert gradgradcheck(lambda t: Unfold.apply(t * t, *ARGS, True), (x,))
    c = _t((8, 24))
    assert gradgradcheck(lambda t: Fold.apply(t * t, (6, 5), *ARGS, True, 2), (c,))
    xs, w = _t((2, 2, 3, 3)), _t((2, 2, 2, 2))  # small: gradgradcheck is O(numel^2)
    conv = ember.nn.functional.conv2d
    assert gradgradcheck(lambda a, b: conv(a, b, stride=2, padding=1), (xs, w))
    conv_t = ember.nn.functional.conv_transpose2d
    assert gradgradcheck(lambda a, b: conv_t(a, b, stride=2, output_padding=1), (xs, w))
