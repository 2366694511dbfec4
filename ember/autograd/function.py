"""Graph nodes (Node, the `ctx` of a backward), primitives and custom autograd Functions."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ember.autograd.grad_mode import STATE

NDArray = np.ndarray

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


_NO_VERSION = [0]  # what save_for_backward records for None and non-Tensors


class Node:
    """One recorded op: the `ctx` its forward fills and its backward reads, and the graph edge.

    `next[i]` is where input i's gradient goes: the Node that made it, the leaf Tensor itself
    (accumulated into `.grad`), or None. Nodes only point backwards, so the graph has no cycles.
    """

    # The per-op fields live in slots; the rarely-set ones are class-level defaults that an
    # instance overrides in its __dict__ only when used, so creating a Node (once per op) costs
    # five stores instead of thirteen.
    __slots__ = ("fn", "next", "in_meta", "needs_input_grad", "inputs", "__dict__",
                 "__weakref__")

    _saved: tuple[Any, ...] = ()
    _versions: tuple[int, ...] = ()
    _out: Any = None  # the output array, for `output()` (primitives with save_output)
    _out_version: list[int] | None = None
    _out_v0 = 0
    freed = False
    hooks: list[Callable[[Tensor], Tensor | None]] | None = None
    retained: weakref.ref[Tensor] | None = None

    if TYPE_CHECKING:  # primitives keep their own fields on ctx (ctx.dims, ctx.in_shape, ...)
        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.next: tuple[Any, ...] = ()
        self.in_meta: tuple[Any, ...] = ()  # (shape, dtype) per input, None for non-Tensors
        self.needs_input_grad: tuple[bool, ...] = ()
        self.inputs: tuple[Any, ...] | None = None  # the forward's arguments, only during forward

    # ---- saving for backward ------------------------------------------------------------------
    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (or None) for backward; in-place changes before backward are detected."""
        self._saved = tensors
        versions = []  # a loop, not a comprehension: 3.11 makes a function call of those
        for t in tensors:  # None (a side that needs no grad) without getattr's lookup
            versions.append(0 if t is None else getattr(t, "_version_ref", _NO_VERSION)[0])
        self._versions = tuple(versions)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        if self.freed:
            raise RuntimeError(_FREED)
        saved, versions = self._saved, self._versions
        for i in range(len(saved)):  # zip(strict=True) costs more per call
            t = saved[i]
            if t is not None and getattr(t, "_version_ref", _NO_VERSION)[0] != versions[i]:
                raise RuntimeError(_modified_message(t, versions[i]))
        return saved

    def output(self) -> Tensor:
        """The forward's output as a Tensor in the graph (so double backward flows through it).

        Only the array is kept, not the output Tensor: that would be a cycle out -> node -> out."""
        out = Tensor._make(self.output_array(), True)
        out.grad_fn = self
        return out

    def output_array(self) -> NDArray:
        """The forward's output array, checked as `output()` checks it, for a backward that
        needs its values but no gradient through it (relu's mask)."""
        if self.freed:
            raise RuntimeError(_FREED)
        ver = self._out_version
        if ver is not None and ver[0] != self._out_v0:
            stale = Tensor._make(self._out, False, ver)
            raise RuntimeError(_modified_message(stale, self._out_v0, self))
        return self._out  # type: ignore[no-any-return]

    def release(self) -> None:
        """Free what backward needed; a second backward then raises torch's error."""
        # nothing written when nothing was saved: the first write would create the Node's dict
        if self._saved or self._out is not None:
            self.freed = True
            self._saved = ()
            self._out = None

    # ---- introspection, as torch's grad_fn objects ----------------------------------------------
    def name(self) -> str:
        return self.fn.backward_name()

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        return tuple((_AccumulateGrad(n) if _is_tensor(n) else n, 0) for n in self.next)

    def register_hook(self, hook: Callable[..., Any]) -> Any:
        raise NotImplementedError("hooks on grad_fn nodes are not supported; use "
                                  "Tensor.register_hook")


