"""Pooling against torch: max/avg (ceil_mode, padding, dilation, ties, indices) and adaptive."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember
from tests.helpers import assert_same, check

RNG = np.random.default_rng(0)


def _r(*shape: int, dtype: type = np.float64) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def _f(name: str, **kw: object) -> object:
    return lambda lib, x: getattr(lib.nn.functional, name)(x, **kw)


@pytest.mark.parametrize("kw", [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},  # last window dropped
    {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "dilation": (2, 1)},
    {"kernel_size": 3, "stride": 1, "padding": 1, "return_indices": True},  # overlapping
])
def test_max_pool2d(kw: dict) -> None:
    check(_f("max_pool2d", **kw), _r(2, 3, 7, 6))


def test_max_pool2d_float32_unbatched_and_1d() -> None:
    check(_f("max_pool2d", kernel_size=2, ceil_mode=True), _r(3, 5, 5, dtype=np.float32))
    check(_f("max_pool1d", kernel_size=3, stride=2, padding=1, ceil_mode=True,
             return_indices=True), _r(2, 3, 8))
    check(_f("max_pool1d", kernel_size=2, dilation=2), _r(3, 9))
    check(_f("max_pool3d", kernel_size=2, padding=1), _r(1, 2, 3, 4, 5))


def test_max_pool_ties_go_to_first_element_and_overlaps_accumulate() -> None:
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1:3, 1:3] = 1.0  # several maxima per window, windows overlap
    check(_f("max_pool2d", kernel_size=3, stride=1, return_indices=True), x, fd=False)
    check(_f("max_pool2d", kernel_size=2, stride=1, padding=1), np.ones((1, 2, 3, 3)), fd=False)


def test_max_pool_padding_is_minus_inf_and_integers() -> None:
    check(_f("max_pool2d", kernel_size=3, stride=2, padding=1), np.full((1, 1, 4, 4), -5.0),
          fd=False)  # all ties: finite differences do not apply
    x = RNG.integers(-9, 9, size=(1, 2, 5, 5))
    check(_f("max_pool2d", kernel_size=2, ceil_mode=True, return_indices=True), x)


@pytest.mark.parametrize("kw", [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
    {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": (3, 2), "stride": 1, "padding": 1, "divisor_override": 3},
])
def test_avg_pool2d(kw: dict) -> None:
    check(_f("avg_pool2d", **kw), _r(2, 3, 7, 6))


def test_avg_pool_divisors_on_ones() -> None:
    check(_f("avg_pool2d", kernel_size=2, stride=2, padding=1, ceil_mode=True),
          np.ones((1, 1, 4, 4)))
    check(_f("avg_pool2d", kernel_size=3, stride=1, padding=1), np.ones((1, 1, 3, 3)))
    check(_f("avg_pool2d", kernel_size=2, ceil_mode=True), np.ones((1, 1, 5, 5)))


def test_avg_pool1d_and_float32() -> None:
    check(_f("avg_pool1d", kernel_size=3, stride=2, padding=1, ceil_mode=True,
             count_include_pad=False), _r(2, 3, 8))
    check(_f("avg_pool2d", kernel_size=3, stride=2), _r(2, 3, 7, 7, dtype=np.float32))
    check(_f("avg_pool3d", kernel_size=2, stride=1, padding=1), _r(1, 2, 3, 3, 4))


@pytest.mark.parametrize("out", [(3, 4), (None, 2), 1, (7, 6), (4, 5)])
def test_adaptive_pool2d(out: object) -> None:
    x = _r(2, 3, 7, 6)
    check(_f("adaptive_avg_pool2d", output_size=out), x)
    check(_f("adaptive_max_pool2d", output_size=out, return_indices=True), x)


def test_adaptive_pool1d_and_unbatched() -> None:
    check(_f("adaptive_avg_pool1d", output_size=4), _r(2, 3, 9))
    check(_f("adaptive_max_pool1d", output_size=4, return_indices=True), _r(3, 9))
    check(_f("adaptive_avg_pool2d", output_size=2), _r(3, 5, 5, dtype=np.float32))


def test_adaptive_avg_window_values() -> None:
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    y = ember.nn.functional.adaptive_avg_pool2d(ember.tensor(x), 2)
    assert y.reshape(-1).tolist() == [6.0, 8.0, 16.0, 18.0]


@pytest.mark.parametrize("call, msg", [
    (lambda F, x: F.max_pool2d(x, 2, padding=2), "pad should be at most half"),
    (lambda F, x: F.avg_pool2d(x, 2, padding=2), "pad should be at most half"),
    (lambda F, x: F.max_pool2d(x, 7), "Output size is too small"),
])
def test_pool_errors(call: object, msg: str) -> None:
    for lib in (ember, torch):
        with pytest.raises(RuntimeError, match=msg):
            call(lib.nn.functional, lib.zeros(1, 1, 5, 5))  # type: ignore[operator]


LAYERS = [
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("MaxPool2d", (2,), dict(return_indices=True)),
    ("MaxPool1d", (3,), dict(stride=1, dilation=2)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, count_include_pad=False)),
    ("AvgPool2d", ((2, 3),), dict(divisor_override=2, ceil_mode=True)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1)),
    ("AdaptiveAvgPool2d", ((2, None),), {}),
    ("AdaptiveAvgPool1d", (3,), {}),
    ("AdaptiveMaxPool2d", (3,), dict(return_indices=True)),
    ("AdaptiveMaxPool1d", (2,), {}),
]


@pytest.mark.parametrize("name, args, kw", LAYERS)
def test_pool_layers(name: str, args: tuple, kw: dict) -> None:
    e, t = getattr(ember.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(e) == repr(t)
    assert e.state_dict() == {} and list(t.state_dict()) == []
    x = _r(2, 3, 6, 7, dtype=np.float32) if "2d" in name else _r(2, 3, 7, dtype=np.float32)
    assert_same(e(ember.tensor(x)), t(torch.from_numpy(x)))


def test_max_unpool() -> None:
    x = _r(2, 3, 6, 7)
    y, idx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    check(lambda lib, v, i: lib.nn.functional.max_unpool2d(v, i, 2, output_size=(6, 7)),
          y.numpy(), idx.numpy())
    y1, idx1 = torch.nn.functional.max_pool1d(torch.from_numpy(x[0]), 3, 2, 1,
                                              return_indices=True)
    check(lambda lib, v, i: lib.nn.functional.max_unpool1d(v, i, 3, 2, 1), y1.numpy(),
          idx1.numpy())
    e, t = ember.nn.MaxUnpool2d(2), torch.nn.MaxUnpool2d(2)
    assert repr(e) == repr(t)
    ye = e(ember.tensor(y.numpy()), ember.tensor(idx.numpy()), output_size=(2, 3, 6, 7))
    assert_same(ye, t(y, idx, output_size=(2, 3, 6, 7)))
    for lib in (ember, torch):
        with pytest.raises(ValueError, match="invalid output_size"):
            lib.nn.functional.max_unpool2d(lib.tensor(y.numpy()), lib.tensor(idx.numpy()), 2,
                                           output_size=(9, 9))


@pytest.mark.parametrize("out, out3", [(1, 1), ((2, 4), (1, 2, 4)), ((None, 1), (None, 1, 2))])
def test_adaptive_avg_equal_windows_mean_path(out: object, out3: object) -> None:
    # equal windows take a reshape + mean; float32 as in a CNN's global pooling, with gradients
    check(_f("adaptive_avg_pool2d", output_size=out), _r(4, 6, 8, 8, dtype=np.float32))
    check(_f("adaptive_avg_pool3d", output_size=out3), _r(2, 3, 4, 4, 4))


def test_adaptive_avg_pool3d_module_matches_torch() -> None:
    x = _r(2, 3, 5, 4, 6)
    m = ember.nn.AdaptiveAvgPool3d((2, None, 3))
    assert repr(m) == repr(torch.nn.AdaptiveAvgPool3d((2, None, 3)))
    check(lambda lib, t: lib.nn.AdaptiveAvgPool3d((2, None, 3))(t), x)
