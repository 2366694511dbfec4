"""ember.testing.assert_close against torch.testing.assert_close: the same verdicts and the same
messages on the same inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import ember
import ember.testing

NAN = float("nan")
CASES: dict[str, Callable[[Any], tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "close": lambda L: ((L.tensor([1.0, 2.0]), L.tensor([1.0, 2.0 + 1e-7])), {}),
    "not_close": lambda L: ((L.tensor([1.0, 2.0, 3.0]), L.tensor([1.0, 2.1, 3.0])), {}),
    "shape": lambda L: ((L.tensor([1.0, 2.0]), L.tensor([1.0, 2.0, 3.0])), {}),
    "dtype": lambda L: ((L.tensor([1.0]), L.tensor([1.0], dtype=L.float64)), {}),
    "dtype_unchecked": lambda L: ((L.tensor([1.0]), L.tensor([1.0], dtype=L.float64)),
                                  {"check_dtype": False}),
    "ints": lambda L: ((L.tensor([1, 2]), L.tensor([1, 3])), {}),
    "exact_tolerances": lambda L: ((L.ones(2), L.ones(2) + 1e-6), {"rtol": 0, "atol": 0}),
    "loose_tolerances": lambda L: ((L.ones(2), L.ones(2) + 0.01), {"rtol": 0, "atol": 0.1}),
    "nan": lambda L: ((L.tensor([NAN]), L.tensor([NAN])), {}),
    "nan_equal": lambda L: ((L.tensor([NAN]), L.tensor([NAN])), {"equal_nan": True}),
    "inf": lambda L: ((L.tensor([float("inf"), 1.0]), L.tensor([float("inf"), 1.0])), {}),
    "2d_index": lambda L: ((L.zeros(2, 3), L.tensor([[0.0, 0, 0], [0, 0, 0.5]])), {}),
    "scalars": lambda L: ((1.0, 1.0 + 1e-9), {}),
    "scalar_types": lambda L: ((1, 1.0), {}),
    "sequence": lambda L: (([L.ones(2), L.zeros(1)], [L.ones(2), L.ones(1)]), {}),
    "sequence_length": lambda L: (([L.ones(2)], [L.ones(2), L.ones(2)]), {}),
    "mapping": lambda L: (({"a": L.ones(1)}, {"a": L.zeros(1)}), {}),
    "msg": lambda L: ((L.ones(2, 2), L.ones(2, 2) * 1.5), {"msg": "custom"}),
    "tensor_vs_number": lambda L: ((L.ones(2), 1.0), {}),
    "float16": lambda L: ((L.ones(3, dtype=L.float16),
                           L.tensor([1.0, 1.0, 1.01], dtype=L.float16)), {}),
}


def _outcome(lib: Any, testing: Any, case: str) -> tuple[str, str]:
    args, kwargs = CASES[case](lib)
    try:
        testing.assert_close(*args, **kwargs)
    except (AssertionError, TypeError, ValueError) as e:
        # the same text but for the tensor class's own name
        return type(e).__name__, str(e).replace("ember.tensor.Tensor", "torch.Tensor")
    return "ok", ""


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(case: str) -> None:
    assert _outcome(ember, ember.testing, case) == _outcome(torch, torch.testing, case)
