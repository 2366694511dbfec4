"""Reduction primitives (sum, amax, prod, cumsum, softmax, ...) and their composites."""

from __future__ import annotations

import builtins
import math
import warnings
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.autograd.function import Node, Primitive
from ember.autograd.grad_mode import STATE
from ember.ops.common import dims_arg
from ember.tensor import Tensor, _wrap_dim

NDArray = np.ndarray

# public functions; ember.ops and the ember namespace re-export these
__all__ = [
    "sum", "nansum", "mean", "nanmean", "prod", "max", "min", "amax", "amin", "aminmax", "argmax",
    "argmin", "var", "std", "var_mean", "std_mean", "logsumexp", "norm", "all", "any",
    "count_nonzero", "cumsum", "cumprod", "cummax", "cummin", "median", "mode", "diff",
    "softmax", "log_softmax", "return_types",
]


# ---- return types (torch.return_types.*) -------------------------------------------------------
class _ReturnType(tuple):  # type: ignore[type-arg]
    """A named tuple with torch's structseq repr: `torch.return_types.max(values=..., ...)`."""

    _fields: tuple[str, ...] = ()

    def __new__(cls, *values: Any) -> _ReturnType:
        if len(values) == 1 and isinstance(values[0], (tuple, list)):
            values = tuple(values[0])
        if len(values) != len(cls._fields):
            raise TypeError(f"torch.return_types.{cls.__name__} takes a {len(cls._fields)}"
                            f"-sequence ({len(values)}-sequence given)")
        return super().__new__(cls, values)

    def __repr__(self) -> str:
        body = ",\n".join(f"{f}={v!r}" for f, v in zip(self._fields, self, strict=True))
        return f"torch.return_types.{type(self).__name__}(\n{body})"

    def __reduce__(self) -> Any:
        return (type(self), (tuple(self),))


def _field_getter(i: int) -> Any:
    def get(self: tuple[Any, ...]) -> Any:
        return self[i]

    return get


def _return_type(name: str, fields: tuple[str, ...]) -> type[_ReturnType]:
    ns: dict[str, Any] = {"_fields": fields, "__module__": __name__,
                          "__qualname__": "return_types." + name}  # found again by pickle
    for i, f in enumerate(fields):
        ns[f] = property(_field_getter(i))
    return type(name, (_ReturnType,), ns)


class return_types:  # noqa: N801  (torch's module name)
    """The namedtuple-like results of ops returning several tensors (torch.return_types)."""

    max = _return_type("max", ("values", "indices"))
    min = _return_type("min", ("values", "indices"))
    aminmax = _return_type("aminmax", ("min", "max"))
    median = _return_type("median", ("values", "indices"))
    nanmedian = _return_type("nanmedian", ("values", "indices"))
    mode = _return_type("mode", ("values", "indices"))
    cummax = _return_type("cummax", ("values", "indices"))
    cummin = _return_type("cummin", ("values", "indices"))
    kthvalue = _return_type("kthvalue", ("values", "indices"))
    topk = _return_type("topk", ("values", "indices"))
    sort = _return_type("sort", ("values", "indices"))