class _AccumulateGrad:
    """What `next_functions` shows for a leaf: torch's AccumulateGrad with `.variable`."""

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _is_tensor(x: object) -> bool:
    return hasattr(x, "_version_ref")


def _modified_message(t: Any, expected: int, node: Node | None = None) -> str:
    dt = t.dtype._legacy
    shape = list(t.shape)
    made_by = f", which is output 0 of {node.fn.__name__}," if node is not None else ""
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [torch.{dt} {shape}]{made_by} is at version {t._version_ref[0]}; expected "
        f"version {expected} instead. Hint: enable anomaly detection to find the operation that "
        "failed to compute its gradient, with torch.autograd.set_detect_anomaly(True)."
    )


class Primitive:
    """An op with a NumPy forward and a backward written in ember Tensor ops.

    Subclasses define `forward(ctx, *args) -> NDArray` (Tensors arrive as arrays) and
    `backward(ctx, grad) -> tuple[Tensor | None, ...]` with one entry per forward argument.
    The engine sums each gradient to its input's shape, so backward may return broadcast shapes.
    """

    is_view: bool = False  # output shares memory (and the version counter) with input 0
    differentiable: bool = True
    save_output: bool = False  # keep the output array for `ctx.output()`
    # backward_into(ctx, g, grads) -> bool: instead of backward, add g's share into the pending
    # gradient of input 0 in the engine's `grads` where it may (True); see GetItemView
    backward_into: Callable[[Node, Tensor, dict[Any, Tensor]], bool] | None = None

    @staticmethod
    def forward(ctx: Node, *args: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Node, grad: Tensor) -> tuple[Tensor | None, ...]:
        raise NotImplementedError

    @classmethod
    def backward_name(cls) -> str:
        return cls.__name__ + "Backward0"

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run forward on the inputs' arrays and, when grad mode is on and an input requires
        grad, record a Node. This runs for every op (~7 per tiny training step), so it makes one
        pass over the arguments, builds the Node without __init__'s call, and allocates the
        edge lists only once an input turns out to require grad."""
        ctx = _new_node(Node)
        ctx.fn = cls
        ctx.inputs = args
        arrays = list(args)
        record = False
        if STATE.enabled and cls.differentiable:
            i = 0
            for a in args:
                if isinstance(a, Tensor):
                    arr = arrays[i] = a._data
                    if a._requires_grad:
                        if not record:  # edge, (shape, dtype) and need per input, for the engine
                            record = True
                            n = len(args)
                            edges: list[Any] = [None] * n
                            meta: list[Any] = [None] * n
                            needs = [False] * n
                        edges[i] = a.grad_fn or a  # the Node that made it, or the leaf itself
                        meta[i] = (arr.shape, arr.dtype)
                        needs[i] = True
                i += 1
        else:
            i = 0
            for a in args:
                if isinstance(a, Tensor):
                    arrays[i] = a._data
                i += 1
        if record:
            ctx.next, ctx.in_meta, ctx.needs_input_grad = tuple(edges), tuple(meta), tuple(needs)
        else:
            # without recording nothing needs saving: forwards read this to decide what to keep
            ctx.next = ctx.in_meta = ()
            ctx.needs_input_grad = _NO_NEEDS[len(args)] if len(args) < 8 else (False,) * len(args)
        out_arr = cls.forward(ctx, *arrays, **kwargs)
        ctx.inputs = None
        if type(out_arr) is not np.ndarray:
            out_arr = np.asarray(out_arr)  # NumPy returns scalars from 0-d ops
        # Tensor._make inlined (one call fewer per op)
        out = _new_tensor(Tensor)
        out._data = out_arr
        out._requires_grad = record
        out._grad = out._base = out._extra = None
        if cls.is_view and isinstance(args[0], Tensor):
            first = args[0]
            out._version_ref = first._version_ref
            out._base = first._base if first._base is not None else first
        else:
            out._version_ref = [0]
        if record:
            out.grad_fn = ctx
            if cls.save_output:
                ctx._out = out_arr
                ctx._out_version = out._version_ref  # the live counter, not the Tensor
                ctx._out_v0 = out._version_ref[0]
        else:
            out.grad_fn = None
        return out

    @classmethod
    def apply2(cls, a: Tensor, b: Tensor) -> Tensor:
        """`apply(a, b)` for two Tensors, unrolled (no argument loop, no lists): what the
        operators + - * call for two Tensors of one dtype, three of the tiny step's seven ops.
        Only for primitives that are not views, keep no output, and whose forward reads only
        `needs_input_grad` and stores nothing on ctx when nothing is recorded (Add, Sub, Mul)."""
        ad = a._data
        bd = b._data
        ra = a._requires_grad
        rb = b._requires_grad
        record = (ra or rb) and STATE.enabled
        if record:
            ctx = _new_node(Node)
            ctx.fn = cls
            ctx.next = ((a.grad_fn or a) if ra else None, (b.grad_fn or b) if rb else None)
            ctx.in_meta = ((ad.shape, ad.dtype) if ra else None,
                           (bd.shape, bd.dtype) if rb else None)
            ctx.needs_input_grad = (ra, rb)
            ctx.inputs = (a, b)
            out_arr = cls.forward(ctx, ad, bd)
            ctx.inputs = None
        else:
            # nothing recorded (backward's own g * b, optimizer math): these forwards then read
            # only needs_input_grad and store nothing, so one shared ctx serves, no Node per op
            out_arr = cls.forward(_PLAIN_CTX2, ad, bd)
        if type(out_arr) is not np.ndarray:
            out_arr = np.asarray(out_arr)  # NumPy returns scalars from 0-d ops
        out = _new_tensor(Tensor)
        out._data = out_arr
        out._requires_grad = record
        out._grad = out._base = out._extra = None
        out._version_ref = [0]
        out.grad_fn = ctx if record else None
        return out

    @classmethod
    def apply1(cls, a: Tensor, *rest: Any) -> Tensor:
        """`apply(a, *rest)` for one Tensor then non-Tensor arguments (dims, flags), unrolled
        as apply2: what relu and sum call (~8K instructions less than apply per op). Only for
        differentiable primitives that are not views and whose forward does not read
        `ctx.inputs`; the node has one edge, as torch's (next_functions shows one entry)."""
        ad = a._data
        ctx = _new_node(Node)
        ctx.fn = cls
        ctx.inputs = None
        record = a._requires_grad and STATE.enabled
        if record:
            ctx.next = (a.grad_fn or a,)
            ctx.in_meta = ((ad.shape, ad.dtype),)
            ctx.needs_input_grad = _NEEDS1
        else:
            ctx.next = ctx.in_meta = ()
            ctx.needs_input_grad = _NO_NEEDS[1]
        out_arr = cls.forward(ctx, ad, *rest)
        if type(out_arr) is not np.ndarray:
            out_arr = np.asarray(out_arr)  # NumPy returns scalars from 0-d ops
        out = _new_tensor(Tensor)
        out._data = out_arr
        out._requires_grad = record
        out._grad = out._base = out._extra = None
        out._version_ref = ver = [0]
        if record:
            out.grad_fn = ctx
            if cls.save_output:
                ctx._out = out_arr
                ctx._out_version = ver  # the live counter, not the Tensor
                ctx._out_v0 = 0
        else:
            out.grad_fn = None
        return out


