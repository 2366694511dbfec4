"""Shape and movement primitives (reshape, expand, permute, ...) and their composites."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.autograd.function import Node, Primitive
from ember.ops.common import shape_arg
from ember.ops.indexing import GetItemView, named
from ember.tensor import Tensor, _wrap_dim

NDArray = np.ndarray

# public functions (grows as ops land); ember.ops and the ember namespace re-export these
__all__ = [
    'reshape', 'view', 'expand', 'permute', 'transpose', 't', 'unsqueeze', 'squeeze', 'view_as',
    'reshape_as', 'swapaxes', 'swapdims', 'flatten', 'unflatten', 'ravel', 'expand_as',
    'broadcast_to', 'broadcast_shapes', 'broadcast_tensors', 'movedim', 'moveaxis', 'select',
    'narrow', 'split', 'chunk', 'tensor_split', 'unbind', 'cat', 'concat', 'concatenate', 'stack',
    'hstack', 'vstack', 'dstack', 'repeat', 'tile', 'repeat_interleave', 'flip', 'fliplr',
    'flipud', 'roll', 'rot90', 'tril', 'triu', 'diagonal', 'diag_embed', 'diag', 'meshgrid',
    'unfold', 'atleast_1d', 'atleast_2d', 'atleast_3d', 'column_stack', 'slice_scatter',
    'select_scatter', 'hsplit', 'vsplit', 'dsplit', 'diagflat', 'block_diag', 'cartesian_prod',
    'row_stack', 'narrow_copy',
]


def _infer_shape(shape: tuple[int, ...], numel: int) -> tuple[int, ...]:
    """Resolve one -1 in a view/reshape shape, with torch's errors."""
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = int(np.prod([s for s in shape if s != -1]))
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class Reshape(Primitive):
    """Reshape (a view when the strides allow). VJP: g reshaped back."""

    is_view = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, shape: tuple[int, ...], copy_ok: bool) -> NDArray:
        ctx.in_shape = a.shape
        if copy_ok:
            return a.reshape(shape)
        try:
            return np.reshape(a, shape, copy=False)
        except ValueError:
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
            ) from None

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (g.reshape(ctx.in_shape),)


class Expand(Primitive):
    """Broadcast to a larger shape (a read-only view). VJP: g summed back to the input shape."""

    is_view = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, shape: tuple[int, ...]) -> NDArray:
        ctx.in_shape = a.shape
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        from ember.ops.reduce import sum_to_shape

        return (sum_to_shape(g, ctx.in_shape),)


class Permute(Primitive):
    """Reorder dims (a view). VJP: g permuted by the inverse order."""

    is_view = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, dims: tuple[int, ...]) -> NDArray:
        ctx.dims = dims
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (g.permute(tuple(np.argsort(ctx.dims).tolist())),)


# torch's grad_fn names for the views built on the primitives above (only the name differs)
_View = named(Reshape, "ViewBackward0")
_Unsqueeze = named(Reshape, "UnsqueezeBackward0")
_Squeeze = [named(Reshape, f"SqueezeBackward{i}") for i in range(3)]  # dim None / int / tuple
_Transpose = named(Permute, "TransposeBackward0")
_T = named(Permute, "TBackward0")


def reshape(input: Tensor, *shape: Any) -> Tensor:
    """Matches `torch.reshape`: a view when possible, else a copy."""
    s = _infer_shape(shape_arg(shape, "reshape"), input.numel())
    return _View.apply(input, s, True)


def view(input: Tensor, *shape: Any) -> Tensor:
    """Matches `torch.Tensor.view`; `view(dtype)` only between dtypes of one size, without grad."""
    if len(shape) == 1 and _is_dtype(shape[0]):
        return _view_dtype(input, shape[0])
    s = _infer_shape(shape_arg(shape, "view"), input.numel())
    return _View.apply(input, s, False)


def _view_dtype(input: Tensor, dtype: Any) -> Tensor:
    dtype = _dt.to_dtype(dtype)
    if dtype.itemsize != input.dtype.itemsize:
        raise NotImplementedError("view(dtype) between dtypes of different sizes is not supported")
    out = Tensor._make(input._data.view(dtype.to_numpy()), False, input._version_ref)
    out._base = input._base if input._base is not None else input
    return out