# ---- helpers -----------------------------------------------------------------------------------
def _kept_shape(shape: tuple[int, ...], dims: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _rdims(dim: Any, ndim: int) -> tuple[int, ...]:
    """Reduction dims: None or () means all; a 0-dim input accepts dim 0/-1 and reduces nothing."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return _ALL_DIMS[ndim]
    if ndim == 0:
        for d in (dim,) if isinstance(dim, (int, np.integer)) else dim:
            _wrap_dim(int(d), 0)
        return ()
    return dims_arg(dim, ndim)


_ALL_DIMS = [tuple(range(n)) for n in range(65)]  # by ndim (NumPy allows 64): built once


def _one_dim(dim: Any, ndim: int) -> int:
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"argument 'dim' must be int, not {type(dim).__name__}")
    return _wrap_dim(int(dim), ndim)


def _const(arr: Any, like: Tensor) -> Tensor:
    """A gradient-free tensor of `like`'s dtype (masks and weights used inside backward)."""
    return Tensor._make(np.asarray(arr, dtype=like._data.dtype))


def _expand_back(g: Tensor, in_shape: tuple[int, ...], dims: tuple[int, ...]) -> Tensor:
    """A reduced gradient broadcast back to the input's shape. (kept) -> (in_shape)."""
    if STATE.enabled:  # create_graph: through the primitive, so double backward flows
        return ExpandBack.apply(g, in_shape, dims)
    # a plain backward records nothing: the same view as ExpandBack's without its Node and
    # apply (~9K fewer instructions per reduction's backward, callgrind)
    out = Tensor._make(_expand_array(g._data, in_shape, dims), False, g._version_ref)
    out._base = g._base if g._base is not None else g
    return out


def _expand_array(g: NDArray, in_shape: tuple[int, ...], dims: tuple[int, ...]) -> NDArray:
    """g (reduced over dims, kept or dropped) as a read-only broadcast view of in_shape."""
    if g.ndim == 0:  # a full reduction (loss.sum(), .mean()): a zero-stride view of the
        # scalar (0-d, so contiguous), built directly since np.broadcast_to's Python wrapper
        # costs ~7x more; setflags is ~0.5 us cheaper than flags.writeable = False
        out = np.ndarray(in_shape, g.dtype, g, 0, (0,) * len(in_shape))
        out.setflags(write=False)
        return out
    return np.broadcast_to(g.reshape(_kept_shape(in_shape, dims)), in_shape)


class ExpandBack(Primitive):
    """A reduction's gradient (reduced `dims` kept or dropped) broadcast back to the input's
    shape as a read-only view: reshape + expand in one primitive, since every reduction's VJP
    starts with it. VJP: gg summed over `dims`, back to g's shape."""

    is_view = True

    @staticmethod
    def forward(ctx: Node, g: NDArray, in_shape: tuple[int, ...],
                dims: tuple[int, ...]) -> NDArray:
        ctx.g_shape, ctx.dims = g.shape, dims
        return _expand_array(g, in_shape, dims)

    @staticmethod
    def backward(ctx: Node, gg: Tensor) -> tuple[Tensor | None, ...]:
        return (Sum.apply(gg, ctx.dims, True).reshape(ctx.g_shape), None, None)


def _np_dtype(dtype: Any) -> Any:
    return None if dtype is None else _dt.to_dtype(dtype).to_numpy()


def _need_float(input: Tensor, fn: str) -> None:
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{fn}(): expected input to have floating point or complex dtype but "
                           f"got {input.dtype._legacy[:-6]}")


def _dim_nonempty(input: Tensor, dims: tuple[int, ...], fn: str) -> None:
    for d in dims:
        if input.shape[d] == 0:
            raise IndexError(f"{fn}(): Expected reduction dim {d} to have non-zero size.")


# ---- sum, mean, prod ---------------------------------------------------------------------------
class Sum(Primitive):
    """Sum over `dims`. VJP: g reshaped to the kept-dims shape and expanded to the input's."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, dims: tuple[int, ...], keepdim: bool,
                dtype: Any = None) -> NDArray:
        ctx.in_shape, ctx.dims = a.shape, dims
        if dtype is None and a.dtype.kind in "biu":
            dtype = np.int64  # torch sums integers and bools as int64
        # np.sum's own call for arrays, without its Python wrapper; a full reduction is kept as
        # an array (keepdims) and reshaped to 0-d: NumPy's scalar costs more to convert back
        out = np.add.reduce(a, axis=dims, dtype=dtype, keepdims=True)
        if keepdim:
            return out
        return out.reshape(()) if len(dims) == a.ndim else out.squeeze(axis=dims)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (_expand_back(g, ctx.in_shape, ctx.dims),)


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *,  # noqa: A001
        dtype: Any = None) -> Tensor:
    """Matches `torch.sum`: over all elements, or over `dim` (int, tuple or list)."""
    if dtype is not None:
        input = input.to(dtype)
    return Sum.apply1(input, _rdims(dim, input._data.ndim), keepdim,
                      None if dtype is None else _np_dtype(dtype))


class NanSum(Primitive):
    """Sum treating NaN as 0. VJP: g expanded, zero where the input is NaN."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, dims: tuple[int, ...], keepdim: bool) -> NDArray:
        ctx.in_shape, ctx.dims = a.shape, dims
        ctx.mask = ~np.isnan(a)
        dtype = np.int64 if a.dtype.kind in "biu" else None
        return np.asarray(np.nansum(a, axis=dims, keepdims=keepdim, dtype=dtype))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (_expand_back(g, ctx.in_shape, ctx.dims) * _const(ctx.mask, g),)