_new_node = object.__new__
_NEEDS1 = (True,)
_new_tensor = object.__new__
_NO_NEEDS = [(False,) * k for k in range(8)]
_PLAIN_CTX2 = _new_node(Node)  # apply2's ctx when nothing is recorded (read-only by contract)
_PLAIN_CTX2.fn = None
_PLAIN_CTX2.next = _PLAIN_CTX2.in_meta = ()
_PLAIN_CTX2.needs_input_grad = _NO_NEEDS[2]
_PLAIN_CTX2.inputs = None


class FunctionCtx(Node):
    """The `ctx` of a custom `ember.autograd.Function`."""

    def mark_non_differentiable(self, *tensors: Any) -> None:
        self.non_differentiable = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value

    def mark_dirty(self, *tensors: Any) -> None:
        pass


class Function:
    """Matches `torch.autograd.Function`: static `forward(ctx, *args)` and `backward(ctx, *grads)`
    on Tensors, used through `.apply`. Forward runs with grad disabled. Single-output functions
    get full support; tuple outputs are returned with the first differentiable output recorded."""

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def backward_name(cls) -> str:
        return cls.__name__ + "Backward"

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        needs = tuple([isinstance(a, Tensor) and a._requires_grad for a in args])
        ctx = FunctionCtx(_CustomBackward(cls))
        ctx.needs_input_grad = needs
        prev = STATE.enabled
        STATE.enabled = False
        try:
            result = cls.forward(ctx, *args, **kwargs)
        finally:
            STATE.enabled = prev
        if not (prev and True in needs):
            return result
        single = isinstance(result, Tensor)
        outputs = (result,) if single else tuple(result)
        nondiff: set[int] = getattr(ctx, "non_differentiable", set())
        wrapped = []
        recorded = False
        for k, o in enumerate(outputs):
            if isinstance(o, Tensor) and not recorded and id(o) not in nondiff:
                # a fresh Tensor object sharing the data, so forward's own tensors stay untouched
                o = Tensor._make(o._data, True, o._version_ref)
                o.grad_fn = ctx
                recorded = True
                ctx.out_index = k
            wrapped.append(o)
        if not single:  # backward gets one gradient per output, as torch: (shape, dtype) of each
            ctx.out_meta = tuple([(o._data.shape, o._data.dtype) if isinstance(o, Tensor) else None
                                  for o in outputs])
        ctx.next = tuple([(a.grad_fn or (a if a._requires_grad else None))
                          if isinstance(a, Tensor) else None for a in args])
        ctx.in_meta = tuple([(a._data.shape, a._data.dtype) if isinstance(a, Tensor) else None
                             for a in args])
        return wrapped[0] if single else tuple(wrapped)


