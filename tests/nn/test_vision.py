"""pad, interpolate/upsample, pixel shuffles and the Upsample layers against torch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
from tests.helpers import assert_same, check

RNG = np.random.default_rng(0)


def _r(*shape: int, dtype: type = np.float64) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def _f(name: str, *args: object, **kw: object) -> object:
    return lambda lib, x: getattr(lib.nn.functional, name)(x, *args, **kw)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes(mode: str) -> None:
    check(_f("pad", (1, 2, 2, 1), mode=mode), _r(2, 3, 4, 5))
    check(_f("pad", (2, 3), mode=mode), _r(3, 4))
    check(_f("pad", (1, 0, 0, 2, 1, 1), mode=mode), _r(1, 2, 3, 4, 3, dtype=np.float32))


def test_pad_constant_value_negative_and_all_dims() -> None:
    check(_f("pad", (1, -1, 0, 2, 1, 1), value=3.0), _r(2, 3, 4))
    check(_f("pad", (1, 1, 1, 1, 1, 1, 1, 1)), _r(1, 2, 2, 2))


@pytest.mark.parametrize("pad, mode, exc, msg", [
    ((1,), "constant", RuntimeError, "divisible by 2"),
    ((1,) * 10, "constant", RuntimeError, "less than or equal to two times"),
    ((3, 3), "reflect", NotImplementedError, "Padding size 2 is not supported for 4D"),
    ((3, 3, 0, 0), "reflect", RuntimeError, "Padding size should be less than"),
])
def test_pad_errors(pad: tuple, mode: str, exc: type, msg: str) -> None:
    for lib in (ember, torch):
        with pytest.raises(exc, match=msg):
            lib.nn.functional.pad(lib.zeros(1, 1, 3, 3), pad, mode=mode)


@pytest.mark.parametrize("kw", [
    {"scale_factor": 2},
    {"size": (7, 3)},
    {"scale_factor": (1.7, 0.6)},
    {"size": (7, 9), "mode": "nearest-exact"},
    {"size": (7, 3), "mode": "bilinear"},
    {"size": (7, 3), "mode": "bilinear", "align_corners": True},
    {"scale_factor": 2.3, "mode": "bilinear"},
    {"scale_factor": 2, "mode": "bilinear", "align_corners": True},
    {"scale_factor": (1.7, 0.6), "mode": "bilinear", "recompute_scale_factor": True},
    {"size": 1, "mode": "bilinear", "align_corners": True},
])
def test_interpolate_2d(kw: dict) -> None:
    check(_f("interpolate", **kw), _r(2, 3, 4, 5))


def test_interpolate_1d_3d_float32() -> None:
    check(_f("interpolate", size=9, mode="linear"), _r(2, 3, 4))
    check(_f("interpolate", scale_factor=3), _r(2, 3, 4))
    check(_f("interpolate", scale_factor=2, mode="bilinear"), _r(1, 2, 3, 4, dtype=np.float32))
    check(_f("interpolate", size=(3, 4, 2), mode="trilinear"), _r(1, 2, 2, 3, 4))


@pytest.mark.parametrize("kw, exc, msg", [
    ({"size": 5, "align_corners": True}, ValueError, "align_corners option can only be set"),
    ({}, ValueError, "either size or scale_factor should be defined"),
    ({"size": 4, "scale_factor": 2}, ValueError, "only one of size or scale_factor"),
    ({"size": 4, "mode": "linear"}, NotImplementedError, "linear mode needs 3D input"),
])
def test_interpolate_errors(kw: dict, exc: type, msg: str) -> None:
    for lib in (ember, torch):
        with pytest.raises(exc, match=msg):
            lib.nn.functional.interpolate(lib.zeros(1, 1, 3, 3), **kw)


def test_upsample_aliases_warn() -> None:
    x = _r(1, 2, 3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(_f("upsample", scale_factor=2), x)
        check(_f("upsample_bilinear", size=(5, 4)), x)
        check(_f("upsample_nearest", scale_factor=3), x)
    with pytest.warns(UserWarning, match="deprecated"):
        ember.nn.functional.upsample(ember.tensor(x), scale_factor=2)


def test_pixel_shuffles() -> None:
    check(_f("pixel_shuffle", 2), _r(2, 8, 3, 2))
    check(_f("pixel_unshuffle", 2), _r(2, 2, 4, 6))
    check(_f("pixel_shuffle", 3), _r(9, 2, 1))


@pytest.mark.parametrize("name, kw", [
    ("Upsample", dict(scale_factor=2)),
    ("Upsample", dict(size=(5, 7), mode="bilinear")),
    ("Upsample", dict(scale_factor=(2, 1.5), mode="bilinear", align_corners=True)),
    ("UpsamplingNearest2d", dict(scale_factor=2)),
    ("UpsamplingBilinear2d", dict(size=6)),
    ("PixelShuffle", dict(upscale_factor=2)),
    ("PixelUnshuffle", dict(downscale_factor=2)),
])
def test_upsampling_layers(name: str, kw: dict) -> None:
    e, t = getattr(ember.nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(e) == repr(t)
    x = _r(2, 4, 4, 6, dtype=np.float32)
    assert_same(e(ember.tensor(x)), t(torch.from_numpy(x)))


@pytest.mark.parametrize("name, args", [
    ("ZeroPad2d", (1,)), ("ZeroPad1d", ((1, 2),)), ("ConstantPad2d", (2, 3.5)),
    ("ConstantPad1d", (1, 2)), ("ReflectionPad2d", ((1, 0, 2, 1),)), ("ReplicationPad1d", (2,)),
    ("CircularPad2d", (1,)), ("ReplicationPad3d", (1,)), ("ZeroPad3d", ((1, 0, 0, 1, 1, 0),)),
])
def test_padding_layers(name: str, args: tuple) -> None:
    e, t = getattr(ember.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(e) == repr(t) and e.padding == t.padding
    shape = {"1": (2, 3, 5), "2": (1, 2, 4, 5), "3": (1, 2, 3, 4, 5)}[name[-2]]
    check(lambda lib, x: (e if lib is ember else t)(x), _r(*shape))
