"""Indexing primitives (getitem, index_put) and composites (gather, scatter, sort, ...)."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

from ember._buffers import _COUNTS_REFS  # whether refcounts can tell ownership
from ember.autograd.function import Node, Primitive
from ember.autograd.grad_mode import STATE
from ember.tensor import Tensor, _wrap_dim

NDArray = np.ndarray

# public functions (grows as ops land); ember.ops and the ember namespace re-export these
__all__ = [
    'getitem', 'setitem', 'index_put', 'gather', 'scatter', 'scatter_add', 'scatter_reduce',
    'index_select', 'index_add', 'index_copy', 'index_fill', 'masked_select', 'masked_scatter',
    'take', 'take_along_dim', 'nonzero', 'argwhere', 'sort', 'argsort', 'msort', 'topk',
    'kthvalue', 'unique', 'unique_consecutive',
]


_BAD_INDEX = ("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
              "are valid indices (got {})")


def _index_array(i: Any) -> NDArray:
    """An int/bool index array from a Tensor, list or ndarray (uint8 acts as a mask, as torch)."""
    if isinstance(i, Tensor):
        arr = i._data
    elif isinstance(i, list):
        arr = np.asarray([x._data if isinstance(x, Tensor) else x for x in i])
        if arr.size == 0:
            arr = arr.astype(np.int64)
    else:
        arr = np.asarray(i)
    if arr.dtype == np.uint8:
        arr = arr.astype(bool)
    if arr.dtype.kind not in "biu":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return arr


def _sequence_as_tuple(index: list[Any]) -> bool:
    """torch 2.13 still reads x[[t, 1]] or x[[[0, 1], [2, 3]]] as x[t, 1] / x[[0, 1], [2, 3]],
    with a deprecation warning (a short list holding tensors, sequences, slices, None or ...)."""
    if len(index) >= 32 or not any(isinstance(i, (Tensor, list, tuple, slice)) or i is None
                                   or i is Ellipsis for i in index):
        return False
    warnings.warn(
        "Using a non-tuple sequence for multidimensional indexing is deprecated and will be "
        "changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will "
        "be interpreted as tensor index, x[torch.tensor(seq)], which will result either in an "
        "error or a different result", UserWarning, stacklevel=4)
    return True


def _convert_index(index: Any, shape: tuple[int, ...]) -> tuple[Any, bool]:
    """Turn a torch-style index into a NumPy one; also say whether it is basic (a view)."""
    if type(index) is list and _sequence_as_tuple(index):
        index = tuple(index)
    if not isinstance(index, tuple):
        index = (index,)
    out: list[Any] = []
    basic = True
    for i in index:
        t = type(i)
        if t is int or i is None or i is Ellipsis or (t is slice and i.step is None):
            out.append(i)  # the common cases first: this runs on every x[...]
        elif isinstance(i, (Tensor, list, np.ndarray)):
            arr = _index_array(i)
            if arr.ndim == 0 and arr.dtype.kind in "iu":
                out.append(int(arr))  # a 0-dim int tensor acts as an int
                continue
            out.append(arr)
            basic = False
        elif isinstance(i, slice):
            if i.step is not None and int(i.step) <= 0:
                raise ValueError("step must be greater than zero")
            out.append(i)
        elif i is None or i is Ellipsis or isinstance(i, (bool, np.bool_)):
            out.append(i)
            basic = basic and not isinstance(i, (bool, np.bool_))
        elif isinstance(i, (int, np.integer)):
            out.append(int(i))
        else:
            raise IndexError(_BAD_INDEX.format(type(i).__name__))
    if not basic:  # basic indices are checked by NumPy; _basic_error then words it as torch
        _check_bounds(out, shape)
    return tuple(out), basic


def _basic_error(idx: tuple[Any, ...], shape: tuple[int, ...], err: IndexError) -> IndexError:
    """torch's message for a NumPy IndexError on a basic index."""
    try:
        _check_bounds(list(idx), shape)
    except IndexError as torch_err:
        return torch_err
    return err


