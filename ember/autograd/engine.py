"""The backward pass: an iterative walk of the graph in dependency order (Kahn's algorithm)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ember.autograd.function import Node
from ember.autograd.grad_mode import STATE

if TYPE_CHECKING:
    from ember.tensor import Tensor


def _count_dependencies(roots: list[Node]) -> dict[Node, int]:
    """How many graph edges point at each node reachable from the roots (iterative DFS)."""
    deps: dict[Node, int] = {}
    seen = set(roots)
    stack = list(roots)
    while stack:
        node = stack.pop()
        for nxt in node.next:
            if type(nxt) is Node or isinstance(nxt, Node):
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    return deps


def _add(a: Tensor | None, b: Tensor) -> Tensor:
    return b if a is None else a + b


def run_backward(
    outputs: Sequence[Tensor],
    grad_outputs: Sequence[Tensor],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
    accumulate: bool = True,
) -> list[Tensor | None]:
    """Propagate `grad_outputs` from `outputs` to the leaves.

    accumulate=True (Tensor.backward): leaf grads are added into `.grad` (only for `inputs`
    when given). accumulate=False (autograd.grad): nothing is written; the gradients of `inputs`
    are returned instead.
    """
    from ember.ops.reduce import sum_to_shape

    grads: dict[Any, Tensor | None] = {}  # pending gradient per Node
    leaf_grads: dict[Tensor, Tensor] = {}
    roots: list[Node] = []
    for out, g0 in zip(outputs, grad_outputs, strict=True):
        if out.grad_fn is None:
            leaf_grads[out] = _add(leaf_grads.get(out), g0)
            continue
        if out.grad_fn not in grads:
            roots.append(out.grad_fn)
        grads[out.grad_fn] = _add(grads.get(out.grad_fn), g0)

    # non-leaf inputs of autograd.grad: capture the gradient arriving at their node
    wanted_nodes = {t.grad_fn: t for t in inputs or () if t.grad_fn is not None}
    captured: dict[Any, Tensor] = {}

    deps = _count_dependencies(roots)
    ready = [n for n in roots if deps.get(n, 0) == 0]
    prev_mode = STATE.enabled
    STATE.enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            g = grads.pop(node, None)
            if g is not None:
                if node.hooks:
                    for hook in node.hooks:
                        new = hook(g)
                        if new is not None:
                            g = new
                if node.retained is not None:
                    t = node.retained()
                    if t is not None:
                        t._grad = _add(t._grad, g if create_graph else g.detach())
                if node in wanted_nodes:
                    captured[node] = g
                in_grads = node.fn.backward(node, g)
                if not retain_graph:
                    node.release()
            else:
                in_grads = (None,) * len(node.next)
            for nxt, gi, meta in zip(node.next, in_grads, node.in_meta, strict=False):
                if nxt is None:
                    continue
                if gi is not None:
                    arr = gi._data  # compare the array's shape: Tensor.shape builds a Size
                    if arr.shape != meta[0]:
                        gi = sum_to_shape(gi, meta[0])
                    if arr.dtype != meta[1]:
                        gi = gi.to(_dtype_of(meta[1]))
                if isinstance(nxt, Node):
                    if gi is not None:
                        grads[nxt] = _add(grads.get(nxt), gi)
                    left = deps[nxt] - 1
                    deps[nxt] = left
                    if left == 0:
                        ready.append(nxt)
                elif gi is not None:
                    leaf_grads[nxt] = _add(leaf_grads.get(nxt), gi)
    finally:
        STATE.enabled = prev_mode

    if not accumulate:
        result: list[Tensor | None] = []
        for t in inputs or ():
            result.append(captured.get(t.grad_fn) if t.grad_fn is not None
                          else leaf_grads.get(t))
        return result

    only = None if inputs is None else {id(t) for t in inputs}
    g = gi = in_grads = arr = None  # drop the loop's references: _sole_owner counts them
    for leaf in list(leaf_grads):
        g = leaf_grads.pop(leaf)  # popped, so the dict holds no reference to it
        if only is not None and id(leaf) not in only:
            continue
        if not leaf._requires_grad:
            continue
        owned = not create_graph and leaf._grad is None and _sole_owner(g)
        leaf._accumulate_grad(g, create_graph, owned)
    return []


def _sole_owner(g: Tensor) -> bool:
    """Whether nothing but this gradient Tensor holds its array (fresh from a backward, not a
    view, not shared with another leaf, a hook or a retained grad), so a leaf may keep the
    array as its `.grad` instead of copying it: torch's AccumulateGrad steals its gradient the
    same way when the use count allows. The references expected (getrefcount adds its own
    argument): for the Tensor the caller's local and this argument; for the array the Tensor
    and the local `arr`."""
    arr = g._data
    return (_COUNTS_REFS and arr.base is None and arr.flags.writeable
            and sys.getrefcount(g) == 3 and sys.getrefcount(arr) == 3)


# The counts above hold for CPython up to 3.13; 3.14 may borrow references (lower counts), where
# a shared array could look unshared, so there every first gradient is copied.
_COUNTS_REFS = sys.implementation.name == "cpython" and sys.version_info < (3, 14)


def _dtype_of(np_dtype: Any) -> Any:
    from ember.dtypes import from_numpy_dtype

    return from_numpy_dtype(np_dtype)