def nansum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Matches `torch.nansum`."""
    if dtype is not None:
        input = input.to(dtype)
    return NanSum.apply(input, _rdims(dim, input.ndim), keepdim)


class Mean(Primitive):
    """Mean over `dims` (empty -> nan). VJP: g expanded, divided by the count."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, dims: tuple[int, ...], keepdim: bool) -> NDArray:
        ctx.in_shape, ctx.dims = a.shape, dims
        ctx.count = int(np.prod([a.shape[d] for d in dims]))
        if ctx.count == 0:  # torch: mean of nothing is nan (NumPy would warn)
            return np.full(np.sum(a, axis=dims, keepdims=keepdim).shape, np.nan, dtype=a.dtype)
        return np.asarray(np.mean(a, axis=dims, keepdims=keepdim), dtype=a.dtype)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (_expand_back(g, ctx.in_shape, ctx.dims) / builtins.max(ctx.count, 1),)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Matches `torch.mean`; integer inputs are an error, as in torch."""
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {input.dtype._legacy[:-6]}"
        )
    return Mean.apply(input, _rdims(dim, input.ndim), keepdim)


def nanmean(input: Tensor, dim: Any = None, keepdim: bool = False, *,
            dtype: Any = None) -> Tensor:
    """Matches `torch.nanmean`: nansum divided by the count of non-NaN entries."""
    if dtype is not None:
        input = input.to(dtype)
    _need_float(input, "nanmean")
    dims = _rdims(dim, input.ndim)
    count = np.sum(~np.isnan(input._data), axis=dims, keepdims=keepdim)
    with np.errstate(invalid="ignore", divide="ignore"):
        return nansum(input, dims, keepdim) / _const(count, input)


def _prod_others(a: NDArray, axis: int) -> NDArray:
    """For each element, the product of the others along `axis` (exact with zeros)."""
    x = np.moveaxis(a, axis, -1)
    ones = np.ones(x.shape[:-1] + (1,), dtype=x.dtype)
    left = np.cumprod(np.concatenate([ones, x[..., :-1]], -1), -1)
    right = np.flip(np.cumprod(np.flip(np.concatenate([x[..., 1:], ones], -1), -1), -1), -1)
    return np.moveaxis(left * right, -1, axis)


class Prod(Primitive):
    """Product along one axis. VJP: g * out / x without zeros; else g * (product of the others)."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, axis: int, keepdim: bool) -> NDArray:
        ctx.axis, ctx.in_shape = axis, a.shape
        ctx.save_for_backward(ctx.inputs[0])  # type: ignore[index]
        dtype = np.int64 if a.dtype.kind in "biu" else None
        return np.prod(a, axis=axis, keepdims=keepdim, dtype=dtype)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        dims = (ctx.axis,)
        ge = _expand_back(g, ctx.in_shape, dims)
        if np.all(x._data != 0):  # differentiable form (double backward works)
            return (ge * _expand_back(ctx.output(), ctx.in_shape, dims) / x,)
        return (ge * _const(_prod_others(x._data, ctx.axis), g),)


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """Matches `torch.prod`: all elements, or one `dim`."""
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:
        return Prod.apply(input.reshape(-1), 0, False)
    if input.ndim == 0:
        _wrap_dim(dim, 0)
        return Prod.apply(input.reshape(1), 0, False)
    return Prod.apply(input, _one_dim(dim, input.ndim), keepdim)


# ---- max / min -----------------------------------------------------------------------------------
class AMax(Primitive):
    """amax (or amin with `is_min`) over dims. VJP: g split evenly among the tied extremes."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, dims: tuple[int, ...], keepdim: bool, is_min: bool,
                nan_split: bool = False) -> NDArray:
        out = (np.amin if is_min else np.amax)(a, axis=dims, keepdims=True)
        if ctx.needs_input_grad[0]:
            ctx.in_shape, ctx.dims = a.shape, dims
            # a NaN result: max()/min() split among the NaNs, amax/amin give NaN (0/0), as torch
            mask = (a == out) | (np.isnan(a) & np.isnan(out)) if nan_split else a == out
            with np.errstate(invalid="ignore", divide="ignore"):
                ctx.weight = mask / np.sum(mask, axis=dims, keepdims=True)
        return out if keepdim else np.squeeze(out, axis=dims)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (_expand_back(g, ctx.in_shape, ctx.dims) * _const(ctx.weight, g),)


def _amax(input: Tensor, dim: Any, keepdim: bool, is_min: bool, fn: str) -> Tensor:
    """amax/amin, and max()/min()/aminmax (fn says which, for errors and NaN gradients)."""
    dims = _rdims(dim, input.ndim)
    all_dims = dim is None or (isinstance(dim, (tuple, list)) and not dim)  # amax's default ()
    if all_dims and input.numel() == 0:
        raise RuntimeError(f"{fn}(): Expected reduction dim to be specified for input.numel() == "
                           "0. Specify the reduction dim with the 'dim' argument.")
    _dim_nonempty(input, dims, fn)
    return AMax.apply(input, dims, keepdim, is_min, fn in ("max", "min", "median"))


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Matches `torch.amax`: ties share the gradient evenly."""
    return _amax(input, dim, keepdim, False, "amax")


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Matches `torch.amin`: ties share the gradient evenly."""
    return _amax(input, dim, keepdim, True, "amin")


class TakeAlong(Primitive):
    """np.take_along_axis(a, idx, axis), squeezed on `axis` unless keepdim.

    VJP: g scattered (accumulating) into zeros of a's shape at idx."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, idx: NDArray, axis: int, keepdim: bool) -> NDArray:
        ctx.in_shape, ctx.idx, ctx.axis, ctx.keepdim = a.shape, idx, axis, keepdim
        out = np.take_along_axis(a, idx, axis=axis)
        return out if keepdim else np.squeeze(out, axis=axis)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        if not ctx.keepdim:
            g = g.unsqueeze(ctx.axis)
        return (PutAlong.apply(g, ctx.idx, ctx.axis, ctx.in_shape), None, None, None)