def expand(input: Tensor, *sizes: Any) -> Tensor:
    """Matches `torch.Tensor.expand`: -1 keeps a dim; new dims are added in front."""
    s = list(shape_arg(sizes, "expand"))
    lead = len(s) - input.ndim
    if lead < 0:
        raise RuntimeError(
            f"expand(torch.{input.dtype._legacy}{{{list(input.shape)}}}, size={s}): the number "
            f"of sizes provided ({len(s)}) must be greater or equal to the number of dimensions in "
            f"the tensor ({input.ndim})")
    for i, d in enumerate(input.shape):
        if s[lead + i] == -1:
            s[lead + i] = d
        elif d != 1 and d != s[lead + i]:
            raise RuntimeError(
                f"The expanded size of the tensor ({s[lead + i]}) must match the existing size "
                f"({d}) at non-singleton dimension {lead + i}.  Target sizes: {s}.  Tensor sizes: "
                f"{list(input.shape)}")
    return Expand.apply(input, tuple(s))


def permute(input: Tensor, *dims: Any) -> Tensor:
    """Matches `torch.permute`."""
    d = shape_arg(dims, "permute")
    nd = input.ndim
    if len(d) != nd:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {nd} is not equal to "
            f"len(dims) = {len(d)}")
    w = tuple(_wrap_dim(x, nd) for x in d)
    if len(set(w)) != nd:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(input, w)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Matches `torch.transpose`."""
    nd = input.ndim
    if nd == 0:
        return input.view(())
    order = list(range(nd))
    a, b = _wrap_dim(dim0, nd), _wrap_dim(dim1, nd)
    order[a], order[b] = order[b], order[a]
    return _Transpose.apply(input, tuple(order))


def t(input: Tensor) -> Tensor:
    """Matches `torch.t`: 0-D and 1-D unchanged, 2-D transposed."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return _T.apply(input, (1, 0)) if input.ndim == 2 else input.view(input.shape)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Matches `torch.unsqueeze`: a size-1 dim inserted at `dim` (a view)."""
    d = _wrap_dim(dim, input.ndim + 1)
    shape = input.shape
    return _Unsqueeze.apply(input, tuple(shape[:d]) + (1,) + tuple(shape[d:]), True)


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    """Matches `torch.squeeze`: all size-1 dims, or only those in `dim` (int or tuple)."""
    shape = input.shape
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        ds = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = {_wrap_dim(d, input.ndim) for d in ds} if input.ndim else set()
        dims = {d for d in dims if shape[d] == 1}
    new = tuple(s for i, s in enumerate(shape) if i not in dims)
    kind = 0 if dim is None else 1 if isinstance(dim, int) else 2
    return _Squeeze[kind].apply(input, new, True)


# ---- views and reshapes composed from the primitives above --------------------------------------
def _is_dtype(x: Any) -> bool:
    """A dtype or its name (view('int32'))."""
    return isinstance(x, _dt.dtype) or (isinstance(x, str) and _dt.is_dtype_name(x))


