"""Audit of #2's creation bullets: `tensor(data, dtype=...)` converts Python numbers straight to the
target dtype (no float32 rounding on the way) and refuses out-of-range integers as torch does."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember

DTYPES = ["float64", "float32", "float16", "bfloat16", "int64", "int32", "int8", "uint8", "bool"]
DATA = [0.1, [0.1, 1e308], [[1.7, -2.5], [3, 4]], [-3, 300], [True, 2.5], 2**62,
        [math.nan, math.inf], [2**53 + 1], [1e-310], [0.1, 2**62], -3, -255, [-256], [255.9],
        [-0.5], [-128.7], [9.3e18], [2**63 - 1], [-(2**63)], [1 / 3, 2 / 3]]


def test_float64_scalar_is_not_rounded_through_float32() -> None:
    """The known bug: tensor(0.1, dtype=float64) used to be float32's 0.1 widened."""
    assert ember.tensor(0.1, dtype=ember.float64).item() == 0.1
    assert ember.tensor([0.1, 1 / 3], dtype="float64").tolist() == [0.1, 1 / 3]
    assert ember.as_tensor([[0.1]], dtype=ember.double).item() == 0.1
    assert ember.tensor([1, 0.1], dtype=ember.float64, requires_grad=True)[1].item() == 0.1
    # without a dtype the default (float32) still applies, as torch
    assert ember.tensor(0.1).double().item() == torch.tensor(0.1).double().item() != 0.1


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_with_dtype_matches_torch(dtype: str) -> None:
    for data in DATA:
        try:
            t = torch.tensor(data, dtype=getattr(torch, dtype))
        except RuntimeError as err:  # overflow: ember must refuse with torch's type and text
            with pytest.raises(RuntimeError, match="cannot be converted to type .* without"):
                ember.tensor(data, dtype=dtype)
            assert "overflow" in str(err)
            continue
        e = ember.tensor(data, dtype=dtype)
        assert e.dtype.name == dtype, data
        got, want = e.float().numpy(), t.float().numpy()
        np.testing.assert_array_equal(got, want, err_msg=f"{data} as {dtype}")