def _check_bounds(index: list[Any], shape: tuple[int, ...]) -> None:
    """torch's IndexError for integer indices out of range (NumPy's message differs)."""
    dim = 0
    n_real = sum(1 for i in index if i is not None and i is not Ellipsis
                 and not isinstance(i, (bool, np.bool_))
                 and not (isinstance(i, np.ndarray) and i.dtype == bool))
    n_real += sum(i.ndim for i in index if isinstance(i, np.ndarray) and i.dtype == bool)
    pending: list[tuple[int, int, int]] = []  # (position, dim, size) of out-of-range arrays
    for pos, i in enumerate(index):
        if i is Ellipsis:
            dim += len(shape) - n_real
            continue
        if i is None or isinstance(i, (bool, np.bool_)):
            continue
        if isinstance(i, np.ndarray) and i.dtype == bool:
            if i.shape != shape[dim:dim + i.ndim]:
                k = next(k for k in range(i.ndim) if dim + k >= len(shape)
                         or i.shape[k] != shape[dim + k])
                raise IndexError(f"The shape of the mask {list(i.shape)} at index {k} does not "
                                 f"match the shape of the indexed tensor {list(shape)} at index "
                                 f"{dim + k}")
            dim += i.ndim
            continue
        if dim >= len(shape):
            raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
        size = shape[dim]
        if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
        elif isinstance(i, np.ndarray) and i.size and ((i >= size) | (i < -size)).any():
            pending.append((pos, dim, size))
        dim += 1
    if pending:
        _out_of_range(index, shape, pending)


def _out_of_range(index: list[Any], shape: tuple[int, ...],
                  pending: list[tuple[int, int, int]]) -> None:
    """torch checks index values only while gathering: when the result is empty (x[1:1, [7]])
    nothing is read and nothing raises. Then clip the arrays in `index` (in place) so NumPy
    gives that empty result; otherwise raise torch's IndexError for the first bad value."""
    clipped = list(index)
    for pos, _, size in pending:
        clipped[pos] = np.clip(index[pos], -size, size - 1) if size else index[pos]
    if all(size for _, _, size in pending):
        probe = np.broadcast_to(np.empty((), np.int8), shape)  # no memory: zero strides
        if probe[tuple(clipped)].size == 0:
            index[:] = clipped
            return
    pos, dim, size = pending[0]
    i = index[pos]
    bad = i[(i >= size) | (i < -size)]
    raise IndexError(f"index {int(bad.flat[0])} is out of bounds for dimension {dim} with size "
                     f"{size}")


class _Split:
    """An advanced index in torch's two steps: ints and None first (a view of `first`), then the
    advanced indices on that view. NumPy alone would treat the ints as advanced indices too, and
    move the advanced dims to the front when an int separates them (x[0, :, [0, 1]])."""

    __slots__ = ("first", "second")

    def __init__(self, first: tuple[Any, ...], second: tuple[Any, ...]) -> None:
        self.first, self.second = first, second


def _is_int(i: Any) -> bool:
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _split_index(idx: tuple[Any, ...]) -> Any:
    if not any(_is_int(i) or i is None for i in idx):
        return idx
    first: list[Any] = []
    second: list[Any] = []
    for i in idx:
        if i is None:
            first.append(None)
            second.append(slice(None))
        elif _is_int(i):
            first.append(i)
        elif isinstance(i, np.ndarray):
            first.extend([slice(None)] * (i.ndim if i.dtype == bool else 1))
            second.append(i)
        elif isinstance(i, (bool, np.bool_)):
            second.append(i)
        elif i is Ellipsis:
            first.append(i)
            second.append(i)
        else:
            first.append(i)
            second.append(slice(None))
    return _Split(tuple(first), tuple(second))


def _target(a: NDArray, index: Any) -> tuple[NDArray, Any]:
    """(array to index, index into it): a view by the first step of a _Split."""
    if isinstance(index, _Split):
        return a[index.first], index.second
    return a, index