class PutAlong(Primitive):
    """Zeros of `shape` with g added at idx along axis. VJP: TakeAlong of the gradient."""

    @staticmethod
    def forward(ctx: Node, g: NDArray, idx: NDArray, axis: int,
                shape: tuple[int, ...]) -> NDArray:
        ctx.idx, ctx.axis = idx, axis
        out = np.zeros(shape, dtype=g.dtype)
        full: list[Any] = list(np.indices(idx.shape, sparse=True))
        full[axis] = idx
        np.add.at(out, tuple(full), g)
        return out

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (TakeAlong.apply(g, ctx.idx, ctx.axis, True), None, None, None)


def _take(input: Tensor, idx: NDArray, axis: int, keepdim: bool) -> Tensor:
    return TakeAlong.apply(input, idx, axis, keepdim)


def _index_result(idx: NDArray, axis: int, keepdim: bool) -> Tensor:
    idx = idx.astype(np.int64, copy=False)
    return Tensor._make(idx if keepdim else np.squeeze(idx, axis=axis))


def _max_dim(input: Tensor, dim: Any, keepdim: bool, is_min: bool, fn: str) -> Any:
    x = input.reshape(1) if input.ndim == 0 else input
    if input.ndim == 0:
        _wrap_dim(dim, 0)
        keepdim = False
    d = _one_dim(dim, x.ndim)
    _dim_nonempty(x, (d,), fn)
    idx = (np.argmin if is_min else np.argmax)(x._data, axis=d, keepdims=True)
    rt = return_types.min if is_min else return_types.max
    return rt(_take(x, idx, d, keepdim), _index_result(idx, d, keepdim))


def max(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Matches `torch.max`: no dim -> 0-dim tensor (ties share the gradient); with dim ->
    return_types.max(values, indices) (first index on ties); a tensor `dim` -> `maximum`."""
    if isinstance(dim, Tensor):
        from ember.ops import elementwise

        return elementwise.maximum(input, dim)  # type: ignore[attr-defined]
    if dim is None:
        return _amax(input, None, False, False, "max")
    return _max_dim(input, dim, keepdim, False, "max")


def min(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001
    """Matches `torch.min` (see `max`)."""
    if isinstance(dim, Tensor):
        from ember.ops import elementwise

        return elementwise.minimum(input, dim)  # type: ignore[attr-defined]
    if dim is None:
        return _amax(input, None, False, True, "min")
    return _max_dim(input, dim, keepdim, True, "min")


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> Any:
    """Matches `torch.aminmax`: return_types.aminmax(min, max)."""
    fn = "aminmax"
    return return_types.aminmax(_amax(input, dim, keepdim, True, fn),
                                _amax(input, dim, keepdim, False, fn))


def _argext(input: Tensor, dim: int | None, keepdim: bool, is_min: bool) -> Tensor:
    fn = "argmin" if is_min else "argmax"
    npfn = np.argmin if is_min else np.argmax
    if input.dtype is _dt.bool_:
        raise RuntimeError(f"{fn}(): does not support bool input")
    if dim is None:
        if input.numel() == 0:
            raise IndexError(f"{fn}(): Expected reduction dim to be specified for "
                             "input.numel() == 0.")
        idx = np.asarray(npfn(input._data.reshape(-1)), dtype=np.int64)
        return Tensor._make(idx.reshape((1,) * input.ndim) if keepdim else idx)
    if input.ndim == 0:
        _wrap_dim(dim, 0)
        return Tensor._make(np.zeros((), dtype=np.int64))
    d = _one_dim(dim, input.ndim)
    _dim_nonempty(input, (d,), fn)
    return _index_result(npfn(input._data, axis=d, keepdims=True), d, keepdim)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Matches `torch.argmax`: the first index on ties."""
    return _argext(input, dim, keepdim, False)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Matches `torch.argmin`: the first index on ties."""
    return _argext(input, dim, keepdim, True)


# ---- variance ----------------------------------------------------------------------------------
class _SafeSqrt(Primitive):
    """sqrt for std. VJP: g / (2 * out), and 0 where out == 0 (torch's std convention)."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray) -> NDArray:
        return np.sqrt(a)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        out = ctx.output()
        zero = out._data == 0
        return (g * _const(~zero, g) / (out * 2 + _const(zero, g)),)


def _var_args(dim: Any, unbiased: Any, correction: Any) -> tuple[Any, float]:
    if isinstance(dim, bool):  # var(input, unbiased)
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, float(correction)


def var(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None) -> Tensor:
    """Matches `torch.var`: unbiased by default; `correction=` or the legacy `unbiased=`.
    Two-pass (mean first), so large offsets keep their precision."""
    if not input.dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dim, c = _var_args(dim, unbiased, correction)
    dims = _rdims(dim, input.ndim)
    n = int(np.prod([input.shape[d] for d in dims]))
    dev = input - mean(input, dims, True)
    denom = n - c
    if denom <= 0:
        warnings.warn("var(): degrees of freedom is <= 0. Correction should be strictly less than "
                      "the reduction factor (input numel divided by output numel).", UserWarning,
                      stacklevel=3)
    scale = 1.0 / denom if denom > 0 else math.inf
    with np.errstate(invalid="ignore"):
        return sum(dev * dev, dims, keepdim) * scale


def std(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
        correction: Any = None) -> Tensor:
    """Matches `torch.std` (gradient 0 where the std is 0, as torch)."""
    return _SafeSqrt.apply(var(input, dim, unbiased, keepdim, correction=correction))


def var_mean(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None) -> tuple[Tensor, Tensor]:
    """Matches `torch.var_mean`: a plain tuple (var, mean)."""
    d, _ = _var_args(dim, unbiased, correction)
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, _rdims(d, input.ndim), keepdim))


