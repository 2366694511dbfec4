"""Tensor: a NumPy array plus autograd state; its math methods are one-line calls into ember.ops."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ember import dtypes as _dt
from ember.autograd.grad_mode import STATE
from ember.size import CPU, Size, device

NDArray = np.ndarray
_NP2DT = _dt._BY_NP


class _Handle:
    """A removable hook handle, as torch.utils.hooks.RemovableHandle."""

    def __init__(self, hooks: list[Any], hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _check_can_require_grad(d: _dt.dtype, factory: bool = False) -> None:
    if not d.is_floating_point:
        raise RuntimeError(
            "Only Tensors of floating point and complex dtype can require gradients"
            if factory else "only Tensors of floating point dtype can require gradients"
        )


class Tensor:
    """A multi-dimensional array with reverse-mode autograd. Matches `torch.Tensor`.

    `ember.Tensor(data)` copies data into a float32 tensor and `ember.Tensor(2, 3)` makes an
    uninitialised one, as torch's legacy constructor does; prefer `ember.tensor`.
    """

    __slots__ = ("_data", "_requires_grad", "grad_fn", "_grad", "_version_ref", "_base", "_extra",
                 "__weakref__")

    _data: NDArray
    _requires_grad: bool
    grad_fn: Any
    _grad: Tensor | None
    _version_ref: list[int]  # shared with views and detach(), as torch's version counter
    _base: Tensor | None  # the tensor this one is a view of
    _extra: dict[str, Any] | None  # rarely used state: hooks, retains_grad, inference

    if TYPE_CHECKING:  # the methods generated from METHODS below, for the type checker
        def __getattr__(self, name: str) -> Any: ...

    def __new__(cls, *args: Any, **kwargs: Any) -> Tensor:
        if len(args) == 1 and not isinstance(args[0], int):
            arr = np.array(args[0].detach()._data if isinstance(args[0], Tensor) else args[0],
                           dtype=np.float32)
        else:
            shape = args[0] if len(args) == 1 and not isinstance(args[0], int) else args
            arr = np.empty(tuple(shape), dtype=np.float32)
        t = object.__new__(cls)
        t._init(arr, False, None)
        return t

    def _init(self, arr: NDArray, requires_grad: bool, version_ref: list[int] | None) -> None:
        self._data = arr
        self._requires_grad = requires_grad
        self.grad_fn = None
        self._grad = None
        self._version_ref = [0] if version_ref is None else version_ref
        self._base = None
        self._extra = None

    @staticmethod
    def _make(arr: Any, requires_grad: bool = False,
              version_ref: list[int] | None = None) -> Tensor:
        """Wrap an array without copying (the fast internal constructor)."""
        t = object.__new__(Tensor)
        if type(arr) is not np.ndarray:
            arr = np.asarray(arr)  # NumPy returns scalars from 0-d ops
        t._data = arr
        t._requires_grad = requires_grad
        t.grad_fn = None
        t._grad = None
        t._version_ref = [0] if version_ref is None else version_ref
        t._base = None
        t._extra = None
        return t

    # ---- metadata ---------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    @property
    def dtype(self) -> _dt.dtype:
        return _NP2DT[self._data.dtype]

    @property
    def device(self) -> device:
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def ndimension(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    def nelement(self) -> int:
        return self._data.size

    def element_size(self) -> int:
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_complex(self) -> bool:
        return False

    def is_contiguous(self, memory_format: Any = None) -> bool:
        return bool(self._data.flags.c_contiguous)

    def stride(self, dim: int | None = None) -> Any:
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_wrap_dim(dim, self._data.ndim)]

    def storage_offset(self) -> int:
        base = self._data
        while isinstance(base.base, np.ndarray):
            base = base.base
        off = self._data.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        return off // self._data.itemsize

    def data_ptr(self) -> int:
        return int(self._data.__array_interface__["data"][0])

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return "torch." + self.dtype._legacy
        if isinstance(dtype, str):  # 'torch.LongTensor'
            legacy = {"torch." + d._legacy: d for d in vars(_dt).values()
                      if isinstance(d, _dt.dtype)}
            if dtype not in legacy and not _dt.is_dtype_name(dtype):  # or a dtype's name
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = legacy.get(dtype) or _dt.to_dtype(dtype)
        elif isinstance(dtype, type):  # torch.LongTensor under ember.compat: carries its dtype
            dtype = dtype.dtype  # type: ignore[attr-defined]
        return self.to(dtype)

    @property
    def _version(self) -> int:
        return self._version_ref[0]

    def is_inference(self) -> bool:
        return bool(self._extra and self._extra.get("inference"))

    # ---- autograd state ---------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None:
            if not value:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to "
                    "use a computed variable in a subgraph that doesn't require differentiation "
                    "use var_no_grad = var.detach()."
                )
            return
        if value:
            _check_can_require_grad(self.dtype)
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        if self.grad_fn is not None and not self.retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed "
                "want the .grad field to be populated for a non-leaf Tensor, use .retain_grad() "
                "on the non-leaf Tensor.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value.dtype != self.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{value.dtype.name}' to a tensor "
                    f"with grad_dtype '{self.dtype.name}'. Please ensure that the gradient and "
                    "the tensor have the same dtype"
                )
            if value.shape != self.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of "
                    f"size '{list(self.shape)}'. Please ensure that the gradient and the tensor "
                    "are the same size"
                )
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        return bool(self._extra and self._extra.get("retains_grad"))

    def retain_grad(self) -> None:
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None:
            return
        import weakref

        self.grad_fn.retained = weakref.ref(self)
        self._set_extra("retains_grad", True)

    def _set_extra(self, key: str, value: Any) -> None:
        if self._extra is None:
            self._extra = {}
        self._extra[key] = value

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _Handle:
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            if self.grad_fn.hooks is None:
                self.grad_fn.hooks = []
            hooks = self.grad_fn.hooks
        else:
            if self._extra is None or "hooks" not in self._extra:
                self._set_extra("hooks", [])
            hooks = self._extra["hooks"]  # type: ignore[index]
        hooks.append(hook)
        return _Handle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> _Handle:
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        if self._extra is None or "post_hooks" not in self._extra:
            self._set_extra("post_hooks", [])
        hooks = self._extra["post_hooks"]  # type: ignore[index]
        hooks.append(hook)
        return _Handle(hooks, hook)

    def _accumulate_grad(self, g: Tensor, create_graph: bool, owned: bool = False) -> None:
        """Add a backward pass's gradient into `.grad` (the engine's AccumulateGrad). `owned`:
        nothing else holds g's array, so a first gradient keeps it rather than a copy."""
        extra = self._extra
        grad = self._grad
        if grad is not None and not create_graph and not extra:
            grad._data += g._data  # the common case first: in place, as torch accumulates
            return
        if extra and extra.get("hooks"):
            owned = False  # a hook may keep g
            for hook in extra["hooks"]:
                new = hook(g)
                if new is not None:
                    g = new
        if self._grad is None and create_graph:
            self._grad = g
        elif (self._grad is None and owned and g._data.strides == self._data.strides
              and g._data.dtype == self._data.dtype):
            # g itself when it is a plain fresh tensor (nothing else holds it), else a new one
            plain = (g._base is None and g.grad_fn is None and not g._requires_grad
                     and not g._extra)
            self._grad = g if plain else Tensor._make(g._data)
        elif self._grad is None:
            # a fresh array (the grad must not alias anything the graph still uses) laid out as
            # the tensor is, as torch's AccumulateGrad does: W's gradient in x @ W.T arrives
            # transposed, and an optimizer's passes over mixed layouts run strided, ~2x slower
            arr = np.empty_like(self._data, dtype=g._data.dtype)
            np.copyto(arr, g._data)
            self._grad = Tensor._make(arr)
        elif create_graph:
            self._grad = self._grad + g
        else:
            self._grad._data += g._data  # in place, as torch accumulates
        if extra and extra.get("post_hooks"):
            for hook in extra["post_hooks"]:
                hook(self)

    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Matches `torch.Tensor.backward`."""
        _autograd.backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self) -> Tensor:
        """A tensor sharing data and version counter, cut from the graph."""
        t = Tensor._make(self._data, False, self._version_ref)
        return t

    def detach_(self) -> Tensor:
        if self._base is not None and self._base._requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        return Tensor._make(self._data, False)

    @data.setter
    def data(self, value: Tensor) -> None:
        if self._requires_grad and not value.dtype.is_floating_point:
            raise RuntimeError("data set to a tensor that requires gradients must be floating "
                               "point or complex dtype")
        self._data = value._data

    # ---- conversion to Python / NumPy ---------------------------------------------------------
    def numpy(self, *, force: bool = False) -> NDArray:
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray:
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def item(self) -> Any:
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted "
                               "to Scalar")
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def _scalar(self, what: str) -> Any:
        if self._data.size != 1:
            if what == "bool":
                raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
            # float()/int() raise torch's ValueError (item() keeps its RuntimeError)
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self._data.reshape(()).item()

    def __bool__(self) -> bool:
        return bool(self._scalar("bool"))

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self._data.reshape(()).item())

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec) if spec else repr(self)

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        from ember._tensor_str import tensor_repr

        return tensor_repr(self)

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild, (np.array(self._data), self._requires_grad))

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support "
                               "the deepcopy protocol at the moment.")
        t = Tensor._make(np.array(self._data, copy=True), self._requires_grad)
        if self._grad is not None:
            t._grad = Tensor._make(np.array(self._grad._data, copy=True))
        memo[id(self)] = t
        return t

    # ---- dtype / device conversion -------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Matches `torch.Tensor.to`: a dtype, a device, another tensor, and `copy=`."""
        return _ops.to(self, *args, **kwargs)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(_dt.float32)

    def double(self) -> Tensor:
        return self.to(_dt.float64)

    def half(self) -> Tensor:
        return self.to(_dt.float16)

    def bfloat16(self) -> Tensor:
        return self.to(_dt.bfloat16)

    def long(self) -> Tensor:
        return self.to(_dt.int64)

    def int(self) -> Tensor:
        return self.to(_dt.int32)

    def short(self) -> Tensor:
        return self.to(_dt.int16)

    def char(self) -> Tensor:
        return self.to(_dt.int8)

    def byte(self) -> Tensor:
        return self.to(_dt.uint8)

    def bool(self) -> Tensor:
        return self.to(_dt.bool_)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        device("cuda")  # raises the clear error
        return self

    def pin_memory(self) -> Tensor:
        return self

    def share_memory_(self) -> Tensor:
        return self

    def contiguous(self, memory_format: Any = None) -> Tensor:
        return self if self._data.flags.c_contiguous else _ops.clone(self)

    def clone(self, *, memory_format: Any = None) -> Tensor:
        return _ops.clone(self)

    # ---- in-place machinery --------------------------------------------------------------------
    def _check_inplace(self) -> None:
        """torch refuses in-place changes to leaves (and their views) that require grad."""
        if STATE.enabled:
            if self._requires_grad and self.grad_fn is None:
                raise RuntimeError("a leaf Variable that requires grad is being used in an "
                                   "in-place operation.")
            base = self._base
            if base is not None and base._requires_grad and base.grad_fn is None:
                raise RuntimeError("a view of a leaf Variable that requires grad is being used in "
                                   "an in-place operation.")
        if self._extra and self._extra.get("inference") and not STATE.inference:
            raise RuntimeError("Inplace update to inference tensor outside InferenceMode is not "
                               "allowed.You can make a clone to get a normal tensor before doing "
                               "inplace update.")

    def _inplace(self, out: Tensor) -> Tensor:
        """Write an out-of-place result into this tensor's memory and take over its graph node."""
        if out._data.shape != self._data.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast "
                               f"shape {list(out.shape)}")
        if out._data.dtype != self._data.dtype:
            src, dst = out.dtype, self.dtype
            if src._kind > dst._kind:
                raise RuntimeError(f"result type {src._legacy[:-6]} can't be cast to the desired "
                                   f"output type {dst._legacy[:-6]}")
        np.copyto(self._data, out._data, casting="unsafe")
        self._version_ref[0] += 1
        if out.grad_fn is not None:
            self.grad_fn = out.grad_fn
            self._requires_grad = True
        return self

    # ---- operators -----------------------------------------------------------------------------
    # Binary operators with a Tensor of the same dtype call the primitive directly (apply2, the
    # unrolled apply for two Tensors): nothing to promote, and a call fewer per op (the tiny-op
    # benchmark is three of these per step).
    # `is`: NumPy's builtin dtypes are singletons; an equal but distinct one takes ops.add.
    def __add__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor) and other._data.dtype is self._data.dtype:
            return _Add.apply2(self, other)
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __sub__(self, other: Any) -> Tensor:
        if (isinstance(other, Tensor) and other._data.dtype is self._data.dtype
                and self._data.dtype.kind != "b"):  # bool - bool raises torch's error in sub
            return _Sub.apply2(self, other)
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.rsub(self, other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __mul__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor) and other._data.dtype is self._data.dtype:
            return _Mul.apply2(self, other)
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(_ops.scalar_like(other, self), self)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __floordiv__(self, other: Any) -> Tensor:
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _ops.floor_divide(_ops.scalar_like(other, self), self)

    def __ifloordiv__(self, other: Any) -> Tensor:
        return self._inplace_op(_ops.floor_divide, other)

    def __mod__(self, other: Any) -> Tensor:
        return _ops.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _ops.remainder(_ops.scalar_like(other, self), self)

    def __imod__(self, other: Any) -> Tensor:
        return self._inplace_op(_ops.remainder, other)

    def __pow__(self, other: Any) -> Tensor:
        return _ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.pow(other, self)

    def __ipow__(self, other: Any) -> Tensor:
        return self.pow_(other)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __invert__(self) -> Tensor:
        return _ops.bitwise_not(self)

    def __and__(self, other: Any) -> Tensor:
        return _ops.bitwise_and(self, other)

    __rand__ = __and__

    def __or__(self, other: Any) -> Tensor:
        return _ops.bitwise_or(self, other)

    __ror__ = __or__

    def __xor__(self, other: Any) -> Tensor:
        return _ops.bitwise_xor(self, other)

    __rxor__ = __xor__

    def __iand__(self, other: Any) -> Tensor:
        return self._inplace_op(_ops.bitwise_and, other)

    def __ior__(self, other: Any) -> Tensor:
        return self._inplace_op(_ops.bitwise_or, other)

    def __ixor__(self, other: Any) -> Tensor:
        return self._inplace_op(_ops.bitwise_xor, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.ne(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _ops.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ops.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _ops.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ops.ge(self, other)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        if STATE.enabled and self._requires_grad and self.grad_fn is None:
            # torch writes through a view (x[i].copy_(v)), hence its wording
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")
        _ops.setitem(self, index, value)

    def _inplace_op(self, fn: Callable[..., Tensor], *args: Any, **kwargs: Any) -> Tensor:
        self._check_inplace()
        return self._inplace(fn(self, *args, **kwargs))

    def where(self, condition: Any, y: Any) -> Tensor:
        """Matches `torch.Tensor.where`: `torch.where(condition, self, y)` (self is not the
        condition, unlike the other methods that pass self first)."""
        return _ops.where(condition, self, y)

    # ---- creation helpers ----------------------------------------------------------------------
    def new_tensor(self, data: Any, dtype: Any = None, **kw: Any) -> Tensor:
        return _ops.tensor(data, dtype=dtype or self.dtype, **kw)

    def new_zeros(self, *size: Any, dtype: Any = None, **kw: Any) -> Tensor:
        return _ops.zeros(*size, dtype=dtype or self.dtype, **kw)

    def new_ones(self, *size: Any, dtype: Any = None, **kw: Any) -> Tensor:
        return _ops.ones(*size, dtype=dtype or self.dtype, **kw)

    def new_empty(self, *size: Any, dtype: Any = None, **kw: Any) -> Tensor:
        return _ops.empty(*size, dtype=dtype or self.dtype, **kw)

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None, **kw: Any) -> Tensor:
        return _ops.full(size, fill_value, dtype=dtype or self.dtype, **kw)


def _rebuild(arr: NDArray, requires_grad: bool) -> Tensor:
    return Tensor._make(arr, requires_grad)


def _wrap_dim(dim: int, ndim: int) -> int:
    """Normalise a possibly negative dim, with torch's IndexError when out of range."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but "
                         f"got {dim})")
    return dim % n


def _method(name: str, inplace: bool = False) -> Callable[..., Any]:
    """A Tensor method that calls `ember.ops.<name>(self, ...)` (in-place: `<name>` + '_')."""

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(_ops, name)(self, *args, **kwargs)

    def inplace_method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        self._check_inplace()
        return self._inplace(getattr(_ops, name)(self, *args, **kwargs))

    fn = inplace_method if inplace else method
    fn._calls_ops = not inplace  # type: ignore[attr-defined]  # see _bind_methods
    fn.__name__ = name + "_" if inplace else name
    fn.__qualname__ = "Tensor." + fn.__name__
    fn.__doc__ = f"Matches `torch.Tensor.{fn.__name__}`; see `ember.{name}`."
    return fn


# Methods that are plain calls into ember.ops with `self` first. Listed once here rather than
# written out as ~150 two-line methods; `ember.ops` holds each one's implementation and docs.
METHODS = """
add sub mul div true_divide floor_divide remainder fmod pow neg negative abs absolute sign exp
exp2 log log1p expm1 log2 log10 sqrt rsqrt sin cos tan asin acos atan sinh cosh tanh sigmoid relu
erf erfc erfinv atan2 floor ceil round trunc frac clamp clip clamp_min clamp_max maximum minimum
fmax fmin lerp square reciprocal isnan isinf isfinite isposinf isneginf nan_to_num logical_and
logical_or logical_not logical_xor bitwise_not bitwise_and bitwise_or bitwise_xor eq ne lt le gt
ge greater less greater_equal less_equal not_equal equal allclose isclose where masked_fill
hypot logaddexp xlogy addcmul addcdiv softmax log_softmax
sum mean nansum nanmean prod max min amax amin aminmax argmax argmin var std var_mean std_mean
logsumexp norm all any cumsum cumprod cummax cummin median mode count_nonzero diff
view view_as reshape reshape_as permute transpose swapaxes swapdims t squeeze unsqueeze flatten
unflatten expand expand_as repeat repeat_interleave tile split chunk tensor_split unbind narrow
flip fliplr flipud roll rot90 tril triu diag diagonal diag_embed broadcast_to movedim moveaxis
ravel unfold select hsplit vsplit dsplit
gather scatter scatter_add scatter_reduce index_select index_add index_copy index_fill
index_put masked_select masked_scatter nonzero argwhere take take_along_dim topk sort argsort
msort unique unique_consecutive kthvalue
matmul mm bmm dot vdot outer inner mv addmm baddbmm tensordot kron cross
arccos arcsin arctan arctan2 divide multiply subtract fix ger is_nonzero diagflat narrow_copy
select_scatter slice_scatter
""".split()

INPLACE = """
add sub mul div true_divide floor_divide remainder fmod pow neg negative abs sign exp log log1p
expm1 log2 sqrt rsqrt sin cos tan tanh sigmoid relu erf floor ceil round trunc clamp clip
clamp_min clamp_max lerp square reciprocal nan_to_num masked_fill logical_not logical_and
logical_or scatter scatter_add index_add index_copy index_fill index_put masked_scatter
addcmul addcdiv tril triu atan2 hypot fill zero copy
absolute acos asin atan arccos arcsin arctan arctan2 cosh sinh erfc erfinv exp2 frac log10 xlogy
bitwise_and bitwise_not bitwise_or bitwise_xor logical_xor cumsum cumprod eq ne lt le gt ge
greater greater_equal less less_equal not_equal scatter_reduce addmm baddbmm divide multiply
subtract fix
""".split()
# uniform_, normal_, bernoulli_, random_, exponential_, ... are attached by ember.random

for _name in METHODS:
    if _name not in Tensor.__dict__:
        setattr(Tensor, _name, _method(_name))
for _name in INPLACE:
    setattr(Tensor, _name + "_", _method(_name, inplace=True))


def _bind_methods() -> None:
    """Make each plain method the `ember.ops` function itself (it takes `self` first), once the
    ops are all imported (ember/__init__ calls this): a method call then costs one Python call,
    not two. Methods written out in the class are left alone."""
    for name in METHODS:
        current = Tensor.__dict__.get(name)
        fn = getattr(_ops, name, None)
        if getattr(current, "_calls_ops", False) and type(fn) is type(_bind_methods):
            setattr(Tensor, name, fn)


def _T(self: Tensor) -> Tensor:
    if self._data.ndim > 2:
        warnings.warn(
            "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
            "deprecated and it will throw an error in a future release. Consider `x.mT` to "
            "transpose batches of matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to "
            "reverse the dimensions of a tensor.",
            UserWarning,
            stacklevel=2,
        )
    return _ops.permute(self, tuple(range(self._data.ndim - 1, -1, -1)))


Tensor.T = property(_T)  # type: ignore[attr-defined]
Tensor.mT = property(lambda self: _ops.transpose(self, -2, -1))  # type: ignore[attr-defined]
Tensor.H = Tensor.T  # type: ignore[attr-defined]
Tensor.mH = Tensor.mT  # type: ignore[attr-defined]

from ember import ops as _ops  # noqa: E402  (ops import Tensor; methods resolve it at call time)
from ember.ops.elementwise import Add as _Add  # noqa: E402
from ember.ops.elementwise import Mul as _Mul  # noqa: E402
from ember.ops.elementwise import Sub as _Sub  # noqa: E402
import ember.autograd as _autograd  # noqa: E402  (imports this module; used at call time)