class GetItem(Primitive):
    """a[index]. VJP: g scattered (accumulating duplicates) into zeros of a's shape."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, index: Any) -> NDArray:
        ctx.in_shape, ctx.index = a.shape, index
        arr, idx = _target(a, index)
        return arr[idx]

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        zeros = Tensor._make(np.zeros(ctx.in_shape, dtype=g._data.dtype))
        return (IndexPut.apply(zeros, g, ctx.index, True),)


class GetItemView(GetItem):
    """Basic indexing (ints, slices, None, ...): the result is a view."""

    is_view = True

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        zeros = np.zeros(ctx.in_shape, dtype=g._data.dtype)
        if not STATE.enabled:  # no create_graph: g into the zeros in place (IndexPut copies)
            arr, idx = _target(zeros, ctx.index)
            arr[idx] = g._data
            return (Tensor._make(zeros),)
        return (IndexPut.apply(Tensor._make(zeros), g, ctx.index, False),)  # no duplicates

    @staticmethod
    def backward_into(ctx: Node, g: Tensor, grads: dict[Any, Tensor]) -> bool:
        """The engine's shortcut (no create_graph): g added into the slice of the input's pending
        gradient when the engine alone holds that array, instead of zeros of the input's shape
        that the engine then adds. The pieces of a split fill one array: nanoGPT's q, k, v =
        c_attn(x).split(C, 2) built three (B, T, 3C) zeros and two sums per layer."""
        pend = grads.get(ctx.next[0]) if type(ctx.next[0]) is Node else None
        # owned: held by `grads`, `pend` and getrefcount's argument; its array by pend alone
        # (CPython < 3.14's counts, as the engine's _sole_owner)
        if (pend is None or not _COUNTS_REFS or sys.getrefcount(pend) != 3
                or sys.getrefcount(pend._data) != 2 or pend._data.base is not None
                or not pend._data.flags.writeable or pend._data.dtype != g._data.dtype):
            return False
        arr, idx = _target(pend._data, ctx.index)
        arr[idx] += g._data
        return True

    @classmethod
    def backward_name(cls) -> str:
        return "SliceBackward0"


def named(base: type[Primitive], name: str) -> type[Primitive]:
    """`base` under torch's grad_fn name (x[0] -> SelectBackward0, x.view(-1) -> ViewBackward0):
    the same forward and backward; only `grad_fn.name()` and the repr differ."""
    return type(name.removesuffix("Backward0"), (base,),
                {"backward_name": classmethod(lambda cls: name), "__doc__": base.__doc__})


# torch names a basic index by its last non-trivial step: an int selects, a slice slices, None
# unsqueezes; nothing but `...`/`:` is an alias. Advanced indexing is torch's index op.
_SelectView = named(GetItemView, "SelectBackward0")
_UnsqueezeView = named(GetItemView, "UnsqueezeBackward0")
_AliasView = named(GetItemView, "AliasBackward0")
_Index = named(GetItem, "IndexBackward0")


def _basic_kind(idx: tuple[Any, ...]) -> type[Primitive]:
    kind: type[Primitive] = _AliasView
    for i in idx:
        if i is None:
            kind = _UnsqueezeView
        elif _is_int(i):
            kind = _SelectView
        elif isinstance(i, slice) and i != slice(None):
            kind = GetItemView
    return kind


class IndexPut(Primitive):
    """a with a[index] = v (or += v when accumulate). VJP: (g with g[index] = 0, g[index])."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, v: NDArray, index: Any, accumulate: bool) -> NDArray:
        ctx.index, ctx.accumulate = index, accumulate
        out = a.copy()
        arr, idx = _target(out, index)  # arr is a view into out
        if accumulate:
            np.add.at(arr, idx, v)
        else:
            arr[idx] = v
        return out

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        ga = None
        if ctx.needs_input_grad[0]:
            ga = g if ctx.accumulate else IndexPut.apply(g, 0.0, ctx.index, False)
        gv = GetItem.apply(g, ctx.index) if ctx.needs_input_grad[1] else None
        return ga, gv


def getitem(input: Tensor, index: Any) -> Tensor:
    """Tensor indexing as torch: basic indexing gives views, advanced indexing copies."""
    idx, basic = _convert_index(index, input._data.shape)
    if basic:
        try:
            kind = (GetItemView if isinstance(index, slice)  # x[:] alone is torch's slice too
                    else _basic_kind(idx if isinstance(idx, tuple) else (idx,)))
            return kind.apply(input, idx)
        except IndexError as err:
            raise _basic_error(idx, input._data.shape, err) from None
    return _Index.apply(input, _split_index(idx))


def setitem(input: Tensor, index: Any, value: Any) -> None:
    """`input[index] = value` in place; differentiable with respect to both when recorded."""
    input._check_inplace()
    idx, basic = _convert_index(index, input._data.shape)
    if basic:
        try:
            target = input._data[idx]  # NumPy's bounds check, reworded as torch's
        except IndexError as err:
            raise _basic_error(idx, input._data.shape, err) from None
        if isinstance(value, Tensor) and value._data.shape != target.shape:
            _check_broadcast(value._data, target.shape)
    else:
        idx = _split_index(idx)
        if isinstance(value, Tensor) and value._data.dtype != input._data.dtype:
            raise RuntimeError(
                "Index put requires the source and destination dtypes match, got "
                f"{input.dtype._legacy[:-6]} for the destination and {value.dtype._legacy[:-6]} "
                "for the source.")
    if isinstance(value, (list, tuple)):
        value = Tensor._make(np.asarray(value, dtype=input._data.dtype))
    if STATE.enabled and (input._requires_grad
                          or (isinstance(value, Tensor) and value._requires_grad)):
        v = value.to(input.dtype) if isinstance(value, Tensor) else value
        input._inplace(IndexPut.apply(input, v, idx, False))
        return
    arr, idx = _target(input._data, idx)
    arr[idx] = value._data if isinstance(value, Tensor) else value
    input._version_ref[0] += 1