def view_as(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.Tensor.view_as`."""
    return view(input, other.shape)


def reshape_as(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.Tensor.reshape_as`."""
    return reshape(input, other.shape)


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """Matches `torch.swapaxes`."""
    return transpose(input, axis0, axis1)


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Matches `torch.swapdims`."""
    return transpose(input, dim0, dim1)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Matches `torch.flatten`: a 0-D input becomes 1-D."""
    nd = input.ndim
    if nd == 0:
        return reshape(input, (1,))
    s, e = _wrap_dim(start_dim, nd), _wrap_dim(end_dim, nd)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = input.shape
    return reshape(input, (*shape[:s], int(np.prod(shape[s:e + 1])), *shape[e + 1:]))


def unflatten(input: Tensor, dim: int, sizes: Any) -> Tensor:
    """Matches `torch.unflatten`: dim `dim` split into `sizes` (one -1 allowed)."""
    d = _wrap_dim(dim, input.ndim)
    sizes = shape_arg((sizes,), "unflatten")
    shape = input.shape
    known = int(np.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1:
        raise RuntimeError("unflatten: Provided sizes can have at most one -1")
    if (-1 in sizes and (known == 0 or shape[d] % known)) or (-1 not in sizes
                                                               and known != shape[d]):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({shape[d]}) in the input tensor")
    inner = tuple(shape[d] // known if s == -1 else s for s in sizes)
    return reshape(input, (*shape[:d], *inner, *shape[d + 1:]))


def ravel(input: Tensor) -> Tensor:
    """Matches `torch.ravel`."""
    return reshape(input, (-1,))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    """Matches `torch.Tensor.expand_as`."""
    return expand(input, other.shape)


def broadcast_to(input: Tensor, size: Any) -> Tensor:
    """Matches `torch.broadcast_to`."""
    return expand(input, size)


def broadcast_shapes(*shapes: Any) -> Any:
    """Matches `torch.broadcast_shapes`: returns a `Size`."""
    from ember.size import Size

    norm = [(s,) if isinstance(s, (int, np.integer)) else tuple(s) for s in shapes]
    out: list[int] = []
    for shp in norm:
        for i in range(1, len(shp) + 1):
            d = int(shp[-i])
            if i > len(out):
                out.insert(0, d)
            elif out[-i] == 1 or d == out[-i]:
                out[-i] = d
            elif d != 1:
                raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single "
                                   f"shape.  Mismatch is between {list(norm[0])} and {list(shp)}.")
    return Size(out)


def broadcast_tensors(*tensors: Any) -> tuple[Tensor, ...]:
    """Matches `torch.broadcast_tensors`."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = broadcast_shapes(*[t.shape for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:
    """Matches `torch.movedim`."""
    nd = input.ndim
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) "
                           f"should contain the same number of dims as destination ({dst} dims)")
    src = [_wrap_dim(s, nd) for s in src]
    dst = [_wrap_dim(d, nd) for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError("movedim: repeated dim in `source` or `destination`")
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return permute(input, tuple(order)) if nd else input.view(())


def moveaxis(input: Tensor, source: Any, destination: Any) -> Tensor:
    """Matches `torch.moveaxis`."""
    return movedim(input, source, destination)


_Select = named(GetItemView, "SelectBackward0")
_Unbind = named(GetItemView, "UnbindBackward0")  # torch's split/unbind make all pieces at once;
_Split = named(GetItemView, "SplitBackward0")  # here each piece is its own view, under
_SplitWithSizes = named(GetItemView, "SplitWithSizesBackward0")  # torch's name


# ---- slicing views ----------------------------------------------------------------------------
def _slice(input: Tensor, dim: int, start: int, stop: int, step: int = 1,
           kind: type[Primitive] = GetItemView) -> Tensor:
    """input[..., start:stop:step, ...] along `dim` (a view; `kind` names its grad_fn)."""
    idx = (slice(None),) * dim + (slice(start, stop, step),)
    return kind.apply(input, idx)


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """Matches `torch.select`: a view without dim `dim`."""
    d = _wrap_dim(dim, input.ndim)
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(input.shape)} at dimension {dim}")
    return _Select.apply(input, (slice(None),) * d + (int(index),))


