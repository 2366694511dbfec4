"""The floor for the tiny-op workload: a micrograd-style NumPy autograd with only what
`(x * w + b).relu().sum().backward()` needs (no dtype promotion, version counters, hooks, graph
release or error checks). `make bench` reports its time beside ember's and torch's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class Value:
    """An array with a gradient and the closure that sends its gradient to its parents."""

    __slots__ = ("data", "grad", "parents", "vjp")

    def __init__(self, data: np.ndarray, parents: tuple[Value, ...] = (),
                 vjp: Callable[[np.ndarray], tuple[Any, ...]] | None = None) -> None:
        self.data, self.grad, self.parents, self.vjp = data, None, parents, vjp

    def __mul__(self, other: Value) -> Value:
        return Value(self.data * other.data, (self, other),
                     lambda g: (g * other.data, g * self.data))

    def __add__(self, other: Value) -> Value:
        return Value(self.data + other.data, (self, other), lambda g: (g, g))

    def relu(self) -> Value:
        out = np.maximum(self.data, 0)
        return Value(out, (self,), lambda g: (g * (out > 0),))

    def sum(self) -> Value:
        shape = self.data.shape
        out = np.add.reduce(self.data, axis=None, keepdims=True).reshape(())
        return Value(out, (self,), lambda g: (np.broadcast_to(g, shape),))

    def backward(self) -> None:
        order: list[Value] = []
        seen: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:  # iterative post-order DFS
            v, done = stack.pop()
            if done:
                order.append(v)
            elif id(v) not in seen:
                seen.add(id(v))
                stack.append((v, True))
                stack.extend((p, False) for p in v.parents)
        grads: dict[int, Any] = {id(self): np.ones((), self.data.dtype)}
        for v in reversed(order):
            g = grads.pop(id(v))
            if v.vjp is None:  # a leaf: accumulate
                v.grad = np.array(g) if v.grad is None else v.grad + g
                continue
            for p, gp in zip(v.parents, v.vjp(g)):
                grads[id(p)] = grads[id(p)] + gp if id(p) in grads else gp


def tiny_ops() -> Callable[[], None]:
    """The tiny-op workload on `Value`s (same shapes, dtype and seed as workloads.tiny_ops)."""
    rng = np.random.default_rng(0)
    x, w, b = (Value(rng.standard_normal((8, 8)).astype(np.float32)) for _ in range(3))

    def step() -> None:
        (x * w + b).relu().sum().backward()

    return step
