"""The backward pass: an iterative walk of the graph in dependency order (Kahn's algorithm)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ember._buffers import _COUNTS_REFS
from ember.autograd.function import Node
from ember.autograd.grad_mode import STATE



def _count_dependencies(roots: list[Node]) -> dict[Node, int]:
    """How many graph edges point at each node reachable from the roots (iterative DFS).
    A node's first edge also marks it seen: the counts dict doubles as the visited set."""
    deps: dict[Node, int] = {}
    stack = list(roots)
    # a root reached from another root is counted but not walked again: its edges are counted
    # once, from the stack's start (walked twice, its inputs never reached 0 and their leaves
    # got no gradient). One root cannot reach itself: the graph has no cycles.
    walked = set(roots) if len(roots) > 1 else ()
    while stack:
        for nxt in stack.pop().next:
            # leaves (Tensors) and None end the walk; Nodes (and FunctionCtx) continue it
            if nxt is not None and (type(nxt) is Node or isinstance(nxt, Node)):
                if nxt in deps:
                    deps[nxt] += 1
                else:
                    deps[nxt] = 1
                    if nxt not in walked:
                        stack.append(nxt)
    return deps


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
    global _sum_to_shape
    if _sum_to_shape is None:
        from ember.ops.reduce import sum_to_shape as _sum_to_shape

    grads: dict[Node, Tensor] = {}  # pending gradient per Node, popped when the node runs
    # (leaf, gradient) by id(leaf): Tensor.__hash__ is a Python method, id() is not
    leaf_grads: dict[int, tuple[Tensor, Tensor]] = {}
    roots: list[Node] = []
    for out, g0 in zip(outputs, grad_outputs, strict=True):
        node = out.grad_fn
        if node is None:
            pair = leaf_grads.get(id(out))
            leaf_grads[id(out)] = (out, g0 if pair is None else pair[1] + g0)
            continue
        if node not in grads:
            roots.append(node)
            grads[node] = g0
        else:
            grads[node] = grads[node] + g0

    # non-leaf inputs of autograd.grad: capture the gradient arriving at their node
    wanted_nodes = None
    if inputs:
        wanted_nodes = {t.grad_fn: t for t in inputs if t.grad_fn is not None}
    captured: dict[Any, Tensor] = {}

    deps = _count_dependencies(roots)
    ready = []  # a loop, not a comprehension: 3.11 makes a function call of those
    for n in roots:
        if n not in deps:
            ready.append(n)
    prev_mode = STATE.enabled
    STATE.enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            g = grads.pop(node, None)
            if g is None:  # nothing reached this node: only its consumers' counts move on
                for nxt in node.next:
                    if nxt is not None and isinstance(nxt, Node):
                        left = deps[nxt] = deps[nxt] - 1
                        if left == 0:
                            ready.append(nxt)
                continue
            if node.hooks:
                for hook in node.hooks:
                    new = hook(g)
                    if new is not None:
                        g = new
            if node.retained is not None:
                t = node.retained()
                if t is not None:
                    kept = g if create_graph else g.detach()
                    if not kept._data.flags.writeable:  # a broadcast view or the cached seed:
                        kept = Tensor._make(kept._data.copy())  # the user's .grad is writable
                    t._grad = kept if t._grad is None else t._grad + kept
            if wanted_nodes and node in wanted_nodes:
                captured[node] = g
            into = node.fn.backward_into  # (slices) see Primitive.backward_into
            if into is not None and not create_graph:
                gi = arr = in_grads = None  # the previous node's: backward_into counts references
                # True: g was added into input 0's pending gradient, only the counts move on
                in_grads = (None,) if into(node, g, grads) else node.fn.backward(node, g)
            else:
                in_grads = node.fn.backward(node, g)
            if not retain_graph and (node._saved or node._out is not None):
                node.release()  # only where something was saved: a call fewer per node
            for nxt, gi, meta in zip(node.next, in_grads, node.in_meta):  # no kwarg: faster
                if nxt is None:
                    continue
                if gi is not None:
                    arr = gi._data  # the array's shape: Tensor.shape builds a Size
                    if arr.shape != meta[0]:
                        gi = _sum_to_shape(gi, meta[0])
                    if arr.dtype is not meta[1] and arr.dtype != meta[1]:
                        gi = gi.to(_dtype_of(meta[1]))
                if type(nxt) is Node or isinstance(nxt, Node):
                    if gi is not None:
                        pending = grads.get(nxt)
                        grads[nxt] = gi if pending is None else pending + gi
                    left = deps[nxt] = deps[nxt] - 1
                    if left == 0:
                        ready.append(nxt)
                elif gi is not None:
                    prev_leaf = leaf_grads.get(id(nxt))
                    leaf_grads[id(nxt)] = (nxt, gi if prev_leaf is None else prev_leaf[1] + gi)
    finally:
        STATE.enabled = prev_mode

    if not accumulate:
        result: list[Tensor | None] = []
        for t in inputs or ():
            if t.grad_fn is not None:
                result.append(captured.get(t.grad_fn))
            else:
                pair = leaf_grads.get(id(t))
                result.append(None if pair is None else pair[1])
        return result

    only = None if inputs is None else {id(t) for t in inputs}
    # drop the loop's references: _sole_owner counts them
    g = gi = in_grads = arr = pending = prev_leaf = None  # type: ignore[assignment]
    for key in list(leaf_grads):
        leaf, g = leaf_grads.pop(key)  # popped (the pair freed), so nothing else holds g
        if only is not None and key not in only:
            continue
        if not leaf._requires_grad:
            continue
        owned = not create_graph and leaf._grad is None and _sole_owner(g)
        leaf._accumulate_grad(g, create_graph, owned)
    return []


_sum_to_shape: Any = None  # ember.ops.reduce.sum_to_shape, imported on first use (import cycle)


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


# The counts above hold for CPython up to 3.13 (`_COUNTS_REFS`); 3.14 may borrow references
# (lower counts), where a shared array could look unshared, so there every first gradient is
# copied.


def _dtype_of(np_dtype: Any) -> Any:
    from ember.dtypes import from_numpy_dtype

    return from_numpy_dtype(np_dtype)


# At the end, as in function.py: ember.tensor imports ember.autograd, which imports this module.
from ember.tensor import Tensor  # noqa: E402