def narrow(input: Tensor, dim: int, start: Any, length: int) -> Tensor:
    """Matches `torch.narrow` (a view); `start` may be a 0-dim tensor or negative."""
    d = _wrap_dim(dim, input.ndim)
    n = input.shape[d]
    start = int(start)
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got "
                         f"{start})")
    start = start % n if start < 0 else start
    if start + length > n or length < 0:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return _slice(input, d, start, start + length)


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Matches `torch.split`: equal chunks of an int size (the last smaller) or given sizes."""
    d = _wrap_dim(dim, tensor.ndim)
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size="
                               f"{size}")
        if size == 0 and n != 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                               f"dimension size of {n}")
        starts = list(range(0, n, size)) if n else [0]
        return tuple(_slice(tensor, d, s, min(s + size, n), 1, _Split) for s in starts)
    sizes = [int(s) for s in split_size_or_sections]
    if sum(sizes) != n or any(s < 0 for s in sizes):
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input "
                           f"tensor's size at dimension {d}), but got split_sizes={sizes}")
    offs = np.cumsum([0, *sizes]).tolist()
    return tuple(_slice(tensor, d, a, b, 1, _SplitWithSizes)
                 for a, b in zip(offs[:-1], offs[1:], strict=True))


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Matches `torch.chunk`: chunks of ceil(n / chunks) (maybe fewer chunks)."""
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    n = input.shape[_wrap_dim(dim, input.ndim)]
    if n == 0:
        return split(input, [0] * chunks, dim)
    return split(input, -(-n // chunks), dim)  # ceil(n / chunks) each, the last maybe fewer


def _sections_arg(name: str, sections: Any, indices: Any, tensor_ios: Any = None) -> Any:
    """torch names the second argument by what it holds (`sections=2`, `indices=[1, 3]`,
    `tensor_indices_or_sections=t`); positionally any of them. Exactly one must be given."""
    given = [a for a in (sections, indices, tensor_ios) if a is not None]
    if len(given) != 1:
        raise TypeError(f"{name}() expects exactly one of sections, indices or "
                        f"tensor_indices_or_sections, got {len(given)}")
    return given[0]


def tensor_split(input: Tensor, sections: Any = None, dim: int = 0, *, indices: Any = None,
                 tensor_indices_or_sections: Any = None) -> tuple[Tensor, ...]:
    """Matches `torch.tensor_split`: `sections` nearly equal parts, or cuts at `indices`."""
    ios = _sections_arg("tensor_split", sections, indices, tensor_indices_or_sections)
    d = _wrap_dim(dim, input.ndim)
    n = input.shape[d]
    if isinstance(ios, Tensor):
        ios = int(ios) if ios.ndim == 0 else ios.tolist()
    if isinstance(ios, (int, np.integer)):
        s = int(ios)
        if s <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {s}")
        sizes = [n // s + 1] * (n % s) + [n // s] * (s - n % s)
        offs = np.cumsum([0, *sizes]).tolist()
    else:
        offs = [0, *[int(i) for i in ios], n]
    bounds = [min(max(o if o >= 0 else o + n, 0), n) for o in offs]
    return tuple(_slice(input, d, a, max(a, b))
                 for a, b in zip(bounds[:-1], bounds[1:], strict=True))


def _dir_split(name: str, input: Tensor, sections: Any, dim: int, min_dims: int) -> Any:
    """hsplit/vsplit/dsplit: tensor_split along `dim`, an int must divide the size."""
    if input.ndim < min_dims:
        raise RuntimeError(f"torch.{name} requires a tensor with at least {min_dims} dimension, "
                           f"but got a tensor with {input.ndim} dimensions!")
    n = input.shape[dim]
    if isinstance(sections, (int, np.integer)) and (sections == 0 or n % sections):
        raise RuntimeError(f"torch.{name} attempted to split along dimension {dim}, but the size "
                           f"of the dimension {n} is not divisible by the split_size {sections}!")
    return tensor_split(input, sections, dim)


def hsplit(input: Tensor, sections: Any = None, *, indices: Any = None) -> tuple[Tensor, ...]:
    """Matches `torch.hsplit`: along dim 1 (dim 0 for 1-D)."""
    ios = _sections_arg("hsplit", sections, indices)
    return _dir_split("hsplit", input, ios, 0 if input.ndim == 1 else 1, 1)


def vsplit(input: Tensor, sections: Any = None, *, indices: Any = None) -> tuple[Tensor, ...]:
    """Matches `torch.vsplit`: along dim 0 of an input with at least 2 dims."""
    return _dir_split("vsplit", input, _sections_arg("vsplit", sections, indices), 0, 2)


def dsplit(input: Tensor, sections: Any = None, *, indices: Any = None) -> tuple[Tensor, ...]:
    """Matches `torch.dsplit`: along dim 2 of an input with at least 3 dims."""
    return _dir_split("dsplit", input, _sections_arg("dsplit", sections, indices), 2, 3)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """Matches `torch.unbind`."""
    d = _wrap_dim(dim, input.ndim)
    return tuple(_Unbind.apply(input, (slice(None),) * d + (i,)) for i in range(input.shape[d]))


# ---- concatenation -----------------------------------------------------------------------------
class Cat(Primitive):
    """Concatenate along `dim`. VJP: g sliced back into each input's extent."""

    @staticmethod
    def forward(ctx: Node, dim: int, *arrays: NDArray) -> NDArray:
        ctx.sizes, ctx.dim = [a.shape[dim] for a in arrays], dim
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        offs = np.cumsum([0, *ctx.sizes]).tolist()
        return (None, *[_slice(g, ctx.dim, a, b) if need else None
                        for a, b, need in zip(offs[:-1], offs[1:], ctx.needs_input_grad[1:],
                                              strict=True)])


def _tensor_list(tensors: Any, fn: str) -> list[Tensor]:
    if isinstance(tensors, Tensor):
        raise TypeError(f"{fn}(): argument 'tensors' (position 1) must be tuple of Tensors, not "
                        "Tensor")
    out = list(tensors)
    if not out:
        raise ValueError(f"{fn}(): expected a non-empty list of Tensors")
    return out


def cat(tensors: Any, dim: int = 0) -> Tensor:
    """Matches `torch.cat`: dtypes promote; 1-D empty tensors are skipped."""
    ts = _tensor_list(tensors, "cat")
    for i, t in enumerate(ts):
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    dtype = _dt.result_dtype([t.dtype for t in ts], [], [])
    kept = [t for t in ts if not (t.ndim == 1 and t.shape[0] == 0)]
    if not kept:
        return ts[0].to(dtype)
    ref = kept[0]
    d = _wrap_dim(dim, ref.ndim)
    for i, t in enumerate(ts):
        if t.ndim == 1 and t.shape[0] == 0:
            continue
        if t.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and "
                               f"{t.ndim}")
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. "
                                   f"Expected size {ref.shape[k]} but got size {t.shape[k]} for "
                                   f"tensor number {i} in the list.")
    return Cat.apply(d, *[t.to(dtype) for t in kept])


def concat(tensors: Any, dim: int = 0) -> Tensor:
    """Matches `torch.concat`."""
    return cat(tensors, dim)


def concatenate(tensors: Any, dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Matches `torch.concatenate` (NumPy's `axis=` is accepted for `dim`, as torch does)."""
    return cat(tensors, dim if axis is None else axis)


def stack(tensors: Any, dim: int = 0) -> Tensor:
    """Matches `torch.stack`: all inputs must have the same shape."""
    ts = _tensor_list(tensors, "stack")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(ts[0].shape)} at entry 0 and {list(t.shape)} at entry {i}")
    d = _wrap_dim(dim, ts[0].ndim + 1)
    return cat([unsqueeze(t, d) for t in ts], d)


def _atleast(t: Tensor, n: int) -> Tensor:
    """torch.atleast_{1,2,3}d: 1-D (k,) -> (1, k) -> (1, k, 1); 2-D (a, b) -> (a, b, 1)."""
    if t.ndim >= n:
        return t
    if t.ndim == 0:
        return reshape(t, (1,) * n)
    if t.ndim == 1:
        return reshape(t, (1, t.shape[0]) if n == 2 else (1, t.shape[0], 1))
    return unsqueeze(t, -1)


def _atleast_public(n: int, tensors: tuple[Any, ...]) -> Any:
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(_atleast(t, n) for t in tensors[0])
    out = tuple(_atleast(t, n) for t in tensors)
    return out[0] if len(out) == 1 else out


def atleast_1d(*tensors: Any) -> Any:
    """Matches `torch.atleast_1d`: one tensor in, one out; several (or a list) give a tuple."""
    return _atleast_public(1, tensors)


def atleast_2d(*tensors: Any) -> Any:
    """Matches `torch.atleast_2d`."""
    return _atleast_public(2, tensors)


def atleast_3d(*tensors: Any) -> Any:
    """Matches `torch.atleast_3d`."""
    return _atleast_public(3, tensors)


def column_stack(tensors: Any) -> Tensor:
    """Matches `torch.column_stack`: 0-D and 1-D inputs become columns."""
    ts = _tensor_list(tensors, "column_stack")
    return cat([reshape(t, (-1, 1)) if t.ndim <= 1 else t for t in ts], 1)


def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start: int | None = None,
                  end: int | None = None, step: int = 1) -> Tensor:
    """Matches `torch.slice_scatter`: a copy of input with the slice along dim set to src."""
    from ember.ops.indexing import IndexPut

    d = _wrap_dim(dim, input.ndim)
    return IndexPut.apply(input, src.to(input.dtype), (slice(None),) * d
                          + (slice(start, end, step),), False)


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """Matches `torch.select_scatter`."""
    from ember.ops.indexing import IndexPut

    d = _wrap_dim(dim, input.ndim)
    return IndexPut.apply(input, src.to(input.dtype), (slice(None),) * d + (int(index),), False)


def hstack(tensors: Any) -> Tensor:
    """Matches `torch.hstack`."""
    ts = [_atleast(t, 1) for t in _tensor_list(tensors, "hstack")]
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Any) -> Tensor:
    """Matches `torch.vstack`."""
    return cat([_atleast(t, 2) for t in _tensor_list(tensors, "vstack")], 0)