def std_mean(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
             correction: Any = None) -> tuple[Tensor, Tensor]:
    """Matches `torch.std_mean`: a plain tuple (std, mean)."""
    d, _ = _var_args(dim, unbiased, correction)
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, _rdims(d, input.ndim), keepdim))


# ---- logsumexp, norm ---------------------------------------------------------------------------
class LogSumExp(Primitive):
    """log(sum(exp(a))) shifted by the max. VJP: g * exp(a - out)."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, dims: tuple[int, ...], keepdim: bool) -> NDArray:
        ctx.in_shape, ctx.dims = a.shape, dims
        ctx.save_for_backward(ctx.inputs[0])  # type: ignore[index]
        if a.size == 0:
            return np.log(np.sum(np.exp(a), axis=dims, keepdims=keepdim))
        m = np.amax(a, axis=dims, keepdims=True)
        m = np.where(np.isinf(m), 0, m)  # all -inf (or +inf) slices: no shift, no nan
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(a - m), axis=dims, keepdims=True)) + m
        return out if keepdim else np.squeeze(out, axis=dims)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        kept = _kept_shape(ctx.in_shape, ctx.dims)
        from ember.ops.elementwise import exp

        return (g.reshape(kept) * exp(x - ctx.output().reshape(kept)), None, None)


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """Matches `torch.logsumexp` (integer inputs give the default float dtype)."""
    if not input.dtype.is_floating_point:
        input = input.to(_dt.get_default_dtype())
    return LogSumExp.apply(input, _rdims(dim, input.ndim), keepdim)


class Norm(Primitive):
    """Vector p-norm over dims. VJP: g * sign(x) |x|^(p-1) / out^(p-1) (0 at a zero norm);
    p = +-inf: split evenly among the extremes of |x|; p = 0: zero."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, p: float, dims: tuple[int, ...], keepdim: bool) -> NDArray:
        ctx.in_shape, ctx.dims, ctx.p = a.shape, dims, p
        ctx.save_for_backward(ctx.inputs[0])  # type: ignore[index]
        x = np.abs(a)
        if p == math.inf or p == -math.inf:
            return (np.amax if p > 0 else np.amin)(x, axis=dims, keepdims=keepdim)
        if p == 0:
            return np.sum(x != 0, axis=dims, keepdims=keepdim).astype(a.dtype)
        if p == 1:
            return np.sum(x, axis=dims, keepdims=keepdim)
        if p == 2:
            return np.sqrt(np.sum(x * x, axis=dims, keepdims=keepdim))
        with np.errstate(divide="ignore"):
            return np.sum(x ** p, axis=dims, keepdims=keepdim) ** (1.0 / p)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        p, dims, shape = ctx.p, ctx.dims, ctx.in_shape
        ge = _expand_back(g, shape, dims)
        out = _expand_back(ctx.output(), shape, dims)
        sign = _const(np.sign(x._data), g)
        if p == 0:
            return (ge * 0,)
        if p == 1:
            return (ge * sign,)
        if p == 2:
            zero = out._data == 0
            return (ge * x * _const(~zero, g) / (out + _const(zero, g)),)
        if p in (math.inf, -math.inf):
            a = np.abs(x._data)
            mask = a == out._data
            w = mask / np.maximum(np.sum(mask, axis=dims, keepdims=True), 1)
            return (ge * sign * _const(w, g),)
        # general p, as torch: sign(x) |x|^(p-1) * g / out^(p-1), 0 where out == 0 (and, for
        # p < 1, where x == 0); bases are shifted to 1 where masked so pow stays finite
        ax = x.abs()
        if p < 1:
            zx = x._data == 0
            ax = (ax + _const(zx, g)).pow(p - 1) * _const(~zx, g)
        else:
            ax = ax.pow(p - 1)
        zo = out._data == 0
        scale = ge / (out + _const(zo, g)).pow(p - 1) * _const(~zo, g)
        return (sign * ax * scale,)


