"""The parity helper: run one function on ember and on torch with the same inputs and compare
outputs, dtypes and gradients; plus a float64 central-difference check of ember's gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import ember

TOL = {  # (rtol, atol): float64 tight, float32/16 as torch.testing.assert_close's defaults
    "float64": (1e-7, 1e-7),
    "float32": (1.3e-6, 1e-5),
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
}


def to_torch(x: Any) -> Any:
    if isinstance(x, ember.Tensor):
        t = torch.from_numpy(np.array(x.detach().numpy()))
        return t.requires_grad_(x.requires_grad)
    return x


def assert_same(e: Any, t: Any, rtol: float | None = None, atol: float | None = None,
                what: str = "output") -> None:
    """Compare an ember result with a torch one: type, shape, dtype and values."""
    if isinstance(t, (tuple, list)):
        assert len(e) == len(t), f"{what}: {len(e)} results vs torch's {len(t)}"
        for i, (a, b) in enumerate(zip(e, t)):
            assert_same(a, b, rtol, atol, f"{what}[{i}]")
        return
    if not isinstance(t, torch.Tensor):
        assert e == t or (e != e and t != t), f"{what}: {e!r} != torch's {t!r}"
        return
    assert isinstance(e, ember.Tensor), f"{what}: expected a Tensor, got {type(e).__name__}"
    tname = str(t.dtype).removeprefix("torch.")
    assert e.dtype.name == tname, f"{what}: dtype {e.dtype.name} != torch's {tname}"
    assert tuple(e.shape) == tuple(t.shape), f"{what}: shape {tuple(e.shape)} != {tuple(t.shape)}"
    r, a = TOL.get(tname, (0, 0))
    r, a = rtol if rtol is not None else r, atol if atol is not None else a
    ev = np.asarray(e.detach().float().numpy() if tname == "bfloat16" else e.detach().numpy())
    tv = t.detach().float().numpy() if tname == "bfloat16" else t.detach().numpy()
    np.testing.assert_allclose(ev, tv, rtol=r, atol=a, equal_nan=True, err_msg=what)


def check(fn: Callable[..., Any], *inputs: Any, grad: bool = True, rtol: float | None = None,
          atol: float | None = None, fd: bool = True, seed: int = 0) -> None:
    """Run `fn(lib, *inputs)` with lib = ember and lib = torch on the same inputs.

    `inputs` are NumPy arrays (become tensors; floating ones require grad when `grad`) or any
    other value (passed through). Outputs, dtypes and every input's gradient must match; float64
    inputs also get a central-difference check along a random direction.
    """
    e_in = [ember.tensor(x, requires_grad=grad and x.dtype.kind == "f") if isinstance(
        x, np.ndarray) else x for x in inputs]
    t_in = [to_torch(x) for x in e_in]
    e_out = fn(ember, *e_in)
    t_out = fn(torch, *t_in)
    assert_same(e_out, t_out, rtol, atol)
    if not grad:
        return
    e_first = e_out[0] if isinstance(e_out, (tuple, list)) else e_out
    t_first = t_out[0] if isinstance(t_out, (tuple, list)) else t_out
    if not (isinstance(t_first, torch.Tensor) and t_first.requires_grad):
        return
    rng = np.random.default_rng(seed)
    cot = rng.standard_normal(tuple(t_first.shape)).astype(t_first.detach().numpy().dtype)
    e_first.backward(ember.tensor(cot))
    t_first.backward(torch.from_numpy(cot))
    for i, (a, b) in enumerate(zip(e_in, t_in)):
        if isinstance(b, torch.Tensor) and b.requires_grad:
            if b.grad is None:
                assert a.grad is None or not np.any(a.grad.numpy()), f"grad[{i}]: torch has none"
                continue
            assert a.grad is not None, f"grad[{i}]: ember produced no gradient"
            assert_same(a.grad, b.grad, rtol, atol, f"grad of input {i}")
    if fd and all(not isinstance(x, np.ndarray) or x.dtype == np.float64 for x in inputs):
        fd_check(lambda *xs: fn(ember, *xs), inputs, seed=seed)


def fd_check(f: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6,
             rtol: float = 1e-5, atol: float = 1e-7, seed: int = 0) -> None:
    """Central differences along one random direction per input vs. backward (HIPS check_vjp)."""
    rng = np.random.default_rng(seed + 1)
    xs = [ember.tensor(x, requires_grad=x.dtype.kind == "f") if isinstance(x, np.ndarray) else x
          for x in inputs]
    out = f(*xs)
    out = out[0] if isinstance(out, (tuple, list)) else out
    if not out.requires_grad:
        return
    cot = rng.standard_normal(tuple(out.shape))
    out.backward(ember.tensor(cot, dtype=out.dtype))
    for i, x in enumerate(inputs):
        if not (isinstance(x, np.ndarray) and x.dtype.kind == "f"):
            continue
        d = rng.standard_normal(x.shape)

        def at(v: np.ndarray, i: int = i) -> float:
            args = [ember.tensor(v) if j == i else (ember.tensor(a) if isinstance(a, np.ndarray)
                    else a) for j, a in enumerate(inputs)]
            o = f(*args)
            o = o[0] if isinstance(o, (tuple, list)) else o
            return float(np.sum(o.detach().numpy() * cot))

        numeric = (at(x + eps * d) - at(x - eps * d)) / (2 * eps)
        g = xs[i].grad
        analytic = 0.0 if g is None else float(np.sum(g.numpy() * d))
        assert abs(numeric - analytic) <= atol + rtol * max(abs(numeric), abs(analytic)) * 10, (
            f"input {i}: finite difference {numeric} vs backward {analytic}")