def dstack(tensors: Any) -> Tensor:
    """Matches `torch.dstack`."""
    return cat([_atleast(t, 3) for t in _tensor_list(tensors, "dstack")], 2)


# ---- repeats ---------------------------------------------------------------------------------
class Repeat(Primitive):
    """np.tile with len(reps) == ndim. VJP: g viewed as (r0, s0, r1, s1, ...), summed over r's."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, reps: tuple[int, ...]) -> NDArray:
        ctx.in_shape, ctx.reps = a.shape, reps
        return np.tile(a, reps)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        from ember.ops.reduce import Sum

        split = tuple(x for r, s in zip(ctx.reps, ctx.in_shape, strict=True) for x in (r, s))
        dims = tuple(range(0, 2 * len(ctx.reps), 2))
        return (Sum.apply(g.reshape(split), dims, False),)


def repeat(input: Tensor, *sizes: Any) -> Tensor:
    """Matches `torch.Tensor.repeat`."""
    reps = shape_arg(sizes, "repeat")
    if len(reps) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of "
                           "dimensions of tensor")
    if any(r < 0 for r in reps):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(reps)}: "
                           f"{list(reps)}")
    x = reshape(input, (1,) * (len(reps) - input.ndim) + tuple(input.shape))
    return Repeat.apply(x, reps)


def tile(input: Tensor, dims: Any) -> Tensor:
    """Matches `torch.tile`: missing leading reps count as 1."""
    reps = shape_arg((dims,), "tile")
    return repeat(input, (1,) * (input.ndim - len(reps)) + reps)


def repeat_interleave(input: Tensor, repeats: Any = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Matches `torch.repeat_interleave`, including the one-argument form on an int tensor."""
    from ember.ops.indexing import index_select

    if repeats is None:  # repeat_interleave(r): indices 0..n-1, each r[i] times
        reps = input._data
        if reps.ndim != 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        return Tensor._make(np.repeat(np.arange(reps.shape[0], dtype=np.int64), reps))
    if dim is None:
        input, d = reshape(input, (-1,)), 0
    else:
        d = _wrap_dim(dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    r = repeats._data if isinstance(repeats, Tensor) else np.asarray(repeats)
    if r.ndim > 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    if r.size == 1:
        r = np.full(n, int(r.reshape(())))
    if r.shape[0] != n:
        raise RuntimeError("repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {r.shape[0]} and input.size({d}) = {n}")
    if (r < 0).any():
        raise RuntimeError("repeats can not be negative")
    idx = Tensor._make(np.repeat(np.arange(n, dtype=np.int64), r))
    return index_select(input if input.ndim else reshape(input, (1,)), d, idx)


# ---- copies that move elements -------------------------------------------------------------------
class Flip(Primitive):
    """Reverse along `dims` (a copy, as torch). VJP: g flipped the same way."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, dims: tuple[int, ...]) -> NDArray:
        ctx.dims = dims
        return np.ascontiguousarray(np.flip(a, dims)) if dims else a.copy()

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (Flip.apply(g, ctx.dims),)


def flip(input: Tensor, dims: Any, *more: int) -> Tensor:
    """Matches `torch.flip`."""
    ds = (dims, *more) if isinstance(dims, (int, np.integer)) else tuple(dims)
    w = tuple(_wrap_dim(int(d), input.ndim) for d in ds)
    for k, d in enumerate(w):
        if d in w[:k]:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return Flip.apply(input, w if input.ndim else ())


def fliplr(input: Tensor) -> Tensor:
    """Matches `torch.fliplr`."""
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input: Tensor) -> Tensor:
    """Matches `torch.flipud`."""
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


class Roll(Primitive):
    """np.roll. VJP: g rolled back by the negated shifts."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, shifts: Any, dims: Any) -> NDArray:
        ctx.shifts, ctx.dims = shifts, dims
        if dims is None:
            return np.roll(a.reshape(-1), shifts).reshape(a.shape)
        return np.roll(a, shifts, dims)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        neg = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return (Roll.apply(g, neg, ctx.dims),)


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Matches `torch.roll`: without `dims` the flattened tensor is rolled."""
    sh = (int(shifts),) if isinstance(shifts, (int, np.integer)) else tuple(int(s) for s in shifts)
    if dims is None:
        if len(sh) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(sh)}, dims:0")
        return Roll.apply(input, sh[0], None)
    ds = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(sh) != len(ds):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(sh)}, dims:{len(ds)}")
    return Roll.apply(input, sh, tuple(_wrap_dim(int(d), input.ndim) for d in ds))


def rot90(input: Tensor, k: int = 1, dims: Any = (0, 1)) -> Tensor:
    """Matches `torch.rot90`."""
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = (_wrap_dim(d, input.ndim) for d in dims)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and "
                           f"dim1 = {d1}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return transpose(flip(input, (d0,)), d0, d1)
    return Flip.apply(input, ())


class Tri(Primitive):
    """tril/triu of the last two dims. VJP: the same mask applied to g."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, k: int, upper: bool) -> NDArray:
        ctx.k, ctx.upper = k, upper
        return np.triu(a, k) if upper else np.tril(a, k)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (Tri.apply(g, ctx.k, ctx.upper),)


_Tril, _Triu = named(Tri, "TrilBackward0"), named(Tri, "TriuBackward0")


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """Matches `torch.tril`."""
    if input.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return _Tril.apply(input, int(diagonal), False)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """Matches `torch.triu`."""
    if input.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return _Triu.apply(input, int(diagonal), True)


# ---- diagonals -------------------------------------------------------------------------------
def _diag_view(a: NDArray, offset: int, d1: int, d2: int) -> NDArray:
    """A writable strided view of a diagonal (np.diagonal's view is read-only); diag dim last."""
    idx: list[Any] = [slice(None)] * a.ndim
    idx[d2 if offset >= 0 else d1] = slice(abs(offset), None)
    b = a[tuple(idx)]
    n = max(min(b.shape[d1], b.shape[d2]), 0)
    keep = [i for i in range(a.ndim) if i not in (d1, d2)]
    shape = tuple(b.shape[i] for i in keep) + (n,)
    strides = tuple(b.strides[i] for i in keep) + (b.strides[d1] + b.strides[d2],)
    return np.lib.stride_tricks.as_strided(b, shape, strides, writeable=a.flags.writeable)


class Diagonal(Primitive):
    """The (offset) diagonal of dims d1, d2, moved last (a view). VJP: diag_embed of g."""

    is_view = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, offset: int, d1: int, d2: int) -> NDArray:
        ctx.args, ctx.in_shape = (offset, d1, d2), a.shape
        return _diag_view(a, offset, d1, d2)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (DiagEmbed.apply(g, *ctx.args, ctx.in_shape),)


