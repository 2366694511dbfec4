"""torch.testing: `assert_close` with torch's default tolerances per dtype and its messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.tensor import Tensor

__all__ = ["assert_close"]

# torch's defaults (rtol, atol) by dtype name; integers and bool compare exactly
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7)}


def _compare_tensors(actual: Tensor, expected: Tensor, rtol: float | None, atol: float | None,
                     equal_nan: bool, check_dtype: bool) -> str | None:
    """None when close, else torch's message."""
    if actual.shape != expected.shape:
        return (f"The values for attribute 'shape' do not match: {actual.shape} != "
                f"{expected.shape}.")
    if check_dtype and actual.dtype != expected.dtype:
        return (f"The values for attribute 'dtype' do not match: {actual.dtype} != "
                f"{expected.dtype}.")
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {'rtol' if rtol is None else 'atol'}.")
    if rtol is None or atol is None:
        rtol, atol = max(_TOLERANCES.get(actual.dtype.name, (0.0, 0.0)),
                         _TOLERANCES.get(expected.dtype.name, (0.0, 0.0)))
    floating = actual.dtype.is_floating_point
    work = actual.dtype.np if floating else np.float32  # torch reports diffs in this dtype
    a = actual.numpy().astype(work)
    b = expected.numpy().astype(work)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(a - b)
        close = (a == b) | (abs_diff <= atol + rtol * np.abs(b))
        if equal_nan:
            close |= np.isnan(a) & np.isnan(b)
        if bool(close.all()):
            return None
        rel_diff = abs_diff / np.abs(b)
    bad = ~close
    n_bad, total = int(bad.sum()), bad.size

    def greatest(diff: np.ndarray) -> tuple[Any, tuple[int, ...]]:
        masked = np.where(bad, diff, -np.inf)
        flat = int(np.nanargmax(masked)) if not np.isnan(masked).all() else 0
        if np.isnan(masked).any():  # a nan difference is the greatest, as torch reports it
            flat = int(np.flatnonzero(np.isnan(masked))[0])
        index = tuple(int(i) for i in np.unravel_index(flat, diff.shape))
        value = diff.reshape(-1)[flat]
        return (int(value) if not floating and np.isfinite(value) and value == int(value)
                else float(value)), index

    abs_v, abs_i = greatest(abs_diff)
    rel_v, rel_i = greatest(rel_diff)
    exact = rtol == 0 and atol == 0
    abs_note = "" if exact else f" (up to {atol} allowed)"
    rel_note = "" if exact else f" (up to {rtol} allowed)"
    return (f"Tensor-likes are not {'equal' if exact else 'close'}!\n\n"
            f"Mismatched elements: {n_bad} / {total} ({100 * n_bad / total:.1f}%)\n"
            f"Greatest absolute difference: {abs_v} at index {abs_i}{abs_note}\n"
            f"Greatest relative difference: {rel_v} at index {rel_i}{rel_note}")


def _pairs(actual: Any, expected: Any, path: str) -> list[tuple[Any, Any, str]]:
    """Leaf pairs of two nested sequences/mappings, each with its item path ('[0]['a']')."""
    if isinstance(actual, Tensor) or isinstance(expected, Tensor):
        if not (isinstance(actual, Tensor) and isinstance(expected, Tensor)):
            raise TypeError(f"No comparison pair was able to handle inputs of type "
                            f"{type(actual)} and {type(expected)}.")
        return [(actual, expected, path)]
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            raise AssertionError(f"The keys of the mappings do not match:\n"
                                 f"Missing keys: {sorted(set(expected) - set(actual))}\n"
                                 f"Additional keys: {sorted(set(actual) - set(expected))}")
        return [p for k in actual for p in _pairs(actual[k], expected[k], f"{path}[{k!r}]")]
    if (isinstance(actual, Sequence) and isinstance(expected, Sequence)
            and not isinstance(actual, str) and not isinstance(expected, str)):
        if len(actual) != len(expected):
            raise AssertionError(f"The length of the sequences mismatch: {len(actual)} != "
                                 f"{len(expected)}")
        return [p for i, (x, y) in enumerate(zip(actual, expected))
                for p in _pairs(x, y, f"{path}[{i}]")]
    if isinstance(actual, (bool, int, float)) and isinstance(expected, (bool, int, float)):
        import ember

        def as_tensor(v: Any) -> Tensor:
            dtype = _dt.bool_ if isinstance(v, bool) else (
                _dt.int64 if isinstance(v, int) else _dt.float64)
            return ember.tensor(v, dtype=dtype)

        if type(actual) is not type(expected):
            raise AssertionError(f"The (d)types do not match: {type(actual)} != "
                                 f"{type(expected)}.")
        return [(as_tensor(actual), as_tensor(expected), path)]
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and "
                    f"{type(expected)}.")


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True,
                 rtol: float | None = None, atol: float | None = None, equal_nan: bool = False,
                 check_device: bool = True, check_dtype: bool = True, check_layout: bool = True,
                 check_stride: bool = False, msg: Any = None) -> None:
    """Matches `torch.testing.assert_close` for tensors, Python numbers and nested
    sequences/mappings of them (same defaults, same messages)."""
    for a, e, path in _pairs(actual, expected, ""):
        problem = _compare_tensors(a, e, rtol, atol, equal_nan, check_dtype)
        if problem is None:
            continue
        if msg is not None:
            raise AssertionError(msg(problem) if callable(msg) else msg)
        if path:
            problem += f"\n\nThe failure occurred for item {path}"
        raise AssertionError(problem)
