"""Tensor repr against torch's, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ember

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
          "bool"]


def _pair(arr: Any, dtype: str | None = "float32") -> tuple[torch.Tensor, ember.Tensor]:
    a = np.array(arr)
    if dtype is None:
        return torch.tensor(a), ember.tensor(a)
    t = torch.tensor(a, dtype=getattr(torch, dtype))
    return t, ember.tensor(a, dtype=getattr(ember, dtype))


def _same(arr: Any, dtype: str | None = "float32") -> None:
    t, e = _pair(arr, dtype)
    assert repr(e) == repr(t)
    assert str(e) == str(t)


CASES: list[tuple[Any, str | None]] = [
    ([1.0, 2.0, 3.0], "float32"), ([1.0, 2.5, 3.0], "float32"), ([1, 2, 3], "int64"),
    ([1.0, 2.0], "float64"), ([1, 2], "int32"), ([1.0, 2.0], "float16"), (3.5, "float32"),
    (2.0, "float32"), (-0.0, "float32"), (float("nan"), "float32"), (2, "int32"),
    ([True, False], "bool"), (True, "bool"), ([], "float32"), ([0.5, 100.25], "float32"),
    ([-1.0, 2.0], "float32"), ([float("nan"), float("inf"), -float("inf"), 1.0], "float32"),
    ([1e-4, 1.0], "float32"), ([1.0, 1000.0], "float32"), ([1.0, 1001.0], "float32"),
    ([1e8], "float32"), ([1.1e8], "float32"), ([123456.7], "float32"), ([0.0, 0.0], "float32"),
    ([1e-10, 1e10], "float32"), ([1.5, float("nan")], "float32"), ([-1e-5, 3.0], "float32"),
    ([12345678.0], "float32"), ([65504.0, -0.5], "float16"), ([1.0, 3.0], "bfloat16"),
    (np.arange(1001), "int64"), (np.arange(24.0).reshape(2, 3, 4), "float32"),
    (np.arange(100.0) * 1.5, "float32"), (np.zeros((2, 0)), "float32"),
    (np.zeros((0, 3)), "int64"), (np.zeros(0), "int64"), (np.zeros((1, 0, 2)), "float64"),
    ([[True, False], [False, True]], "bool"), (np.arange(2000.0).reshape(40, 50), "float32"),
    (np.arange(3000).reshape(10, 10, 30), "int16"), ([-128, 127], "int8"), ([255, 0], "uint8"),
    (np.random.RandomState(0).randn(5, 30), "float32"),
    (np.random.RandomState(0).randn(40, 40), "float32"),
    (np.random.RandomState(1).randn(3, 4, 5, 6), "float64"),
    (np.random.RandomState(1).randn(20, 60), "bfloat16"),
    (np.random.RandomState(2).randn(2, 2, 2, 2, 2), "float32"),
    (np.random.RandomState(3).randn(1100) * 1e5, "float32"),
]


@pytest.mark.parametrize("i", range(len(CASES)))
def test_repr_cases(i: int) -> None:
    _same(*CASES[i])


def test_autograd_suffixes() -> None:
    a, b = torch.ones(2, requires_grad=True), ember.ones(2, requires_grad=True)
    assert repr(b) == repr(a)
    assert repr(b * 2) == repr(a * 2)
    assert repr(b.double() * 2) == repr(a.double() * 2)
    # a long last line moves the suffix to its own line
    x, y = torch.ones(100, requires_grad=True) * 3, ember.ones(100, requires_grad=True) * 3
    assert repr(y) == repr(x)
    x, y = torch.tensor(2.5, requires_grad=True), ember.tensor(2.5, requires_grad=True)
    assert repr(y) == repr(x)


def test_parameter_repr() -> None:
    assert repr(ember.nn.Parameter(ember.ones(2, 3))) == repr(torch.nn.Parameter(torch.ones(2, 3)))


@pytest.fixture
def restore_printoptions() -> Iterator[None]:
    yield
    torch.set_printoptions(profile="default")
    ember.set_printoptions(profile="default")


OPTS = [dict(precision=2), dict(sci_mode=True), dict(sci_mode=False), dict(profile="short"),
        dict(linewidth=40), dict(edgeitems=0, threshold=5), dict(threshold=5, edgeitems=1),
        dict(profile="full"), dict(precision=6, linewidth=120)]


@pytest.mark.parametrize("opts", OPTS, ids=[str(o) for o in OPTS])
def test_printoptions(opts: dict[str, Any], restore_printoptions: None) -> None:
    torch.set_printoptions(**opts)
    ember.set_printoptions(**opts)
    for arr in [np.random.RandomState(0).randn(4, 12) * 1000, np.arange(30.0).reshape(5, 6),
                np.arange(5), np.arange(1500.0), np.zeros(3)]:
        _same(arr, None)


def test_default_dtype_float64() -> None:
    ember.set_default_dtype(ember.float64)
    torch.set_default_dtype(torch.float64)
    try:
        for arr in [np.ones(2, dtype=np.float32), np.ones(2), np.zeros(0),
                    np.zeros(0, dtype=np.float32)]:
            _same(arr, None)
    finally:
        ember.set_default_dtype(ember.float32)
        torch.set_default_dtype(torch.float32)


_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(-1e3, 1e3, width=32),
    st.integers(-1000, 1000).map(float),
    st.sampled_from([0.0, -0.0, 1e-5, 1e8, 1.1e8, 0.5, 1e-4]),
)


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=4, max_side=7),
                  elements=_floats),
       st.sampled_from(DTYPES))
def test_repr_hypothesis(a: np.ndarray, dtype: str) -> None:
    if dtype == "bool":
        a = np.nan_to_num(a) > 0
    elif dtype not in ("float32", "float64", "float16", "bfloat16"):
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -(2**62)), min(info.max, 2**62)  # exact as float64 bounds
        a = np.clip(np.nan_to_num(a), lo, hi).astype(np.int64)
    _same(a, dtype)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(0, 2000))
def test_repr_hypothesis_summarised(ndim: int, n: int) -> None:
    side = max(1, round((n + 1) ** (1 / ndim)))
    a = np.random.RandomState(n).randn(*([side] * ndim)) * 10.0 ** (n % 7 - 3)
    _same(a, "float32")