class DiagEmbed(Primitive):
    """Zeros of `shape` with `a` written on the (offset) diagonal of d1, d2. VJP: diagonal of g."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, offset: int, d1: int, d2: int,
                shape: tuple[int, ...]) -> NDArray:
        ctx.args = (offset, d1, d2)
        out = np.zeros(shape, dtype=a.dtype)
        _diag_view(out, offset, d1, d2)[...] = a
        return out

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (Diagonal.apply(g, *ctx.args),)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """Matches `torch.diagonal` (a view)."""
    d1, d2 = _wrap_dim(dim1, input.ndim), _wrap_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return Diagonal.apply(input, int(offset), d1, d2)


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matches `torch.diag_embed`: the last dim becomes the diagonal of two new dims."""
    nd = input.ndim + 1
    d1, d2 = _wrap_dim(dim1, nd), _wrap_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    m = input.shape[-1] + abs(offset)
    rest = list(input.shape[:-1])
    shape = []
    for i in range(nd):
        shape.append(m if i in (d1, d2) else rest.pop(0))
    return DiagEmbed.apply(input, int(offset), d1, d2, tuple(shape))


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """Matches `torch.diag`: a 1-D input becomes a matrix, a matrix gives its diagonal (a copy)."""
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim != 2:
        raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{input.ndim}D")
    from ember.ops.creation import clone

    return clone(Diagonal.apply(input, int(diagonal), 0, 1))


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """Matches `torch.diagflat`: the flattened input on the (offset) diagonal of a matrix."""
    return diag_embed(reshape(input, (-1,)), offset, 0, 1)