def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False,
         dtype: Any = None) -> Tensor:
    """Matches `torch.norm` for vector norms: p = 'fro' (2), any float, inf, -inf over dims.
    The gradient at a zero vector is 0, as torch."""
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {input.dtype._legacy[:-6]}")
    if p == "fro" and isinstance(dim, (tuple, list)) and len(dim) > 2:
        raise RuntimeError("linalg.matrix_norm: dim must be a 2-tuple. Got "
                           + " ".join(str(d) for d in dim))
    if p == "fro" or p is None:
        p = 2.0
    elif isinstance(p, str):
        raise NotImplementedError(f"norm(): p={p!r} (matrix norms) is not supported")
    dims = _rdims(dim, input.ndim)
    return Norm.apply(input, float(p), dims, keepdim)


# ---- logical reductions ------------------------------------------------------------------------
def _logical(input: Tensor, dim: Any, keepdim: bool, fn: Any) -> Tensor:
    out = fn(input._data, axis=_rdims(dim, input.ndim), keepdims=keepdim)
    dtype = np.uint8 if input._data.dtype == np.uint8 else np.bool_
    return Tensor._make(np.asarray(out, dtype=dtype))


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Matches `torch.all`: bool result (uint8 for uint8 input)."""
    return _logical(input, dim, keepdim, np.all)


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Matches `torch.any`: bool result (uint8 for uint8 input)."""
    return _logical(input, dim, keepdim, np.any)


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    """Matches `torch.count_nonzero`: int64."""
    out = np.count_nonzero(input._data, axis=_rdims(dim, input.ndim))
    return Tensor._make(np.asarray(out, dtype=np.int64))


# ---- cumulative ----------------------------------------------------------------------------------
class Cumsum(Primitive):
    """Cumulative sum along axis (from the end when `reverse`). VJP: the reverse cumsum of g."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, axis: int, reverse: bool) -> NDArray:
        ctx.axis, ctx.reverse = axis, reverse
        dtype = np.int64 if a.dtype.kind in "biu" else None
        if reverse:
            return np.flip(np.cumsum(np.flip(a, axis), axis, dtype=dtype), axis).copy()
        return np.cumsum(a, axis, dtype=dtype)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (Cumsum.apply(g, ctx.axis, not ctx.reverse), None, None)


def cumsum(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Matches `torch.cumsum` (integers and bools accumulate in int64)."""
    if dtype is not None:
        input = input.to(dtype)
    if input.ndim == 0:
        _wrap_dim(dim, 0)
        return Cumsum.apply(input.reshape(1), 0, False).reshape(())
    return Cumsum.apply(input, _one_dim(dim, input.ndim), False)


def _cumprod_grad_zeros(x: NDArray, g: NDArray, axis: int) -> NDArray:
    """d(sum g * cumprod(x)) / dx along axis, exact with zeros. Shapes as x."""
    x, g = np.moveaxis(x, axis, -1), np.moveaxis(g, axis, -1)
    n = x.shape[-1]
    pos = np.arange(n)
    is_zero = x == 0
    z = np.where(is_zero.any(-1), is_zero.argmax(-1), n)[..., None]  # first zero per slice
    out = np.cumprod(x, -1)
    before = pos < z
    # i < z: sum_{i<=j<z} g_j out_j / x_i
    acc = np.flip(np.cumsum(np.flip(g * out * before, -1), -1), -1)
    safe_x = np.where(before, x, 1)
    res = np.where(before, acc / safe_x, 0)
    # i == z: prod_{k<z} x_k * sum_{j>=z} g_j prod_{z<k<=j} x_k
    p_before = np.prod(np.where(before, x, 1), -1, keepdims=True)
    after = np.cumprod(np.where(pos <= z, 1, x), -1)
    tail = np.sum(np.where(pos >= z, g * after, 0), -1, keepdims=True)
    res = np.where(pos == z, p_before * tail, res)
    return np.moveaxis(res, -1, axis)


