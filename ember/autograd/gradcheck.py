"""`gradcheck`: compare backward with central finite differences (float64 inputs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ember.tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _outputs(fn: Callable[..., Any], inputs: Sequence[Any]) -> list[Tensor]:
    out = fn(*inputs)
    return [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)]


def gradcheck(func: Callable[..., Any], inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, fast_mode: bool = False,
              nondet_tol: float = 0.0, check_undefined_grad: bool = True,
              check_grad_dtypes: bool = False, check_batched_grad: bool = False,
              check_backward_ad: bool = True, masked: bool | None = None) -> bool:
    """Matches `torch.autograd.gradcheck`: every Jacobian entry of every differentiable output
    with respect to every input requiring grad, numerical (central differences) vs analytical."""
    from ember.autograd import grad

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i in diff:
        if inputs[i].dtype.name != "float64":
            import warnings

            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating "
                          "point. gradcheck is meant for float64 inputs.", UserWarning,
                          stacklevel=2)
    outs = _outputs(func, inputs)
    for k, out in enumerate(outs):
        if not out.requires_grad:
            continue
        n_out = out.numel()
        for i in diff:
            x = inputs[i]
            analytical = np.zeros((x.numel(), n_out))
            for j in range(n_out):  # one backward per output element: a Jacobian row
                cot = np.zeros(n_out)
                cot[j] = 1.0
                g = grad(_outputs(func, inputs)[k], x,
                         Tensor._make(cot.reshape(out.shape).astype(out._data.dtype)),
                         allow_unused=True)[0]
                if g is not None:
                    analytical[:, j] = g._data.reshape(-1)
            numerical = np.zeros_like(analytical)
            flat = x._data.reshape(-1)  # a view: perturb in place, restore after
            for e in range(x.numel()):
                orig = flat[e]
                flat[e] = orig + eps
                plus = _outputs(func, inputs)[k]._data.reshape(-1).astype(np.float64)
                flat[e] = orig - eps
                minus = _outputs(func, inputs)[k]._data.reshape(-1).astype(np.float64)
                flat[e] = orig
                numerical[e] = (plus - minus) / (2 * eps)
            if not np.allclose(analytical, numerical, rtol=rtol, atol=atol, equal_nan=True):
                if raise_exception:
                    raise GradcheckError(
                        f"Jacobian mismatch for output {k} with respect to input {i},\n"
                        f"numerical:{numerical}\nanalytical:{analytical}\n")
                return False
    return True


def gradgradcheck(func: Callable[..., Any], inputs: Any, grad_outputs: Any = None, *,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True, **kwargs: Any) -> bool:
    """Matches `torch.autograd.gradgradcheck`: gradcheck of the first derivative (random
    cotangents), which exercises backward-of-backward."""
    from ember.autograd import grad

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    outs = _outputs(func, inputs)
    rng = np.random.default_rng(0)
    cots = grad_outputs or [Tensor._make(rng.standard_normal(o.shape).astype(o._data.dtype))
                            for o in outs]

    def first_derivative(*xs: Any) -> tuple[Any, ...]:
        o = _outputs(func, xs)
        d = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        return grad(o, d, cots, create_graph=True, allow_unused=True, materialize_grads=True)

    del diff
    return gradcheck(first_derivative, inputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