def _check_broadcast(v: NDArray, shape: tuple[int, ...]) -> None:
    """torch's error when a setitem value does not broadcast (leading 1s may be dropped)."""
    vshape = v.shape
    while len(vshape) > len(shape) and vshape[0] == 1:
        vshape = vshape[1:]
    try:
        if np.broadcast_shapes(vshape, shape) != tuple(shape):
            raise ValueError(vshape)
    except ValueError:
        from ember.ops.movement import expand

        expand(Tensor._make(v.reshape(vshape)), shape)
        raise


def index_put(input: Tensor, indices: Any, values: Any, accumulate: bool = False) -> Tensor:
    """Matches `torch.index_put`: a copy with input[indices] = values (or += when accumulate)."""
    idx, basic = _convert_index(tuple(indices), input._data.shape)
    if basic:
        _check_bounds(list(idx), input._data.shape)
    else:
        idx = _split_index(idx)
    v = values.to(input.dtype) if isinstance(values, Tensor) else values
    return IndexPut.apply(input, v, idx, accumulate)


# ---- dim-wise gathers and scatters -----------------------------------------------------------
def _along(index: NDArray, dim: int) -> tuple[Any, ...]:
    """Full NumPy index that pairs each element of `index` with its own position in the other
    dims: out[i][j] = a[index[i][j]][j] for dim 0 (the gather/scatter addressing)."""
    grid = np.indices(index.shape, sparse=True)
    return tuple(index if d == dim else grid[d] for d in range(index.ndim))


def _check_index(input: Tensor, dim: int, index: Tensor, fn: str, src: Any = None) -> int:
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        name = "scatter" if fn.startswith("scatter") else fn
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")
    nd = max(input.ndim, 1)
    d = _wrap_dim(dim, nd)
    if index.ndim and index.ndim != nd:
        what = "input" if fn == "gather" else "self"
        raise RuntimeError(f"Index tensor must have the same number of dimensions as {what} "
                           "tensor")
    ishape = input.shape if input.ndim else (1,)
    for k in range(index.ndim):
        if k != d and index.shape[k] > ishape[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index "
                               f"{list(index.shape)} to be no larger than self "
                               f"{list(ishape)} apart from dimension {d}")
        if isinstance(src, Tensor) and src.ndim and index.shape[k] > src.shape[k]:
            raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than src "
                               f"{list(src.shape)} apart from dimension {d}")
    arr = index._data
    if arr.size and (arr.min() < -ishape[d] or arr.max() >= ishape[d]):
        bad = arr[(arr < -ishape[d]) | (arr >= ishape[d])].flat[0]
        raise RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {ishape[d]}")
    return d


class Gather(Primitive):
    """out[i][j] = a[index[i][j]][j] (dim 0). VJP: g scatter-added into zeros of a's shape."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, dim: int, index: NDArray) -> NDArray:
        ctx.in_shape, ctx.dim = a.shape, dim
        ctx.index = index
        return a.reshape(a.shape or (1,))[_along(index.reshape(index.shape or (1,)), dim)
                                          ].reshape(index.shape)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        index = Tensor._make(ctx.index)
        zeros = Tensor._make(np.zeros(ctx.in_shape, dtype=g._data.dtype))
        return ScatterAdd.apply(zeros, ctx.dim, index, g), None, None


def _lead(a: NDArray, shape: tuple[int, ...]) -> NDArray:
    """The leading block of `a` with `shape` (src may be larger than index in scatter ops)."""
    return a[tuple(slice(0, s) for s in shape)] if a.ndim else a


def _pad_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """g placed in the leading block of zeros of `shape` (the VJP of _lead)."""
    if tuple(g.shape) == tuple(shape):
        return g
    zeros = Tensor._make(np.zeros(shape, dtype=g._data.dtype))
    return IndexPut.apply(zeros, g, tuple(slice(0, s) for s in g.shape), False)


class ScatterAdd(Primitive):
    """out = a; out[index[i][j]][j] += src[i][j]. VJP: (g, gather(g, dim, index))."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, dim: int, index: NDArray, src: NDArray) -> NDArray:
        ctx.dim, ctx.src_shape = dim, src.shape
        ctx.index = index
        out = a.copy().reshape(a.shape or (1,))
        ix = index.reshape(index.shape or (1,))
        np.add.at(out, _along(ix, dim), _lead(src, index.shape).reshape(ix.shape))
        return out.reshape(a.shape)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        index = Tensor._make(ctx.index)
        gs = None
        if ctx.needs_input_grad[3]:
            gs = _pad_to(Gather.apply(g, ctx.dim, index), ctx.src_shape)
        return g, None, None, gs


