"""Convolutions against torch: functional forms (every option) and the Conv layers."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import ember
from tests.helpers import assert_same, check

RNG = np.random.default_rng(0)


def _e(*shape: int) -> ember.Tensor:
    return ember.tensor(RNG.standard_normal(shape))


def _r(*shape: int, dtype: type = np.float64) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("kw", [
    {},
    {"stride": 2, "padding": 1},
    {"stride": (2, 1), "padding": (0, 2), "dilation": (1, 2)},
    {"padding": "valid"},
    {"padding": "same", "dilation": 2},
])
def test_conv2d_options(kw: dict) -> None:
    check(lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, **kw),
          _r(2, 3, 7, 6), _r(4, 3, 3, 2), _r(4))


def test_conv2d_groups_and_no_bias() -> None:
    check(lambda lib, x, w: lib.nn.functional.conv2d(x, w, groups=2, padding=1),
          _r(2, 4, 5, 5), _r(6, 2, 3, 3))
    check(lambda lib, x, w: lib.nn.functional.conv2d(x, w, groups=4),  # depthwise
          _r(1, 4, 5, 5), _r(4, 1, 3, 3))


def test_conv2d_same_even_kernel_pads_right() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, x, w: lib.nn.functional.conv2d(x, w, padding="same"),
              _r(1, 2, 5, 6), _r(3, 2, 4, 2))
    with pytest.warns(UserWarning, match="even kernel lengths"):
        ember.nn.functional.conv2d(ember.tensor(_r(1, 1, 4, 4)), ember.tensor(_r(1, 1, 2, 2)),
                                   padding="same")


def test_conv2d_unbatched_and_float32() -> None:
    check(lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, padding=1),
          _r(3, 5, 5, dtype=np.float32), _r(2, 3, 3, 3, dtype=np.float32),
          _r(2, dtype=np.float32))


def test_conv2d_cross_correlation_value() -> None:
    x = ember.tensor(np.arange(9.0).reshape(1, 1, 3, 3))
    w = ember.tensor(np.array([[[[1.0, 0.0], [0.0, 0.0]]]]))
    assert ember.nn.functional.conv2d(x, w).reshape(-1).tolist() == [0.0, 1.0, 3.0, 4.0]


def test_conv1d_and_conv3d() -> None:
    check(lambda lib, x, w, b: lib.nn.functional.conv1d(x, w, b, stride=2, padding=2,
                                                         dilation=2),
          _r(2, 3, 9), _r(4, 3, 3), _r(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch and ember both warn for the even kernel
        check(lambda lib, x, w: lib.nn.functional.conv1d(x, w, padding="same"), _r(3, 8),
              _r(2, 3, 4))
    check(lambda lib, x, w: lib.nn.functional.conv3d(x, w, padding=1, stride=(1, 2, 1)),
          _r(1, 2, 4, 5, 3), _r(3, 2, 2, 3, 2))


@pytest.mark.parametrize("kw", [
    {},
    {"stride": 2, "padding": 1, "output_padding": 1},
    {"stride": (2, 3), "padding": (0, 1), "dilation": (2, 1), "output_padding": (1, 0)},
    {"groups": 2, "stride": 2},
])
def test_conv_transpose2d(kw: dict) -> None:
    check(lambda lib, x, w, b: lib.nn.functional.conv_transpose2d(x, w, b, **kw),
          _r(2, 4, 4, 3), _r(4, 3, 3, 2), _r(3 * kw.get("groups", 1)))


def test_conv_transpose1d() -> None:
    check(lambda lib, x, w: lib.nn.functional.conv_transpose1d(x, w, stride=3, padding=1,
                                                                output_padding=2),
          _r(2, 3, 5), _r(3, 2, 4))


def test_unfold_fold() -> None:
    check(lambda lib, x: lib.nn.functional.unfold(x, (2, 3), dilation=(2, 1), padding=1,
                                                  stride=2), _r(2, 3, 6, 7))
    check(lambda lib, x: lib.nn.functional.fold(x, (4, 5), (2, 3), padding=1, stride=(1, 2)),
          _r(2, 12, 15))
    check(lambda lib, x: lib.nn.functional.fold(x, 4, 2), _r(8, 9))


@pytest.mark.parametrize("call, exc, msg", [
    (lambda F, x: F.conv2d(x, _e(2, 3, 3, 3)), RuntimeError, "to have 3 channels"),
    (lambda F, x: F.conv2d(x, _e(2, 4, 3, 3), padding="foo"), ValueError,
     "Invalid padding string 'foo'"),
    (lambda F, x: F.conv2d(x, _e(2, 4, 3, 3), padding="same", stride=2), ValueError,
     "not supported for strided convolutions"),
    (lambda F, x: F.conv2d(x, _e(2, 4, 9, 9)), RuntimeError, "Output size is too small"),
])
def test_conv_errors(call: object, exc: type, msg: str) -> None:
    x = _e(1, 4, 5, 5)
    with pytest.raises(exc, match=msg):
        call(ember.nn.functional, x)  # type: ignore[operator]


# ---- layers ------------------------------------------------------------------------------------
def _copy(e: ember.nn.Module, t: torch.nn.Module) -> None:
    for name, p in t.named_parameters():
        e.get_parameter(name).data = ember.tensor(p.detach().numpy().copy())


def _layer_parity(e: ember.nn.Module, t: torch.nn.Module, x: np.ndarray,
                  **call: object) -> None:
    _copy(e, t)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ye, yt = e(xe, **call), t(xt, **call)
    assert_same(ye, yt)
    cot = RNG.standard_normal(tuple(yt.shape)).astype(x.dtype)
    ye.backward(ember.tensor(cot))
    yt.backward(torch.from_numpy(cot))
    assert_same(xe.grad, xt.grad, what="input grad")
    for name, p in t.named_parameters():
        assert_same(e.get_parameter(name).grad, p.grad, what=f"grad of {name}")


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv2d_layer_padding_modes(mode: str) -> None:
    kw = dict(stride=(1, 2), padding=(1, 2), dilation=1, groups=2, padding_mode=mode)
    _layer_parity(ember.nn.Conv2d(4, 6, (3, 2), **kw), torch.nn.Conv2d(4, 6, (3, 2), **kw),
                  _r(2, 4, 6, 7, dtype=np.float32))


def test_conv2d_layer_same_circular() -> None:
    kw = dict(padding="same", padding_mode="circular", bias=False)
    _layer_parity(ember.nn.Conv2d(2, 3, 4, **kw), torch.nn.Conv2d(2, 3, 4, **kw),
                  _r(1, 2, 5, 6, dtype=np.float32))


def test_conv1d_and_transpose_layers() -> None:
    _layer_parity(ember.nn.Conv1d(3, 4, 3, padding=1, padding_mode="reflect"),
                  torch.nn.Conv1d(3, 4, 3, padding=1, padding_mode="reflect"),
                  _r(2, 3, 8, dtype=np.float32))
    kw = dict(stride=2, padding=1, output_padding=1, groups=1)
    _layer_parity(ember.nn.ConvTranspose2d(3, 2, 3, **kw), torch.nn.ConvTranspose2d(3, 2, 3, **kw),
                  _r(2, 3, 4, 4, dtype=np.float32))
    _layer_parity(ember.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1),
                  torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1),
                  _r(1, 3, 4, 4, dtype=np.float32), output_size=(8, 8))


def test_conv_layer_attributes_repr_state_dict_and_init() -> None:
    for args, kw in [((4, 6, 3), {}),
                     ((4, 6, (3, 2)), dict(stride=2, padding=1, groups=2, bias=False)),
                     ((2, 2, 4), dict(padding="same", dilation=2, padding_mode="reflect"))]:
        e, t = ember.nn.Conv2d(*args, **kw), torch.nn.Conv2d(*args, **kw)
        assert repr(e) == repr(t)
        assert list(e.state_dict()) == list(t.state_dict())
        assert e._reversed_padding_repeated_twice == list(t._reversed_padding_repeated_twice)
        for name in ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode",
                     "output_padding", "transposed", "in_channels", "out_channels"):
            assert getattr(e, name) == getattr(t, name), name
        bound = 1 / math.sqrt(e.weight.shape[1] * math.prod(e.weight.shape[2:]))
        assert e.weight.shape == t.weight.shape and e.weight.dtype == ember.float32
        w = e.weight.detach().numpy()
        assert np.abs(w).max() <= bound
        assert w.std() > bound / 4  # really filled, not zeros
    te, tt = ember.nn.ConvTranspose2d(4, 6, 3, groups=2), torch.nn.ConvTranspose2d(4, 6, 3,
                                                                                   groups=2)
    assert te.weight.shape == tt.weight.shape and repr(te) == repr(tt)
    assert ember.nn.Conv1d(2, 3, 2, dtype=ember.float64).weight.dtype == ember.float64


@pytest.mark.parametrize("kw, msg", [
    (dict(groups=3), "in_channels must be divisible by groups"),
    (dict(padding_mode="zero"), "padding_mode must be one of"),
    (dict(padding="same", stride=2), "not supported for strided convolutions"),
    (dict(padding="full"), "Invalid padding string 'full'"),
])
def test_conv_layer_errors(kw: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        ember.nn.Conv2d(4, 6, 3, **kw)
    with pytest.raises(ValueError, match=msg):
        torch.nn.Conv2d(4, 6, 3, **kw)


def test_conv_default_init_matches_torch_from_the_seed() -> None:
    for make in (lambda lib: lib.nn.Conv2d(3, 4, (3, 2), groups=1),
                 lambda lib: lib.nn.Conv1d(4, 2, 3, groups=2),
                 lambda lib: lib.nn.ConvTranspose2d(2, 4, 3)):
        ember.manual_seed(7)
        torch.manual_seed(7)
        e, t = make(ember), make(torch)
        for name, p in t.named_parameters():
            np.testing.assert_array_equal(e.get_parameter(name).detach().numpy(),
                                          p.detach().numpy(), err_msg=name)


def test_conv_outputs_are_contiguous_as_torch() -> None:
    x, w, b = ember.tensor(_r(2, 3, 5, 5)), ember.tensor(_r(4, 3, 3, 3)), ember.tensor(_r(4))
    for y in (ember.nn.functional.conv2d(x, w, b), ember.nn.functional.conv2d(x, w),
              ember.nn.functional.conv_transpose2d(x, w.permute(1, 0, 2, 3), b)):
        assert y.is_contiguous()
        assert tuple(y.view(2, -1).shape) == (2, y.numel() // 2)
