"""Reverse-mode automatic differentiation: backward, grad, Function, grad modes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.autograd.engine import run_backward
from ember.autograd.function import Function, FunctionCtx, Node  # noqa: F401
from ember.autograd.grad_mode import (  # noqa: F401
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from ember.tensor import Tensor


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    return [x] if isinstance(x, Tensor) else list(x)


def _make_grads(outputs: list[Tensor], grads: list[Any]) -> list[Tensor]:
    result = []
    for i, out in enumerate(outputs):
        g = grads[i] if i < len(grads) else None
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = Tensor._make(np.ones(out._data.shape, dtype=out._data.dtype))  # ones_like(out)
        elif not isinstance(g, Tensor):
            from ember.ops.creation import tensor

            g = tensor(g, dtype=out.dtype)
        if g._data.shape != out._data.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] "
                f"has a shape of {out.shape}.")
        result.append(g)
    return result


_SEEDS: dict[Any, np.ndarray] = {}


def _seed(out: np.ndarray) -> Tensor:
    """ones_like(out) for out of one element, from a cache of read-only arrays: a backward that
    wrote into its incoming gradient would raise rather than change the next seed, and the
    engine's leaves copy a read-only gradient rather than keep it as `.grad`."""
    key = (out.dtype, out.shape)
    one = _SEEDS.get(key)
    if one is None:
        one = _SEEDS[key] = np.ones(out.shape, dtype=out.dtype)
        one.flags.writeable = False
    return Tensor._make(one)


def _check_outputs(outputs: list[Tensor]) -> None:
    for i, out in enumerate(outputs):
        if not out._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               "a grad_fn")


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Matches `torch.autograd.backward`: accumulate gradients of `tensors` into leaf `.grad`."""
    node = tensors.grad_fn if isinstance(tensors, Tensor) else None
    if (grad_tensors is None and inputs is None and not create_graph and node is not None
            and isinstance(node.fn, type) and not node.hooks and node.retained is None):
        # loss.backward() from a primitive, the common case, without the list handling: the
        # seed is a cached read-only 1 of the loss's dtype (np.ones costs more than a tiny op).
        # Not for custom Functions, hooks or retain_grad, which may write into what they get.
        arr = tensors._data
        if arr.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        run_backward([tensors], [_seed(arr)], bool(retain_graph), False)
        return
    outputs = _as_list(tensors)
    _check_outputs(outputs)
    grads = _make_grads(outputs, _as_list(grad_tensors))
    if retain_graph is None:
        retain_graph = create_graph
    run_backward(outputs, grads, retain_graph, create_graph,
                 inputs=None if inputs is None else _as_list(inputs))


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """Matches `torch.autograd.grad`: gradients of outputs with respect to inputs, returned
    rather than accumulated."""
    outs = _as_list(outputs)
    ins: Sequence[Tensor] = _as_list(inputs)
    _check_outputs(outs)
    for t in ins:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _make_grads(outs, _as_list(grad_outputs))
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(outs, grads, retain_graph, create_graph, inputs=ins, accumulate=False)
    if materialize_grads:
        allow_unused = True
    for i, g in enumerate(result):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior.")
            if materialize_grads:
                from ember.ops.creation import zeros_like

                result[i] = zeros_like(ins[i])
        elif not create_graph:
            result[i] = g.detach()
    return tuple(result)


from ember.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402, F401