def block_diag(*tensors: Tensor) -> Tensor:
    """Matches `torch.block_diag`: 0-D and 1-D inputs count as (1, 1) and (1, n) blocks."""
    from ember.ops.indexing import IndexPut

    blocks = [reshape(t, (1, -1)) if t.ndim <= 1 else t for t in tensors]
    for i, b in enumerate(blocks):
        if b.ndim != 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                               f"Input {i} has {b.ndim} dimensions")
    dtype = _dt.result_dtype([b.dtype for b in blocks], [], []) if blocks else _dt.float32
    rows, cols = sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)
    out = Tensor._make(np.zeros((rows, cols), dtype=dtype.np))
    r = c = 0
    for b in blocks:
        h, w = b.shape
        out = IndexPut.apply(out, b.to(dtype), (slice(r, r + h), slice(c, c + w)), False)
        r, c = r + h, c + w
    return out


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """Matches `torch.cartesian_prod`: rows of all combinations (one input: itself)."""
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, (-1,)) for g in grids], 1)


def row_stack(tensors: Any) -> Tensor:
    """Matches `torch.row_stack` (an alias of vstack)."""
    return vstack(tensors)


def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """Matches `torch.narrow_copy`."""
    from ember.ops.creation import clone

    return clone(narrow(input, dim, start, length))