class Scatter(Primitive):
    """out = a; out[index[i][j]][j] = src[i][j] (src array or scalar).
    VJP: (g with the written places zeroed, gather(g, dim, index))."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, dim: int, index: NDArray, src: Any) -> NDArray:
        ctx.dim, ctx.src_shape = dim, np.shape(src)
        ctx.index = index
        out = a.copy().reshape(a.shape or (1,))
        ix = index.reshape(index.shape or (1,))
        val = _lead(src, index.shape).reshape(ix.shape) if isinstance(src, np.ndarray) else src
        out[_along(ix, dim)] = val
        return out.reshape(a.shape)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        index = Tensor._make(ctx.index)
        ga = Scatter.apply(g, ctx.dim, index, 0.0) if ctx.needs_input_grad[0] else None
        gs = None
        if ctx.needs_input_grad[3]:
            gs = _pad_to(Gather.apply(g, ctx.dim, index), ctx.src_shape)
        return ga, None, None, gs


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """Matches `torch.gather`."""
    d = _check_index(input, dim, index, "gather")
    return Gather.apply(input, d, index)


def _src_tensor(input: Tensor, src: Any) -> Any:
    if isinstance(src, Tensor):
        if src._data.dtype != input._data.dtype:
            raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
        return src
    return src


def scatter(input: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """Matches `torch.scatter` (src tensor or scalar `value`; `reduce` 'add' or 'multiply')."""
    if src is None:
        src = value
    d = _check_index(input, dim, index, "scatter", src)
    src = _src_tensor(input, src)
    if reduce is None:
        return Scatter.apply(input, d, index, src)
    if reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    if not isinstance(src, Tensor):
        src = Tensor._make(np.full(index.shape, src, dtype=input._data.dtype))
    return scatter_reduce(input, d, index, src, "sum" if reduce == "add" else "prod")


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """Matches `torch.scatter_add`."""
    d = _check_index(input, dim, index, "scatter_add", src)
    return ScatterAdd.apply(input, d, index, _src_tensor(input, src))


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """Matches `torch.scatter_reduce` (sum, prod, mean, amax, amin); amax/amin share the
    gradient evenly among tied extremes, as torch does. Its backward is first-order only."""
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)  # torch 2.13 accepts these too
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise RuntimeError("reduce argument must be either sum, prod, mean, amax or amin, got "
                           + reduce)
    d = _check_index(input, dim, index, "scatter_reduce", src)
    return ScatterReduce.apply(input, d, index, _src_tensor(input, src), reduce, include_self)


class ScatterReduce(Primitive):
    """scatter_reduce in NumPy. The forward also keeps the local derivatives w_self (a's shape)
    and w_src (index's shape). VJP: (g * w_self, gather(g, dim, index) * w_src)."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, dim: int, index: NDArray, src: NDArray, reduce: str,
                include_self: bool) -> NDArray:
        shape = a.shape
        ix = index.reshape(index.shape or (1,))
        at = _along(ix, dim)
        x = _lead(src, index.shape).reshape(ix.shape)
        a1 = a.reshape(shape or (1,))
        hit = np.zeros(a1.shape, dtype=bool)
        hit[at] = True
        keep = np.ones(a1.shape, dtype=bool) if include_self else ~hit
        ctx.dim, ctx.src_shape = dim, src.shape
        ctx.index = index
        out, w_self, w_src = _REDUCERS[reduce](a1, at, x, hit, keep)
        ctx.w_self = w_self.reshape(shape)
        ctx.w_src = w_src.reshape(index.shape)
        return out.reshape(shape)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        index = Tensor._make(ctx.index)
        ga = g * Tensor._make(ctx.w_self) if ctx.needs_input_grad[0] else None
        gs = None
        if ctx.needs_input_grad[3]:
            gs = _pad_to(Gather.apply(g, ctx.dim, index) * Tensor._make(ctx.w_src), ctx.src_shape)
        return ga, None, None, gs, None, None


def _red_sum(a: NDArray, at: Any, x: NDArray, hit: NDArray,
             keep: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    out = np.where(keep, a, 0).astype(a.dtype)
    np.add.at(out, at, x)
    return out, keep.astype(a.dtype), np.ones_like(x)


def _red_mean(a: NDArray, at: Any, x: NDArray, hit: NDArray,
              keep: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    total, _, _ = _red_sum(a, at, x, hit, keep)
    count = keep.astype(np.int64)
    np.add.at(count, at, 1)
    count = np.maximum(count, 1)
    if a.dtype.kind in "iu":
        out = np.floor_divide(total, count).astype(a.dtype)
    else:
        out = (total / count).astype(a.dtype)
    inv = (1.0 / count).astype(a.dtype if a.dtype.kind == "f" else np.float32)
    return out, np.where(keep, inv, 0).astype(inv.dtype), inv[at].astype(inv.dtype)


def _red_prod(a: NDArray, at: Any, x: NDArray, hit: NDArray,
              keep: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    out = np.where(keep, a, 1).astype(a.dtype)
    np.multiply.at(out, at, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_self = np.where(keep, out / np.where(a == 0, 1, a), 0)
        w_src = out[at] / np.where(x == 0, 1, x)
    if (a[keep] == 0).any() or (x == 0).any():  # zeros: the product of the others, directly
        w_self, w_src = _prod_others(a, at, x, keep)
    return out, w_self.astype(a.dtype), w_src.astype(a.dtype)


def _prod_others(a: NDArray, at: Any, x: NDArray,
                 keep: NDArray) -> tuple[NDArray, NDArray]:
    """d out / d each contributor when some are zero: the product of all the other ones."""
    w_self = np.zeros(a.shape, dtype=np.float64)
    w_src = np.zeros(x.shape, dtype=np.float64)
    targets = np.stack(np.broadcast_arrays(*at), -1).reshape(-1, len(at))
    xs = x.reshape(-1)
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, row in enumerate(targets):
        groups.setdefault(tuple(int(v) for v in row), []).append(k)
    flat_src = w_src.reshape(-1)
    for tgt, ks in groups.items():
        vals = [float(xs[k]) for k in ks] + ([float(a[tgt])] if keep[tgt] else [])
        for j, k in enumerate(ks):
            flat_src[k] = np.prod(vals[:j] + vals[j + 1:])
        if keep[tgt]:
            w_self[tgt] = np.prod(vals[:-1])
    w_self[keep & ~_hit_mask(a.shape, at)] = 1.0
    return w_self, w_src


def _hit_mask(shape: tuple[int, ...], at: Any) -> NDArray:
    hit = np.zeros(shape, dtype=bool)
    hit[at] = True
    return hit


def _red_extreme(is_max: bool) -> Any:
    def red(a: NDArray, at: Any, x: NDArray, hit: NDArray,
            keep: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        ufunc = np.maximum if is_max else np.minimum
        if a.dtype.kind == "f":
            fill: Any = -np.inf if is_max else np.inf
        elif a.dtype == bool:
            fill = not is_max
        else:
            info = np.iinfo(a.dtype)
            fill = info.min if is_max else info.max
        out = np.where(keep, a, fill).astype(a.dtype)
        ufunc.at(out, at, x)
        # as torch: input values equal to the result count as ties even when not included
        self_tie = a == out
        src_tie = x == out[at]
        count = self_tie.astype(np.float64)
        np.add.at(count, at, src_tie)
        count = np.maximum(count, 1)
        return out, (self_tie & keep) / count, src_tie / count[at]

    return red


_REDUCERS = {"sum": _red_sum, "mean": _red_mean, "prod": _red_prod,
             "amax": _red_extreme(True), "amin": _red_extreme(False)}


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """Matches `torch.index_select`."""
    d = _check_index_1d(input, dim, index, "index_select")
    idx = (slice(None),) * d + (index._data.reshape(-1),)
    if input.ndim == 0:
        if index.numel() != 1:
            raise RuntimeError("index_select(): Index to scalar can have only 1 value, got "
                               f"{index.numel()} value(s)")
        return GetItem.apply(input, ())
    return GetItem.apply(input, idx)


def _check_index_1d(input: Tensor, dim: int, index: Tensor, fn: str) -> int:
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise IndexError(f"{fn}(): Expected dtype int32/int64 for index")
    if index.ndim > 1:
        raise IndexError(f"{fn}(): Index is supposed to be a vector")
    d = _wrap_dim(dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    arr = index._data
    if arr.size and (arr.min() < -n or arr.max() >= n):
        bad = arr[(arr < -n) | (arr >= n)].flat[0]
        raise IndexError(f"index out of range in self (index {bad}, size {n} at dim {d})")
    return d


# ---- index_* along one dim -------------------------------------------------------------------
def _dim_index(d: int, index: Tensor) -> tuple[Any, ...]:
    return (slice(None),) * d + (index._data.reshape(-1),)


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *,
              alpha: Any = 1) -> Tensor:
    """Matches `torch.index_add`: input with source's slices (times alpha) added at index."""
    d = _check_index_1d(input, dim, index, "index_add")
    src = source * alpha if alpha != 1 else source
    if input.ndim == 0:
        return input + src.sum() if index.numel() else input
    return IndexPut.apply(input, src.to(input.dtype), _dim_index(d, index), True)


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """Matches `torch.index_copy`."""
    d = _check_index_1d(input, dim, index, "index_copy")
    if input.ndim == 0:
        return source.reshape(()).to(input.dtype) if index.numel() else input
    return IndexPut.apply(input, source.to(input.dtype), _dim_index(d, index), False)


def index_fill(input: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:
    """Matches `torch.index_fill`: `value` a number or a 0-dim tensor."""
    d = _check_index_1d(input, dim, index, "index_fill")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError("index_fill_ only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s).")
        value = value.to(input.dtype)
    if input.ndim == 0:
        idx: tuple[Any, ...] = () if index.numel() else (np.zeros(0, dtype=np.int64),)
        return IndexPut.apply(input, value, idx, False) if index.numel() else input
    return IndexPut.apply(input, value, _dim_index(d, index), False)


# ---- masks and flat indices ------------------------------------------------------------------
def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """Matches `torch.masked_select`: input and mask broadcast; a 1-D result."""
    if mask._data.dtype != bool:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    from ember.ops.movement import broadcast_shapes, expand

    shape = tuple(broadcast_shapes(input.shape, mask.shape))
    x = expand(input, shape) if tuple(input.shape) != shape else input
    m = np.broadcast_to(mask._data, shape)
    return GetItem.apply(x, (m,)) if shape else GetItem.apply(x.reshape(1), (m.reshape(1),))


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """Matches `torch.masked_scatter`: the True places take source's elements in order."""
    if mask._data.dtype != bool:
        raise RuntimeError("masked_scatter_ only supports boolean masks, but got mask with dtype "
                           + mask.dtype._legacy)
    m = np.broadcast_to(mask._data, input._data.shape)
    n = int(m.sum())
    if n > source.numel():
        raise RuntimeError("masked_scatter: expected source to have at least as many elements "
                           "as ones in mask")
    vals = GetItemView.apply(source.reshape(-1), (slice(0, n),))
    return IndexPut.apply(input, vals.to(input.dtype), (m,), False)


def take(input: Tensor, index: Tensor) -> Tensor:
    """Matches `torch.take`: input treated as 1-D."""
    flat = input.reshape(-1)
    n = flat.shape[0]
    arr = index._data
    if arr.size and (arr.min() < -n or arr.max() >= n):
        bad = arr[(arr < -n) | (arr >= n)].flat[0]
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} "
                         "elements.")
    return GetItem.apply(flat, (arr,))


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """Matches `torch.take_along_dim`: input and indices broadcast except along dim."""
    from ember.ops.movement import broadcast_shapes, expand

    if dim is None:
        return take(input, indices.reshape(-1))
    d = _wrap_dim(dim, input.ndim)
    if indices.ndim != input.ndim:
        raise RuntimeError("torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but got {input.ndim} dimensions for input, "
                           f"and {indices.ndim} dimensions for indices")
    si = list(input.shape)
    sx = list(indices.shape)
    si[d] = sx[d] = 1
    b = list(broadcast_shapes(si, sx))
    bi, bx = list(b), list(b)
    bi[d], bx[d] = input.shape[d], indices.shape[d]
    x = expand(input, bi) if list(input.shape) != bi else input
    ix = Tensor._make(np.broadcast_to(indices._data, bx))
    return gather(x, d, ix)


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """Matches `torch.nonzero`: an (n, ndim) int64 tensor, or a tuple of 1-D ones."""
    arr = input._data
    if as_tuple:
        if arr.ndim == 0:
            return (Tensor._make(np.zeros(int(bool(arr)), dtype=np.int64)),)
        return tuple(Tensor._make(i.astype(np.int64)) for i in np.nonzero(arr))
    return Tensor._make(np.argwhere(arr).astype(np.int64))


def argwhere(input: Tensor) -> Tensor:
    """Matches `torch.argwhere`."""
    return nonzero(input)


# ---- sorting ---------------------------------------------------------------------------------
def _pair(name: str, values: Tensor, indices: Tensor) -> Any:
    """torch.return_types.<name>(values, indices), shared with ember.ops.reduce."""
    from ember.ops.reduce import return_types

    return getattr(return_types, name)(values, indices)


def _argsort(arr: NDArray, axis: int, descending: bool) -> NDArray:
    """Stable argsort; descending keeps equal elements in their original order (NaN first)."""
    if arr.ndim == 0:
        return np.zeros((), dtype=np.int64)
    if not descending:
        return np.argsort(arr, axis=axis, kind="stable").astype(np.int64)
    n = arr.shape[axis]
    rev = np.flip(arr, axis)
    order = np.flip(np.argsort(rev, axis=axis, kind="stable"), axis)
    return (n - 1 - order).astype(np.int64)


def sort(input: Tensor, dim: int = -1, descending: bool = False, *,
         stable: bool = False) -> Any:
    """Matches `torch.sort`; always stable (ties keep their order, as torch's CPU sort)."""
    d = _wrap_dim(dim, input.ndim)
    idx = Tensor._make(_argsort(input._data, d, descending))
    values = gather(input, d, idx) if input.ndim else input.clone()
    return _pair("sort", values, idx)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *,
            stable: bool = False) -> Tensor:
    """Matches `torch.argsort`."""
    return Tensor._make(_argsort(input._data, _wrap_dim(dim, input.ndim), descending))


def msort(input: Tensor) -> Tensor:
    """Matches `torch.msort`: sorted along dim 0."""
    return sort(input, 0)[0]


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> Any:  # noqa: A002
    """Matches `torch.topk`; among equal values the lower index comes first."""
    d = _wrap_dim(dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range")
    if input.ndim == 0:
        return _pair("topk", input.clone(), Tensor._make(np.zeros((), dtype=np.int64)))
    order = _argsort(input._data, d, largest)
    idx = Tensor._make(np.ascontiguousarray(np.take(order, np.arange(k), axis=d)))
    return _pair("topk", gather(input, d, idx), idx)


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """Matches `torch.kthvalue`: the k-th smallest (1-based) and an index where it occurs."""
    d = _wrap_dim(dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    if input.ndim == 0:
        return _pair("kthvalue", input.clone(), Tensor._make(np.zeros((), dtype=np.int64)))
    order = _argsort(input._data, d, False)
    idx = np.take(order, [k - 1], axis=d)
    values = gather(input, d, Tensor._make(idx))
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return _pair("kthvalue", values, Tensor._make(idx))


# ---- unique ----------------------------------------------------------------------------------
def _unique_result(values: NDArray, inverse: NDArray, counts: NDArray, inv_shape: tuple[int, ...],
                   return_inverse: bool, return_counts: bool) -> Any:
    out = [Tensor._make(values)]
    if return_inverse:
        out.append(Tensor._make(inverse.astype(np.int64).reshape(inv_shape)))
    if return_counts:
        out.append(Tensor._make(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None) -> Any:
    """Matches `torch.unique`; the result is always sorted (as torch's CPU result)."""
    arr = input._data
    if dim is None:
        vals, inv, cnt = np.unique(arr.reshape(-1), return_inverse=True, return_counts=True)
        return _unique_result(vals, inv, cnt, arr.shape, return_inverse, return_counts)
    d = _wrap_dim(dim, arr.ndim)
    moved = np.moveaxis(arr, d, 0)
    if moved.shape[0] == 0:
        vals, inv, cnt = moved, np.zeros(0, np.int64), np.zeros(0, np.int64)
    else:
        vals, inv, cnt = np.unique(moved.reshape(moved.shape[0], -1), axis=0,
                                   return_inverse=True, return_counts=True)
        vals = vals.reshape((-1, *moved.shape[1:]))
    return _unique_result(np.ascontiguousarray(np.moveaxis(vals, 0, d)), inv.reshape(-1), cnt,
                          (arr.shape[d],), return_inverse, return_counts)


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None) -> Any:
    """Matches `torch.unique_consecutive`: runs of equal values (slices along dim) collapse."""
    arr = input._data
    if dim is None:
        moved, inv_shape = arr.reshape(-1, 1), arr.shape
        d = 0
    else:
        d = _wrap_dim(dim, arr.ndim)
        m = np.moveaxis(arr, d, 0)
        moved, inv_shape = m.reshape(m.shape[0], -1), (arr.shape[d],)
    n = moved.shape[0]
    if n == 0:
        starts = np.zeros(0, dtype=np.int64)
    else:
        change = np.any(moved[1:] != moved[:-1], axis=1)
        starts = np.concatenate([[0], np.nonzero(change)[0] + 1]).astype(np.int64)
    counts = np.diff(np.append(starts, n))
    inverse = np.repeat(np.arange(len(starts)), counts)
    if dim is None:
        vals = arr.reshape(-1)[starts]
    else:
        vals = np.ascontiguousarray(np.take(arr, starts, axis=d))
    return _unique_result(vals, inverse, counts, inv_shape, return_inverse, return_counts)
