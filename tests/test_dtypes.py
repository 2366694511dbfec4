"""dtype objects and torch's type promotion, checked against torch for every pair."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch

import ember

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
         "float64"]


def test_dtype_objects() -> None:
    assert ember.float32 == "float32" and ember.float32 == "torch.float32"
    assert ember.float is ember.float32 and ember.double is ember.float64
    assert ember.half is ember.float16 and ember.long is ember.int64 and ember.int is ember.int32
    assert ember.short is ember.int16 and ember.bool.name == "bool"
    assert ember.float32.is_floating_point and not ember.int64.is_floating_point
    assert ember.float32.itemsize == 4 and ember.bfloat16.itemsize == 2
    assert pickle.loads(pickle.dumps(ember.float64)) is ember.float64
    assert {ember.float32: 1}[ember.float32] == 1
    assert ember.zeros(2, dtype="float64").dtype is ember.float64
    assert ember.zeros(2, dtype="int32").dtype is ember.int32
    with pytest.raises(TypeError):
        ember.zeros(2, dtype="float33")


@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_promote_types_matches_torch(a: str, b: str) -> None:
    expected = str(torch.promote_types(getattr(torch, a), getattr(torch, b))).split(".")[1]
    assert ember.promote_types(getattr(ember, a), getattr(ember, b)).name == expected


SCALARS = [True, 2, 2.5]


def _result(lib, a: str, b: object, zero_dim: bool) -> str:
    x = lib.ones(3, dtype=getattr(lib, a))
    if isinstance(b, str):
        y = lib.ones(() if zero_dim else 3, dtype=getattr(lib, b))
    else:
        y = b
    return str((x + y).dtype).split(".")[-1]


@pytest.mark.parametrize("a", NAMES)
def test_tensor_scalar_and_zero_dim_promotion(a: str) -> None:
    for b in [*NAMES, *SCALARS]:
        for zero_dim in (False, True):
            if a == "bool" and b == "bool":
                continue
            want = _result(torch, a, b, zero_dim)
            assert _result(ember, a, b, zero_dim) == want, (a, b, zero_dim)


def test_default_dtype_changes_float_results() -> None:
    try:
        ember.set_default_dtype(ember.float64)
        assert ember.tensor(1.0).dtype is ember.float64
        assert (ember.tensor([1, 2]) + 1.5).dtype is ember.float64
    finally:
        ember.set_default_dtype(ember.float32)
    with pytest.raises(TypeError):
        ember.set_default_dtype(ember.int64)


def test_true_division_and_unary_float_ops_on_ints() -> None:
    i = ember.tensor([1, 2])
    assert (i / 2).dtype is ember.float32
    assert i.exp().dtype is ember.float32
    assert (i == 1.0).dtype is ember.bool
    assert ember.tensor(np.ones(2)).dtype is ember.float64