class Cumprod(Primitive):
    """Cumulative product. VJP: revcumsum(g * out) / x without zeros; exact form with zeros."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, axis: int) -> NDArray:
        ctx.axis = axis
        ctx.save_for_backward(ctx.inputs[0])  # type: ignore[index]
        dtype = np.int64 if a.dtype.kind in "biu" else None
        return np.cumprod(a, axis, dtype=dtype)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        if np.all(x._data != 0):
            return (Cumsum.apply(g * ctx.output(), ctx.axis, True) / x, None)
        return (_const(_cumprod_grad_zeros(x._data, g._data, ctx.axis), g), None)


def cumprod(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Matches `torch.cumprod` (gradient exact with zeros in the input)."""
    if dtype is not None:
        input = input.to(dtype)
    if input.ndim == 0:
        _wrap_dim(dim, 0)
        return Cumprod.apply(input.reshape(1), 0).reshape(())
    return Cumprod.apply(input, _one_dim(dim, input.ndim))


def _cum_ext(input: Tensor, dim: int, is_min: bool) -> Any:
    x = input.reshape(1) if input.ndim == 0 else input
    d = _wrap_dim(dim, 0) if input.ndim == 0 else _one_dim(dim, input.ndim)
    a = np.moveaxis(x._data, d, -1)
    acc = (np.minimum if is_min else np.maximum).accumulate(a, axis=-1) if a.size else a
    # where the running extreme is (re)attained, ties included, or a NaN arrives (torch's
    # `x >= best || isnan(x)`); each position takes the latest such index so far
    hit = (a == acc) | (np.isnan(a) if a.dtype.kind == "f" else False)
    idx = np.maximum.accumulate(np.where(hit, np.arange(a.shape[-1]), 0), axis=-1) if a.size \
        else np.zeros(a.shape, dtype=np.int64)
    idx = np.moveaxis(idx, -1, d)
    rt = return_types.cummin if is_min else return_types.cummax
    vals = _take(x, idx, d, True)
    ids = Tensor._make(idx)
    if input.ndim == 0:
        vals, ids = vals.reshape(()), ids.reshape(())
    return rt(vals, ids)


def cummax(input: Tensor, dim: int) -> Any:
    """Matches `torch.cummax`: the latest index on ties."""
    return _cum_ext(input, dim, False)


def cummin(input: Tensor, dim: int) -> Any:
    """Matches `torch.cummin`: the latest index on ties."""
    return _cum_ext(input, dim, True)


# ---- median, mode, diff --------------------------------------------------------------------------
class _Pick(Primitive):
    """A value chosen from `a` (forward returns it). VJP: g * weight (where it came from)."""

    @staticmethod
    def forward(ctx: Node, a: NDArray, value: Any, weight: NDArray) -> NDArray:
        ctx.weight = weight
        return np.asarray(value, dtype=a.dtype)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        return (g * _const(ctx.weight, g), None, None)