class _CustomBackward:
    """Adapts a custom Function's backward to the engine's calling convention."""

    backward_into = None  # as Primitive's: the engine reads it for every node

    def __init__(self, cls: type[Function]) -> None:
        self.cls = cls
        self.__name__ = cls.__name__

    def backward_name(self) -> str:
        return self.cls.backward_name()

    def backward(self, ctx: Node, grad: Tensor) -> tuple[Any, ...]:
        meta = getattr(ctx, "out_meta", None)
        if meta is None:
            grads = self.cls.backward(ctx, grad)
        else:
            # tuple outputs: the recorded one's gradient, and for the others what torch passes
            # when no gradient flows to them: zeros (None with set_materialize_grads(False))
            zeros = getattr(ctx, "materialize_grads", True)
            ins = [grad if k == ctx.out_index else
                   (Tensor._make(np.zeros(m[0], m[1])) if zeros and m is not None else None)
                   for k, m in enumerate(meta)]
            grads = self.cls.backward(ctx, *ins)
        if not isinstance(grads, tuple):
            grads = (grads,)
        n = len(ctx.needs_input_grad)
        if len(grads) != n:
            if len(grads) > n and all(g is None for g in grads[n:]):
                grads = grads[:n]
            else:
                raise RuntimeError(
                    f"function {self.backward_name()} returned an incorrect number of gradients "
                    f"(expected {n}, got {len(grads)})"
                )
        return grads


# At the end: ember.tensor imports the ops, which import Node and Primitive from here.
from ember.tensor import Tensor  # noqa: E402