# ---- grids and windows -----------------------------------------------------------------------
def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Matches `torch.meshgrid` (with its warning when `indexing` is omitted)."""
    import warnings

    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                           f"received: {indexing}")
    ts = [reshape(t, (-1,)) for t in tensors]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    n = len(ts)
    out = [expand(reshape(t, tuple(-1 if i == k else 1 for i in range(n))), shape)
           for k, t in enumerate(ts)]
    if swap:  # 'xy' is 'ij' on the first two inputs swapped, with the outputs swapped back
        out[0], out[1] = out[1], out[0]
    return tuple(out)


class Unfold(Primitive):
    """Sliding windows of `size` every `step` along `dim`, as a new last dim (a view).
    VJP: the windows of g added back into place (UnfoldBackward)."""

    is_view = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, dim: int, size: int, step: int) -> NDArray:
        ctx.args, ctx.in_shape = (dim, size, step), a.shape
        n = (a.shape[dim] - size) // step + 1 if a.ndim else 1
        if a.ndim == 0:
            return a.reshape(1)
        shape = a.shape[:dim] + (n,) + a.shape[dim + 1:] + (size,)
        st = a.strides
        strides = st[:dim] + (st[dim] * step,) + st[dim + 1:] + (st[dim],)
        return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=a.flags.writeable)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (UnfoldBackward.apply(g, ctx.in_shape, *ctx.args),)


class UnfoldBackward(Primitive):
    """Sum windows (..., n, ..., size) back into `shape`. VJP: Unfold of g."""

    @staticmethod
    def forward(ctx: Node, g: NDArray, shape: tuple[int, ...], dim: int, size: int,
                step: int) -> NDArray:
        ctx.args = (dim, size, step)
        if not shape:
            return g.reshape(())
        out = np.zeros(shape, dtype=g.dtype)
        n = g.shape[dim]
        for j in range(size):  # window offset j covers j, j + step, ..., j + step * (n - 1)
            idx = (slice(None),) * dim + (slice(j, j + step * (n - 1) + 1, step),)
            out[idx] += g[..., j]
        return out

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (Unfold.apply(g, *ctx.args),)


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Matches `torch.Tensor.unfold`."""
    d = _wrap_dim(dimension, input.ndim)
    n = input.shape[d] if input.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    return Unfold.apply(input, d, size, step)