def median(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """Matches `torch.median`: the lower median. No dim: a 0-dim tensor whose gradient is split
    among the tied entries; with dim: return_types.median(values, indices)."""
    if dim is None:
        if input.numel() == 0:
            return Tensor._make(np.array(np.nan, dtype=input._data.dtype))
        flat = input._data.reshape(-1)
        if np.isnan(flat).any():
            return _amax(input, None, False, False, "median")  # nan, gradient to the nans
        v = np.sort(flat, kind="stable")[(flat.size - 1) // 2]
        return _Pick.apply(input, v, (input._data == v) / np.sum(flat == v))
    x = input.reshape(1) if input.ndim == 0 else input
    d = _wrap_dim(dim, 0) if input.ndim == 0 else _one_dim(dim, input.ndim)
    _dim_nonempty(x, (d,), "median")
    a = x._data
    order = np.argsort(a, axis=d, kind="stable")  # NaN sorts last
    n = a.shape[d]
    has_nan = np.isnan(a).any(axis=d, keepdims=True) if a.dtype.kind == "f" else False
    pos = np.where(has_nan, n - np.sum(np.isnan(a), axis=d, keepdims=True), (n - 1) // 2)
    idx = np.take_along_axis(order, np.broadcast_to(pos, _kept_shape(a.shape, (d,))), axis=d)
    keep = keepdim and input.ndim > 0
    return return_types.median(_take(x, idx, d, keep), _index_result(idx, d, keep))


def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> Any:
    """Matches `torch.mode`: the smallest most frequent value and its last index."""
    x = input.reshape(1) if input.ndim == 0 else input
    d = _wrap_dim(dim, 0) if input.ndim == 0 else _one_dim(dim, input.ndim)
    _dim_nonempty(x, (d,), "mode")
    a = np.moveaxis(x._data, d, -1)
    n, pos = a.shape[-1], np.arange(a.shape[-1])
    srt = np.sort(a, axis=-1)
    # runs of equal values in sorted order (NaNs never equal, so each is its own run)
    first = np.ones(srt.shape, dtype=bool)
    first[..., 1:] = srt[..., 1:] != srt[..., :-1]
    last = np.ones(srt.shape, dtype=bool)
    last[..., :-1] = first[..., 1:]
    run_lo = np.maximum.accumulate(np.where(first, pos, 0), axis=-1)
    run_hi = np.flip(np.minimum.accumulate(np.flip(np.where(last, pos, n), -1), axis=-1), -1)
    best = np.argmax(run_hi - run_lo, axis=-1, keepdims=True)  # first longest: the smallest
    value = np.take_along_axis(srt, best, axis=-1)
    idx = n - 1 - np.argmax(np.flip(a == value, -1), axis=-1)  # its last index
    idx_k = np.expand_dims(idx.reshape(a.shape[:-1]), d)
    keep = keepdim and input.ndim > 0
    return return_types.mode(_take(x, idx_k, d, keep), _index_result(idx_k, d, keep))


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None,
         append: Tensor | None = None) -> Tensor:
    """Matches `torch.diff`: n-th forward difference along dim (bool: xor, as torch)."""
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    d = _one_dim(dim, input.ndim)
    if prepend is not None or append is not None:
        from ember import ops

        parts = [t for t in (prepend, input, append) if t is not None]
        input = ops.cat(parts, d)  # type: ignore[attr-defined]
    lo = (slice(None),) * d
    for _ in range(n):
        if input.shape[d] == 0:
            break
        hi, lw = input[lo + (slice(1, None),)], input[lo + (slice(None, -1),)]
        input = hi.ne(lw) if input.dtype is _dt.bool_ else hi - lw
    return input


# ---- softmax ------------------------------------------------------------------------------------
class Softmax(Primitive):
    """exp(a - max) / sum along axis. VJP: g*s - s*sum(g*s)."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, axis: int) -> NDArray:
        ctx.axis = axis
        if a.size == 0:
            return a.copy()
        with np.errstate(invalid="ignore"):  # an all -inf row gives nan, as torch
            e = np.exp(a - np.amax(a, axis=axis, keepdims=True))
            return e / np.sum(e, axis=axis, keepdims=True)

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        s = ctx.output()
        gs = g * s
        return (gs - s * sum(gs, ctx.axis, True), None)


class LogSoftmax(Primitive):
    """a - logsumexp(a) along axis. VJP: g - exp(out) * sum(g)."""

    save_output = True

    @staticmethod
    def forward(ctx: Node, a: NDArray, axis: int) -> NDArray:
        ctx.axis = axis
        if a.size == 0:
            return a.copy()
        m = np.amax(a, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        sh = a - m
        with np.errstate(divide="ignore", invalid="ignore"):
            return sh - np.log(np.sum(np.exp(sh), axis=axis, keepdims=True))

    @staticmethod
    def backward(ctx: Node, g: Tensor) -> tuple[Tensor | None, ...]:
        from ember.ops.elementwise import exp

        return (g - exp(ctx.output()) * sum(g, ctx.axis, True), None)


def _softmax_input(input: Tensor, dim: Any, dtype: Any, fn: str) -> tuple[Tensor, int]:
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"{fn}_lastdim_kernel_impl" not implemented for '
                                  f"'{input.dtype._legacy[:-6]}'")
    if dim is None:  # torch's legacy implicit choice
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return input, _wrap_dim(int(dim), input.ndim)


def softmax(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:
    """Matches `torch.softmax` (numerically stable; `dtype` casts first)."""
    x, d = _softmax_input(input, dim, dtype, "softmax")
    if x.ndim == 0:
        return Softmax.apply(x.reshape(1), 0).reshape(())
    return Softmax.apply(x, d)


def log_softmax(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:
    """Matches `torch.log_softmax` (numerically stable; `dtype` casts first)."""
    x, d = _softmax_input(input, dim, dtype, "log_softmax")
    if x.ndim == 0:
        return LogSoftmax.apply(x.reshape(1), 0).reshape(())
    return LogSoftmax.apply(x, d)


def sum_to_shape(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum a broadcast gradient back to `shape` (leading dims, then size-1 dims)."""
    lead = g.ndim - len(shape)
    gshape = g._data.shape
    dims = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1
    )
    if dims:
        return SumTo.apply(g, dims, tuple(shape))
    return g.reshape(shape) if gshape != tuple(shape) else g


class SumTo(Primitive):
    """The engine's reduction of a broadcast gradient to its input's shape: a sum over `dims`
    and the reshape to `shape` in one primitive. VJP: gg broadcast back to g's shape."""

    @staticmethod
    def forward(ctx: Node, g: NDArray, dims: tuple[int, ...], shape: tuple[int, ...]) -> NDArray:
        ctx.g_shape = g.shape
        return np.add.reduce(g, axis=dims, keepdims=True).reshape(shape)

    @staticmethod
    def backward(ctx: Node, gg: Tensor) -> tuple[Tensor | None, ...]:
        return (gg.expand(ctx.g_shape), None, None)
